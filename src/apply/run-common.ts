/**
 * Pieces shared by `rotate apply` and `rotate rollback`: approval, plan display, the key escrow as the
 * only source of keys during a run, the summary, and graceful Ctrl-C.
 */
import { promises as fs } from 'node:fs';
import { RotateError } from '../domain/errors.js';
import type { ApiKind, Fingerprint } from '../domain/types.js';
import type { OutputKind, Plan } from '../plan/model/index.js';
import { planTextWidth, renderPlanText } from '../plan/render/human.js';
import { summarizeCertificateValue } from '../pki/index.js';
import { podDisruptionNotice } from '../plan/planner/index.js';
import { workloadSummary, workloadSummaryNotes } from '../workloads/summary.js';
import type { BuildPlanOptions, BuiltPlan, PlanTarget } from '../cluster/session/build-plan.js';
import type { ClusterOverrides } from '../cluster/session/cluster-overrides.js';
import type { TalosConnect } from '../talos/talos-api.js';
import type { IssuingKeyLookup } from '../cluster/session/config-chain.js';
import type { Session } from '../cluster/session/open-session.js';
import {
  openLockedState,
  statePaths,
  type LockedState,
  type LockInfo,
  type Run,
  type RunCluster,
} from '../state/index.js';
import { makeEvent, type EventSink } from '../events/index.js';
import { escrowCertificatePath, loadEscrowedKey } from './keys/index.js';
import { removeIfOnlyIgnore } from '../state/state-dir.js';
import { currentWho } from '../util/process-identity.js';
import { TOOL_VERSION } from '../version.js';
import { fetchKubeconfig } from './engine.js';
import { RunLease } from './run-lease-holder.js';
import { NO_LEASE_FLAG, RUN_LEASE_NAME, RUN_LEASE_NAMESPACE } from './run-lease.js';

/** The options `rotate apply` and `rotate rollback` share. */
export interface RunOptions extends BuildPlanOptions {
  file: string;
  autoApprove: boolean;
  json: boolean;
  state?: string;
  lockTimeoutMs: number;
  /** Take the cluster's run lease (default true; false is `--no-run-lease`). */
  runLease?: boolean;
  /** `--take-over-expired-lease`. */
  takeOverExpiredLease?: boolean;
  /**
   * `--talosconfig`, `--context`, `--endpoints`: win over the desired state's (apply) or the run's recorded (rollback)
   * cluster section.
   */
  cluster?: ClusterOverrides;
  /**
   * `--workloads restart|report`, for every namespace: overrides the desired state's (apply) or the run's recorded
   * (rollback) `workloads` section.
   */
  workloads?: 'restart' | 'report';
  /** Opens the Talos clients of the run (the CLI: `connectTalos`). */
  connect: TalosConnect;
}

export interface RunDisplayOptions {
  autoApprove: boolean;
  json: boolean;
}

export function lockHolder(info: LockInfo): {
  id: string;
  who: string;
  operation: string;
  created: string;
  pid: number;
} {
  return { id: info.id, who: info.who, operation: info.operation, created: info.created, pid: info.pid };
}

/** The desired CA state a plan was made for, from its authorities (used to resume towards it). */
export function targetFromPlan(plan: Plan): PlanTarget {
  const target: PlanTarget = {};
  for (const api of ['talos', 'kubernetes'] as const) {
    const issuing = plan.authorities.find((a) => a.api === api && a.disposition === 'issuing');
    if (!issuing) continue;
    const names: Record<Fingerprint, string> = {};
    for (const a of plan.authorities) if (a.api === api && a.name) names[a.fingerprint] = a.name;
    target[api] = {
      issuing: issuing.fingerprint,
      accepted: plan.authorities.filter((a) => a.api === api && a.disposition === 'accepted').map((a) => a.fingerprint),
      names,
    };
  }
  return target;
}

/** Nodes a run recorded `started` but not `done`: their change may be in flight (or landed without a reply). */
export function startedNodes(run: Run): string[] {
  return [...new Set(run.steps.flatMap((s) => s.nodes.filter((n) => n.status === 'started').map((n) => n.address)))];
}

