/**
 * One node's patch within a step, idempotent and confirmed: re-read the node's live config, skip it when it
 * already carries the step's target, otherwise apply (NO_REBOOT) the live config with only the CA fields
 * changed, re-read to confirm, and wait for what the change sets in motion on the node — the kubelet
 * restart (Kubernetes CA), on a control plane its kube-apiserver and kube-controller-manager re-created from
 * the new config (static-pods.ts; so the next control plane is touched only after that), and a worker's new
 * apid certificate and trust bundle from trustd (Talos CA).
 */
import { RotateError } from '../domain/errors.js';
import { patchCaState, readCaState } from '../machineconfig/index.js';
import type { StepNode } from '../plan/model/index.js';
import type { CaCatalog } from '../cluster/session/ca-catalog.js';
import { caChangeFor, type IssuingKeyLookup } from '../cluster/session/config-chain.js';
import { DEFAULT_APPLY_LOCK_WAIT_MS, waitForApplyLock } from '../talos/apply-lock.js';
import type { TalosApi } from '../talos/talos-api.js';
import type { KubeconfigSource } from '../cluster/kube/nodes.js';
import { waitKubeletHealthy, waitKubeletRestarted, type KubeletSnapshot } from './kubelet-restart.js';
import { readSecretsVersion, waitStaticPodsCurrent } from './static-pods.js';
import { fingerprintsOf, reachedTarget, type NodeFingerprints } from './node-state.js';
import { BUDGETS, retryTransient } from './retry.js';
import { waitWorkerRegistered, type ControlPlaneTalosTrust, type SharedReads } from './worker-registration.js';

export interface PatchContext {
  client: TalosApi;
  catalog: CaCatalog;
  keyFor: IssuingKeyLookup;
  /** Control planes as they are now, for the worker re-registration check. */
  controlPlanes: string[];
  signal?: AbortSignal;
  /** Called right before the config is sent (the state file records "started" here). */
  onSend?: (before: NodeFingerprints) => Promise<void>;
  onRetry?: (what: string, err: unknown) => void;
  /** How long to wait while another apply holds the node's apply lock (default 60 s). */
  applyLockWaitMs?: number;
  onKubeletRestart?: (phase: 'waiting' | 'restarted') => void;
  /** An admin kubeconfig (fetched afresh) to read the control planes' mirror pods with. */
  kubeconfig?: () => Promise<KubeconfigSource>;
  onStaticPods?: (observed: 'waiting' | 'current', secretsVersion: string | null) => void;
  /** Control-plane reads shared by the workers of a wave waiting for their trustd registration. */
  controlPlaneReads?: SharedReads<ControlPlaneTalosTrust>;
}

export interface PatchResult {
  outcome: 'patched' | 'already';
  before: NodeFingerprints;
  after: NodeFingerprints;
}

const APPLY_TIMEOUT_MS = 30_000;

async function readLive(ctx: PatchContext, address: string): Promise<{ config: string; fps: NodeFingerprints }> {
  const mc = await retryTransient(
    () => ctx.client.getMachineConfig(address, { timeoutMs: 15_000, signal: ctx.signal }),
    {
      deadline: Date.now() + BUDGETS.patchMs,
      signal: ctx.signal,
      onRetry: (err) => ctx.onRetry?.(`reading the config of ${address}`, err),
    },
  );
  return { config: mc.yaml, fps: fingerprintsOf(readCaState(mc.yaml, `machine config of node ${address}`)) };
}

/** The node's static pods must be seen running from its new config: a control plane whose Kubernetes CA changes. */
function staticPodsChange(ctx: PatchContext, node: StepNode): { expectedCaPem: string } | null {
  const issuing = node.target.kubernetes?.issuing;
  if (node.role !== 'controlplane' || !node.kubeletRestart || !issuing || !ctx.kubeconfig) return null;
  return { expectedCaPem: ctx.catalog.requirePem(issuing, `Kubernetes CA of node ${node.address}`) };
}

async function waitStaticPods(
  ctx: PatchContext,
  node: StepNode,
  expectedCaPem: string,
  versionBefore: string | null,
): Promise<void> {
  let announced = false;
  const version = await waitStaticPodsCurrent(
    {
      client: ctx.client,
      address: node.address,
      hostname: node.hostname,
      expectedCaPem,
      versionBefore,
      kubeconfig: ctx.kubeconfig!,
    },
    {
      deadline: Date.now() + BUDGETS.staticPodsMs,
      ...(ctx.signal ? { signal: ctx.signal } : {}),
      onWaiting: (v) => {
        announced = true;
        ctx.onStaticPods?.('waiting', v);
      },
    },
  );
  if (!announced) ctx.onStaticPods?.('waiting', version);
  ctx.onStaticPods?.('current', version);
}