/** Plans in the state keep their proofs but not the (large, regenerable) per-node diffs. */
export function stripDiffs(plan: Plan): Plan {
  return { ...plan, steps: plan.steps.map((s) => ({ ...s, nodes: s.nodes.map((n) => ({ ...n, configDiff: null })) })) };
}

export function showPlan(sink: EventSink, opts: RunDisplayOptions, built: BuiltPlan): void {
  for (const w of built.warnings) sink.emit(makeEvent('warning', { warningCode: w.code, text: w.text, hint: w.hint }));
  if (!opts.json)
    process.stdout.write(
      renderPlanText(built.plan, {
        describeCertificate: summarizeCertificateValue,
        applyCommand: null,
        width: planTextWidth(process.stdout),
      }),
    );
}

/** No terminal to ask on: each command names its own way to say yes (a rollback takes no saved plan). */
export function needsApprovalError(operation: 'apply' | 'rollback'): RotateError {
  return new RotateError(
    'APPLY_NEEDS_APPROVAL',
    `rotate ${operation} needs approval and there is no terminal to ask on`,
    {
      hint:
        operation === 'apply'
          ? 'review the plan, then pass --auto-approve, or save it with `rotate plan --out FILE` and run ' +
            '`rotate apply FILE`'
          : 'review the rollback plan (on a terminal `rotate rollback` shows it and asks), ' +
            'then run `rotate rollback --auto-approve`',
    },
  );
}

export async function approve(
  sink: EventSink,
  opts: RunDisplayOptions,
  question: Parameters<EventSink['ask']>[0],
): Promise<boolean> {
  if (opts.autoApprove) return sink.ask(question);
  if (!process.stdin.isTTY || opts.json)
    throw needsApprovalError(question.type === 'confirm-rollback' ? 'rollback' : 'apply');
  const yes = await sink.ask(question);
  if (!yes) {
    sink.emit(
      makeEvent('warning', { warningCode: 'APPLY_DECLINED', text: 'Not applied: nothing was changed.', hint: null }),
    );
    // As Terraform: a declined run is not a success for a script that chained on it.
    process.exitCode = 1;
  }
  return yes;
}

/**
 * Keys come from the escrow only: the run never depends on a file the run itself may rewrite. Each key is
 * checked against the certificate escrowed beside it.
 */
export function escrowLookup(stateDir: string): IssuingKeyLookup {
  return async (api: ApiKind, fingerprint: Fingerprint) => {
    const certPem = await fs.readFile(escrowCertificatePath(stateDir, api, fingerprint), 'utf8').catch(() => null);
    if (certPem === null) {
      throw new RotateError(
        'KEYS_ESCROW_MISSING',
        `the key of the ${api} CA ${fingerprint.slice(0, 16)} is not in the key escrow of ${stateDir}`,
        {
          hint:
            'keys are escrowed before a run touches a node; restore the state folder (with its keys/) ' +
            'from a backup',
        },
      );
    }
    return loadEscrowedKey(stateDir, api, fingerprint, certPem);
  };
}

export async function escrowedCertificates(
  keys: { api: ApiKind; certificateFile?: string }[],
): Promise<{ api: ApiKind; certPem: string }[]> {
  const out: { api: ApiKind; certPem: string }[] = [];
  for (const k of keys) {
    if (!k.certificateFile) continue;
    const certPem = await fs.readFile(k.certificateFile, 'utf8').catch(() => null);
    if (certPem) out.push({ api: k.api, certPem });
  }
  return out;
}

/**
 * The files a run leaves behind, each once with the backup of what it first replaced (a rollback's last
 * write is the restored original), plus what the operator still has to do.
 */
export function runSummary(
  run: Run | undefined,
  plan: Plan,
): { outputs: { kind: OutputKind; path: string; backupPath: string | null }[]; notes: string[] } {
  const rollback = run?.operation === 'rollback';
  const byPath = new Map<string, { kind: OutputKind; path: string; backupPath: string | null }>();
  for (const o of run?.outputs ?? [])
    if (rollback || !byPath.has(o.path)) byPath.set(o.path, { kind: o.kind, path: o.path, backupPath: o.backupPath });
  const notes: string[] = [];
  if (rollback) {
    notes.push(
      'the cluster trusts what it did before the rolled-back run; the files above are the ones that run had replaced',
    );
    const pods = podDisruptionNotice(plan.steps, 'rollback');
    if (pods) notes.push(pods);
    if (run?.workloads) notes.push(...workloadSummaryNotes(workloadSummary(run.workloads, 'rollback'), 20, 'rollback'));
    return { outputs: [...byPath.values()], notes };
  }
  // The announcement the plan's proofs made, word for word (the plan's notices carry the same sentence).
  const pods = podDisruptionNotice(plan.steps);
  if (pods) notes.push(pods);
  if (run?.workloads) notes.push(...workloadSummaryNotes(workloadSummary(run.workloads)));
  const ext = plan.extensionAuth;
  if (ext?.mode === 'report') {
    notes.push(
      `${ext.namespace}/${ext.name} was not written (report only): ` +
        `its client-ca-file still holds ${ext.removes.length} Kubernetes CA(s) ` +
        `no apiserver trusts any more (${ext.removes.map((fp) => fp.slice(0, 16)).join(', ')}), ` +
        'trusted by extension API servers until they expire; replace it with the CAs the apiservers trust, ' +
        `or set workloads.extensionApiserverAuthentication: replace and run \`rotate apply\``,
    );
  }
  if (plan.steps.some((s) => s.apis.includes('talos') && s.phase.talos === 'drop')) {
    notes.push(
      'talosconfigs signed by the dropped Talos CA no longer work: hand out new ones (talosctl config new) ' +
        'to other users and pipelines',
    );
  }
  return { outputs: [...byPath.values()], notes };
}

export interface StopSignals {
  signal: AbortSignal;
  reason(): string | null;
  dispose(): void;
}

/**
 * Ctrl-C (or SIGTERM) stops starting new node operations; the ones in flight finish and are recorded, then
 * the run ends as interrupted. A second Ctrl-C exits at once: the state is consistent at every instant.
 */
export function interruptOnSignals(sink: EventSink): StopSignals {
  const controller = new AbortController();
  let reason: string | null = null;
  const handler = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) process.exit(130);
    reason = sig;
    sink.emit(
      makeEvent('warning', {
        warningCode: 'APPLY_STOPPING',
        text: `${sig}: finishing the node operations in flight, then stopping (press Ctrl-C again to exit at once)`,
        hint: null,
      }),
    );
    controller.abort();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    signal: controller.signal,
    reason: () => reason,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

export async function dirExists(dir: string): Promise<boolean> {
  return fs.stat(dir).then(
    (st) => st.isDirectory(),
    () => false,
  );
}

/**
 * rmdir only succeeds on an empty folder, so this never removes anything a run wrote; the `.gitignore`
 * the state folder was created with goes with it.
 */
export async function removeIfEmpty(dir: string): Promise<void> {
  await removeIfOnlyIgnore(dir);
}

/**
 * Take the state lock for a run, reporting each wait as an event. `existedBefore` says whether the state
 * folder was there already (a run that ends without recording anything removes the folder it created).
 */
export async function lockRunState(
  sink: EventSink,
  opts: { statePath: string; desiredFile: string | null; operation: 'apply' | 'rollback'; lockTimeoutMs: number },
): Promise<{ locked: LockedState; existedBefore: boolean }> {
  const existedBefore = await dirExists(statePaths(opts.statePath).dir);
  const locked = await openLockedState({
    ...opts,
    onLockWait: (w) =>
      sink.emit(
        makeEvent('lock-wait', {
          statePath: opts.statePath,
          holder: lockHolder(w.holder.info),
          retryInMs: w.delayMs,
          waitedMs: w.waitedMs,
        }),
      ),
    onStaleLockBroken: (stale) =>
      sink.emit(
        makeEvent('lock-broken', {
          statePath: opts.statePath,
          holder: lockHolder(stale.info),
          reason: stale.liveness.reason,
        }),
      ),
  });
  return { locked, existedBefore };
}