export async function patchNode(ctx: PatchContext, node: StepNode): Promise<PatchResult> {
  // The kubelet's state before the change is read while the live config is: both are reads before the
  // send, and on a loaded cluster each costs a round trip (a wave of 19 workers paid them one after the other).
  const stopEarlyReads = new AbortController();
  const kubeletHealthy = node.kubeletRestart
    ? waitKubeletHealthy(ctx.client, node.address, {
        deadline: Date.now() + BUDGETS.kubeletRestartMs,
        signal: ctx.signal ? AbortSignal.any([ctx.signal, stopEarlyReads.signal]) : stopEarlyReads.signal,
      })
    : null;
  // Awaited on every path that goes on; when the patch fails before that, it is stopped and must not go unhandled.
  kubeletHealthy?.catch(() => undefined);
  try {
    return await patchWith(ctx, node, kubeletHealthy);
  } finally {
    stopEarlyReads.abort();
  }
}

async function patchWith(
  ctx: PatchContext,
  node: StepNode,
  kubeletHealthy: Promise<KubeletSnapshot> | null,
): Promise<PatchResult> {
  const { address } = node;
  const live = await readLive(ctx, address);
  const pods = staticPodsChange(ctx, node);
  if (reachedTarget(live.fps, node.target)) {
    // Already there (a resumed run, or a reply that was lost after the node applied it). What the change
    // sets in motion may still be under way: make sure it finished.
    if (kubeletHealthy) await kubeletHealthy;
    if (pods) await waitStaticPods(ctx, node, pods.expectedCaPem, null);
    if (node.role === 'worker' && node.target.talos)
      await waitWorkerRegistered(ctx.client, address, ctx.controlPlanes, {
        deadline: Date.now() + BUDGETS.workerRegistrationMs,
        signal: ctx.signal,
        ...(ctx.controlPlaneReads ? { controlPlaneReads: ctx.controlPlaneReads } : {}),
      });
    return { outcome: 'already', before: live.fps, after: live.fps };
  }

  const source = `machine config of node ${address}`;
  const patched = patchCaState(
    live.config,
    await caChangeFor(live.config, node.target, ctx.catalog, ctx.keyFor, source),
    source,
  );
  const kubeletBefore = kubeletHealthy ? await kubeletHealthy : null;

  // The static pods' secrets version before the change: the new one must differ (a read right after the
  // apply may still show the old one).
  const versionBefore = pods
    ? await retryTransient(() => readSecretsVersion(ctx.client, address), {
        deadline: Date.now() + BUDGETS.patchMs,
        signal: ctx.signal,
        onRetry: (err) => ctx.onRetry?.(`reading the static pods' secrets version of ${address}`, err),
      })
    : null;

  await ctx.onSend?.(live.fps);
  const deadline = Date.now() + BUDGETS.patchMs;
  await retryTransient(
    async () => {
      try {
        // Another operator or controller may be applying a config to this node: its apply lock frees up
        // by itself, so wait for it (bounded); any other FailedPrecondition fails at once.
        await waitForApplyLock(
          () =>
            ctx.client.applyConfiguration(
              address,
              patched,
              { mode: 'NO_REBOOT' },
              { timeoutMs: APPLY_TIMEOUT_MS, signal: ctx.signal },
            ),
          {
            node: address,
            waitMs: ctx.applyLockWaitMs ?? DEFAULT_APPLY_LOCK_WAIT_MS,
            ...(ctx.signal ? { signal: ctx.signal } : {}),
            onWait: (err) => ctx.onRetry?.(`applying the config of ${address} (its apply lock is held)`, err),
          },
        );
      } catch (err) {
        // The reply may be lost after the node applied the config: look before sending it again.
        const now = await readLive(ctx, address).catch(() => null);
        if (now && reachedTarget(now.fps, node.target)) return;
        throw err;
      }
    },
    { deadline, signal: ctx.signal, onRetry: (err) => ctx.onRetry?.(`applying the config of ${address}`, err) },
  );

  const after = await readLive(ctx, address);
  if (!reachedTarget(after.fps, node.target)) {
    throw new RotateError(
      'APPLY_NOT_CONFIRMED',
      `node ${address} accepted the config but its active config does not carry the planned CAs`,
      {
        hint:
          "another tool may be changing this node's config at the same time; stop it, " +
          'then run `rotate apply` again to resume',
      },
    );
  }
  if (kubeletBefore) {
    ctx.onKubeletRestart?.('waiting');
    await waitKubeletRestarted(ctx.client, address, kubeletBefore, {
      deadline: Date.now() + BUDGETS.kubeletRestartMs,
      signal: ctx.signal,
    });
    ctx.onKubeletRestart?.('restarted');
  }
  if (pods) await waitStaticPods(ctx, node, pods.expectedCaPem, versionBefore);
  if (node.role === 'worker' && node.target.talos) {
    await waitWorkerRegistered(ctx.client, address, ctx.controlPlanes, {
      deadline: Date.now() + BUDGETS.workerRegistrationMs,
      signal: ctx.signal,
      ...(ctx.controlPlaneReads ? { controlPlaneReads: ctx.controlPlaneReads } : {}),
    });
  }
  return { outcome: 'patched', before: live.fps, after: after.fps };
}