/** The APIs any of these plans changes. */
export function changedApis(plans: readonly Plan[]): Set<ApiKind> {
  return new Set(plans.flatMap((p) => p.steps.flatMap((s) => s.apis)));
}

/** The cluster a run works on, as the desired-state file says now (kept with the run for a rollback). */
export function runClusterOf(session: Session): RunCluster {
  const c = session.desired.cluster;
  return {
    desiredFile: session.desired.file,
    talosconfig: c.talosconfig,
    context: session.context.name,
    endpoints: session.endpoints,
    controlPlanes: c.controlPlanes.map(String),
    workers: c.workers.map(String),
    ...(c.kubeconfig ? { kubeconfig: c.kubeconfig } : {}),
    ...(c.kubernetesEndpoint ? { kubernetesEndpoint: c.kubernetesEndpoint } : {}),
    ...(c.secretsBundle ? { secretsBundle: c.secretsBundle } : {}),
    ...(session.desired.workloads ? { workloads: session.desired.workloads } : {}),
  };
}

export interface RunLeaseOptions {
  /** false: `--no-run-lease` (only when the Kubernetes API cannot come up). */
  runLease: boolean;
  takeOverExpiredLease: boolean;
}

/**
 * Take the cluster's run lease before anything is planned or touched (apply and rollback), through an
 * admin kubeconfig fetched from a control plane's Talos API (the file on disk may be stale, and a desired
 * state need not name one). Null with `--no-run-lease`, after a loud warning.
 */
export async function takeRunLease(
  sink: EventSink,
  session: Session,
  opts: RunLeaseOptions,
  run: {
    runId: string;
    operation: 'apply' | 'rollback';
    statePath: string;
    desiredFile: string | null;
    reclaimable: string[];
  },
): Promise<RunLease | null> {
  if (!opts.runLease) {
    sink.emit(
      makeEvent('warning', {
        warningCode: 'RUN_LEASE_SKIPPED',
        text:
          `${NO_LEASE_FLAG}: this run does not take the cluster's run ` +
          `lease ${RUN_LEASE_NAMESPACE}/${RUN_LEASE_NAME}; nothing stops another rotation from changing this ` +
          'cluster at the same time',
        hint: 'use it only while the Kubernetes API is down, and make sure no other rotation runs',
      }),
    );
    return null;
  }
  const controlPlanes = session.desired.cluster.controlPlanes.map(String);
  const override = session.desired.cluster.kubernetesEndpoint;
  return RunLease.acquire({
    me: {
      runId: run.runId,
      who: currentWho(),
      operation: run.operation,
      statePath: run.statePath,
      desiredFile: run.desiredFile,
      pid: process.pid,
      toolVersion: TOOL_VERSION,
    },
    reclaimable: run.reclaimable,
    takeOverExpired: opts.takeOverExpiredLease,
    kubeconfig: async () => ({
      ...(await fetchKubeconfig(session.client, controlPlanes)),
      ...(override ? { serverOverride: override } : {}),
    }),
    reporter: {
      taken: (d) =>
        sink.emit(
          makeEvent('run-lease-taken', {
            runId: run.runId,
            namespace: RUN_LEASE_NAMESPACE,
            name: RUN_LEASE_NAME,
            server: d.server,
            how: d.how,
            previousHolder: d.previous,
            leaseDurationSeconds: d.durationS,
            renewIntervalMs: d.renewIntervalMs,
          }),
        ),
      renewFailed: (err, since, deadline) =>
        sink.emit(
          makeEvent('run-lease-renew-failed', {
            runId: run.runId,
            error: { code: err.code, message: err.message, ...(err.hint ? { hint: err.hint } : {}) },
            sinceRenewMs: Math.round(since),
            renewDeadlineMs: deadline,
          }),
        ),
      released: (ok, problem) =>
        sink.emit(makeEvent('run-lease-released', { runId: run.runId, released: ok, problem })),
    },
  });
}

/** Ctrl-C or a lost run lease: either stops the engine from starting anything new. */
export function stopSignal(stop: StopSignals, lease: RunLease | null): AbortSignal {
  return lease ? AbortSignal.any([stop.signal, lease.lost]) : stop.signal;
}
