/**
 * `rotate plan` end to end, minus printing: observe the live cluster, hand the pure planner its input,
 * then have every node check each config the plan would give it (server-side dry run) and attach the
 * per-node diffs with every secret shown as `(sensitive)`.
 */
import { createTwoFilesPatch } from 'diff';
import { RotateError } from '../../domain/errors.js';
import type { ApiKind, Fingerprint } from '../../domain/types.js';
import { fingerprintOfPem } from '../../pki/index.js';
import type { DesiredApi as DesiredAuthorities, DesiredState } from '../../desired/types.js';
import { loadAuthorityKey } from '../../desired/index.js';
import { listKubeNodes, preloadKubeClient, type KubeNodeStatus } from '../kube/nodes.js';
import type { ClusterMember } from '../../talos/resources.js';
import {
  observationError,
  observeNodes,
  type ListedNode,
  type LiveNode,
  type ObservationProblem,
} from '../observe-cluster.js';
import type { DesiredApi, ObservedNode, Plan, PlanInput, StepNode } from '../../plan/model/index.js';
import { planRotation } from '../../plan/planner/index.js';
import type { MaxUnavailable } from '../../domain/max-unavailable.js';
import { resolveParallelism } from '../../domain/parallelism.js';
import { DEFAULT_APPLY_LOCK_WAIT_MS, waitForApplyLock } from '../../talos/apply-lock.js';
import { mapSettledLimit } from '../../util/concurrency.js';
import { CaCatalog } from './ca-catalog.js';
import { chainConfigs, type ChainedConfig, type IssuingKeyLookup } from './config-chain.js';
import type { Session } from './open-session.js';
import { kubernetesOperatorClient, talosOperatorClient } from './operator-clients.js';
import { readWorkloadInventory } from '../kube/workloads.js';
import { bundleCertificates, CLIENT_CA_KEY, readExtensionAuth } from '../kube/extension-auth.js';
import {
  kubernetesServerChange,
  unavailableWorkloadsReport,
  workloadsReport,
  type KubernetesServerChange,
  type WorkloadInventory,
} from '../../workloads/find.js';
import type { WorkloadsReport } from '../../plan/model/index.js';
import { decide } from '../../workloads/rollout.js';
import { workloadPhaseEntry } from '../../workloads/phase.js';
import { type PlanWarning } from './plan-warnings.js';

export {
  diagnosticWarning,
  noSecretsBundleWarning,
  relevantDesiredWarnings,
  splitDesiredWarnings,
  type PlanWarning,
} from './plan-warnings.js';

export interface BuildPlanOptions {
  /** Unset: the default for the listed nodes (`resolveParallelism`). */
  parallelism?: number | undefined;
  maxUnavailable: MaxUnavailable;
  allowDisruption: boolean;
  /** Ask every node to validate each config the plan gives it (ApplyConfiguration dry_run). */
  nodeDryRun: boolean;
  timeoutMs?: number;
  /** How long an ApplyConfiguration waits while another apply holds the node's lock (default 60 s). */
  applyLockWaitMs?: number;
  /**
   * Workers whose Talos CA change may still be in flight (recorded `started` by an unfinished run): their
   * apid may not have re-registered yet, so what it shows is not taken as their registration.
   */
  unsettled?: readonly string[];
  /**
   * List the workloads and Secrets/ConfigMaps that will hold the old Kubernetes API CA (`plan.workloads`)
   * when the plan changes the control planes' issuing Kubernetes CA.
   */
  findWorkloads?: boolean;
  /**
   * `--workloads` of apply / rollback: the mode the plan's `workloadPhase` entry names (over the workloads section).
   */
  workloads?: 'restart' | 'report';
  /**
   * A rollback's workload phase: pods started before this loaded the CA it returns to
   * (`workloadPhase.podsStartedAfter`).
   */
  workloadsStartedAfter?: string;
  /**
   * Derive each step's config (and its diff) from the live configs: default true. `rotate apply PLAN` turns
   * it off: the saved plan already holds the steps, its freshness check needs only the observed nodes, and
   * the engine derives each node's config from its live one as it goes (no node dry runs either).
   */
  chainConfigs?: boolean;
  /** Told where planning is: each phase that goes node by node starts at 0 and counts to its total. */
  progress?: (p: PlanProgress) => void;
}

/** How far `buildPlan` is in a phase that goes node by node. */
export interface PlanProgress {
  phase: 'reading nodes' | 'node dry runs';
  done: number;
  total: number;
}

export interface PlanTarget {
  talos?: DesiredApi;
  kubernetes?: DesiredApi;
}

export interface BuiltPlan {
  plan: Plan;
  nodes: LiveNode[];
  /** The planner's view of the nodes (what a run records as the trust before it). */
  observed: ObservedNode[];
  catalog: CaCatalog;
  chained: ChainedConfig[];
  kubeNodes: KubeNodeStatus[] | null;
  /** The cluster members discovery lists (empty when the cluster gave none). */
  members: ClusterMember[];
  warnings: PlanWarning[];
}

export function listedNodes(desired: DesiredState): ListedNode[] {
  return [
    ...desired.cluster.controlPlanes.map((address) => ({ address: String(address), role: 'controlplane' as const })),
    ...desired.cluster.workers.map((address) => ({ address: String(address), role: 'worker' as const })),
  ];
}

/** The desired state's CA choice in the planner's terms (fingerprints + display names). */
export function targetOf(desired: DesiredState): PlanTarget {
  const convert = (d: DesiredAuthorities | undefined): DesiredApi | undefined => {
    if (!d) return undefined;
    const names: Record<Fingerprint, string> = {};
    for (const a of Object.values(desired.authorities)) names[a.certificate.fingerprint] = a.name;
    return {
      issuing: d.issuing.certificate.fingerprint,
      accepted: d.accepted.map((a) => a.certificate.fingerprint),
      names,
    };
  };
  return { talos: convert(desired.talos), kubernetes: convert(desired.kubernetes) };
}

/** Keys of the desired issuing authorities, loaded on demand (never stored in the plan). */
export function desiredKeyLookup(desired: DesiredState): IssuingKeyLookup {
  return async (api, fingerprint) => {
    const authority = desired[api]?.issuing;
    if (!authority || authority.certificate.fingerprint !== fingerprint) {
      throw new RotateError(
        'PLAN_NO_KEY',
        `no key is known for the ${api} CA ${fingerprint.slice(0, 16)} that the plan makes issuing`,
        {
          hint: `make it the issuing authority of ${api} in ${desired.file}, with a key source`,
        },
      );
    }
    if (!authority.keySource) {
      throw new RotateError(
        'PLAN_NO_KEY',
        `the plan makes ${authority.name} the issuing ${api} CA on nodes that do not issue from it yet, ` +
          `which needs its private key, and authorities.${authority.name} in ${desired.file} has no key`,
        {
          hint:
            `add \`key: { file: PATH }\` (or { env } / { secretsBundle, entry }) ` +
            `to authorities.${authority.name}; a CA the whole cluster already issues from needs none`,
        },
      );
    }
    return loadAuthorityKey(authority);
  };
}

export async function buildPlan(
  session: Session,
  options: BuildPlanOptions,
  target: PlanTarget = targetOf(session.desired),
  keyFor: IssuingKeyLookup = desiredKeyLookup(session.desired),
  /** CA certificates known besides the desired state and the configs (e.g. escrowed by an earlier run). */
  extraCas: { api: ApiKind; certPem: string }[] = [],
): Promise<BuiltPlan> {
  const { desired, client } = session;
  const warnings: PlanWarning[] = [];
  const timeoutMs = options.timeoutMs ?? 15_000;
  const listed = listedNodes(desired);
  const parallelism = resolveParallelism(options.parallelism, listed.length);
  const count = counter(options.progress, 'reading nodes', listed.length);
  // The Node list below needs the Kubernetes client: load it while the nodes' reads are in flight.
  preloadKubeClient();
  const { nodes, members } = await observeNodes(client, listed, {
    parallelism,
    timeoutMs,
    talosconfigLabel: `talosconfig ${desired.cluster.talosconfig} (context ${session.context.name})`,
    onNodeRead: count,
  });

  const catalog = new CaCatalog();
  catalog.addDesired(desired);
  for (const n of nodes) catalog.addConfig(n.ca);
  for (const n of nodes) for (const ca of n.apid?.bundle ?? []) catalog.add('talos', ca.fingerprint, ca.certPem);
  for (const ca of extraCas) catalog.add(ca.api, fingerprintOfPem(ca.certPem), ca.certPem);

  const kubeNodes = await observeKubernetes(session, nodes, Boolean(target.kubernetes), timeoutMs, warnings);

  const observed: ObservedNode[] = nodes.map((n) => {
    const kube = kubeNodes?.find((k) => matchesKubeNode(k, n));
    return {
      address: n.address,
      nodeId: n.nodeId,
      hostname: n.hostname,
      role: n.ca.role,
      talosVersion: n.talosVersion,
      configDigest: n.configDigest,
      talos: {
        issuing: n.ca.talos.issuing?.fingerprint ?? null,
        accepted: n.ca.talos.accepted.map((c) => c.fingerprint),
      },
      kubernetes: {
        style: n.ca.kubernetes.style,
        issuing: n.ca.kubernetes.issuing?.fingerprint ?? null,
        accepted: n.ca.kubernetes.accepted.map((c) => c.fingerprint),
      },
      ready: kube ? kube.ready : null,
      talosGrant: options.unsettled?.includes(n.address) ? null : talosGrantOf(n, catalog),
      ...unterminatedOf(n.ca),
    };
  });

  const talosOperator = talosOperatorClient(session.context, catalog);
  if (!talosOperator) {
    warnings.push({
      code: 'PLAN_TALOSCONFIG_CA_UNKNOWN',
      text:
        `the client certificate of talosconfig context ${session.context.name} is not signed by any CA the ` +
        'cluster knows',
      hint: 'check that the talosconfig is the one of this cluster',
    });
  }
  const input: PlanInput = {
    nodes: observed,
    endpoints: session.endpoints,
    desired: target,
    operator: { talos: talosOperator, kubernetes: await kubernetesOperatorClient(desired.cluster.kubeconfig, catalog) },
    options: {
      allowDisruption: options.allowDisruption,
      maxUnavailable: options.maxUnavailable,
      parallelism,
    },
    outputs: { kubeconfig: Boolean(desired.cluster.kubeconfig), secretsBundle: Boolean(desired.cluster.secretsBundle) },
  };
  if (target.kubernetes) {
    const clientCa = kubeNodes ? await observeExtensionAuth(session, nodes, timeoutMs, warnings) : undefined;
    input.extensionAuth = {
      mode: session.desired.workloads?.extensionApiserverAuthentication ?? 'replace',
      ...(clientCa ? { clientCa } : {}),
    };
  }
  const plan = planRotation(input);
  const phase = workloadPhaseEntry(plan, session.desired.workloads, options.workloads, options.workloadsStartedAfter);
  if (phase) plan.workloadPhase = phase;
  if (options.findWorkloads) {
    const change = kubernetesServerChange(plan);
    if (change) {
      plan.workloads = await observeWorkloads(session, nodes, change, timeoutMs, warnings);
      for (const d of decide(plan.workloads.workloads, session.desired.workloads, undefined)) {
        d.workload.action = d.action;
        if (d.reportReason) d.workload.reason = d.reportReason;
      }
    }
  }

  let chained: ChainedConfig[] = [];
  if (plan.changes && options.chainConfigs !== false) {
    chained = await chainConfigs(plan, new Map(nodes.map((n) => [n.address, n.configText])), catalog, keyFor);
    attachDiffs(plan, chained);
    if (options.nodeDryRun) {
      const total = new Set(chained.map((c) => c.address)).size;
      const onNodeDone = counter(options.progress, 'node dry runs', total);
      await dryRunAll(session, chained, {
        parallelism,
        timeoutMs,
        applyLockWaitMs: options.applyLockWaitMs ?? DEFAULT_APPLY_LOCK_WAIT_MS,
        onNodeDone,
      });
    }
  }
  return { plan, nodes, observed, catalog, chained, kubeNodes, members, warnings };
}

/** CA fields whose PEM text lacks its final newline (absent when none). */
function unterminatedOf(ca: LiveNode['ca']): Pick<ObservedNode, 'unterminatedPem'> {
  const talos = ca.talos.unterminated ?? [];
  const kubernetes = ca.kubernetes.unterminated ?? [];
  if (talos.length === 0 && kubernetes.length === 0) return {};
  return {
    unterminatedPem: { ...(talos.length > 0 ? { talos } : {}), ...(kubernetes.length > 0 ? { kubernetes } : {}) },
  };
}

/** A worker's observed trustd registration in the planner's terms; null when its signer is not a known CA. */
function talosGrantOf(n: LiveNode, catalog: CaCatalog): ObservedNode['talosGrant'] {
  if (!n.apid?.serverCertPem) return null;
  const signer = catalog.signerOf(n.apid.serverCertPem, 'talos');
  return signer ? { signer, bundle: n.apid.bundle.map((c) => c.fingerprint) } : null;
}

function matchesKubeNode(k: KubeNodeStatus, n: LiveNode): boolean {
  return k.addresses.includes(n.address) || (n.hostname !== '' && k.name === n.hostname);
}

/**
 * The Kubernetes Node list, read with a fresh admin kubeconfig from the first control plane (the one on
 * disk may already be stale). Every Node must be one of the listed machines.
 */
async function observeKubernetes(
  session: Session,
  nodes: LiveNode[],
  required: boolean,
  timeoutMs: number,
  warnings: PlanWarning[],
): Promise<KubeNodeStatus[] | null> {
  const cp = nodes.find((n) => n.ca.role === 'controlplane');
  if (!cp) return null;
  let kubeNodes: KubeNodeStatus[];
  try {
    const text = await session.client.kubeconfig(cp.address, { timeoutMs });
    kubeNodes = await listKubeNodes(
      {
        text,
        origin: `the admin kubeconfig from node ${cp.address}`,
        ...(session.desired.cluster.kubernetesEndpoint
          ? { serverOverride: session.desired.cluster.kubernetesEndpoint }
          : {}),
      },
      { timeoutMs },
    );
  } catch (err) {
    if (required) throw err;
    warnings.push({
      code: 'PLAN_KUBERNETES_NODES_UNLISTED',
      text:
        `Kubernetes Nodes could not be listed (${RotateError.is(err) ? err.message : String(err)}); ` +
        'node readiness is unknown',
      hint: null,
    });
    return null;
  }
  const problems: ObservationProblem[] = [];
  for (const k of kubeNodes) {
    if (nodes.some((n) => matchesKubeNode(k, n))) continue;
    problems.push({
      node: k.addresses[0] ?? k.name,
      message:
        `Kubernetes Node ${k.name} (${k.addresses.join(', ') || 'no address'}) ` +
        'is not one of the machines listed in the desired state; a node missed by a rotation loses trust at the ' +
        'end',
      hint: 'add its address to cluster.controlPlanes or cluster.workers',
    });
  }
  if (problems.length > 0) throw observationError(problems);
  return kubeNodes;
}

/**
 * The CAs `client-ca-file` of the extension-apiserver-authentication ConfigMap holds, read with a fresh
 * admin kubeconfig from the first control plane (absent ConfigMap: none). A failed read is a warning: the
 * plan then removes only the CAs it drops.
 */
async function observeExtensionAuth(
  session: Session,
  nodes: LiveNode[],
  timeoutMs: number,
  warnings: PlanWarning[],
): Promise<Fingerprint[] | undefined> {
  const cp = nodes.find((n) => n.ca.role === 'controlplane');
  if (!cp) return undefined;
  try {
    const text = await session.client.kubeconfig(cp.address, { timeoutMs });
    const cm = await readExtensionAuth(
      {
        text,
        origin: `the admin kubeconfig from node ${cp.address}`,
        ...(session.desired.cluster.kubernetesEndpoint
          ? { serverOverride: session.desired.cluster.kubernetesEndpoint }
          : {}),
      },
      timeoutMs,
    );
    return bundleCertificates(cm?.data[CLIENT_CA_KEY]).map((c) => c.fingerprint);
  } catch (err) {
    warnings.push({
      code: 'PLAN_EXTENSION_AUTH_UNREAD',
      text:
        'kube-system/extension-apiserver-authentication could not be read ' +
        `(${RotateError.is(err) ? err.message : String(err)}); CAs an earlier rotation left in it are not planned ` +
        'for removal',
      hint: 'plan again once the Kubernetes API answers',
    });
    return undefined;
  }
}

/**
 * The workloads that will hold the old Kubernetes API CA, read with a fresh admin kubeconfig from the first
 * control plane. The plan does not depend on them, so a Kubernetes API that cannot be read is a warning
 * naming the failure and a section saying `unavailable`, not a failed plan.
 */
async function observeWorkloads(
  session: Session,
  nodes: LiveNode[],
  change: KubernetesServerChange,
  timeoutMs: number,
  warnings: PlanWarning[],
): Promise<WorkloadsReport> {
  const cp = nodes.find((n) => n.ca.role === 'controlplane');
  return workloadsOrWarning(change, warnings, async () => {
    if (!cp)
      throw new RotateError('KUBE_UNREACHABLE', 'no control plane to fetch an admin kubeconfig from', {
        hint: 'list a control plane in cluster.controlPlanes',
      });
    const text = await session.client.kubeconfig(cp.address, { timeoutMs });
    return readWorkloadInventory(
      {
        text,
        origin: `the admin kubeconfig from node ${cp.address}`,
        ...(session.desired.cluster.kubernetesEndpoint
          ? { serverOverride: session.desired.cluster.kubernetesEndpoint }
          : {}),
      },
      { timeoutMs },
    );
  });
}

/**
 * The plan's workloads section from `read`, or, when it fails, a warning naming the failure and an `unavailable`
 * section.
 */
export async function workloadsOrWarning(
  change: KubernetesServerChange,
  warnings: PlanWarning[],
  read: () => Promise<WorkloadInventory>,
): Promise<WorkloadsReport> {
  try {
    return workloadsReport(change, await read());
  } catch (err) {
    const reason = RotateError.is(err) ? err.message : String(err);
    warnings.push({
      code: 'PLAN_WORKLOADS_UNLISTED',
      text:
        `the workloads that will hold the old Kubernetes API CA could not be listed (${reason}); ` +
        'the plan lists none',
      hint: 'check pods and Secrets/ConfigMaps by hand, or plan again once the Kubernetes API answers',
    });
    return unavailableWorkloadsReport(change, reason);
  }
}

function attachDiffs(plan: Plan, chained: ChainedConfig[]): void {
  // The first step of each id, as a search would find it.
  const nodes = new Map<string, StepNode>();
  for (const s of plan.steps) {
    if (plan.steps.find((other) => other.id === s.id) !== s) continue;
    for (const n of s.nodes) if (!nodes.has(`${s.id}\u0000${n.address}`)) nodes.set(`${s.id}\u0000${n.address}`, n);
  }
  for (const c of chained) {
    const node = nodes.get(`${c.stepId}\u0000${c.address}`);
    if (!node) continue;
    node.configDiff = createTwoFilesPatch(
      `${c.address} (before step ${c.stepIndex})`,
      `${c.address} (after step ${c.stepIndex})`,
      c.redacted.before,
      c.redacted.after,
      undefined,
      undefined,
      { context: 3 },
    );
  }
}

/**
 * ApplyConfiguration with dry_run for every config the plan produces; a refusal names node and step. A node
 * runs one ApplyConfiguration at a time, dry runs included (talos-behaviour.md §5.8), so each node's configs are
 * checked one after the other, and nodes in parallel. A node whose apply lock is held by someone else is waited for;
 * when it stays held, its remaining configs are not sent.
 */
/** Reports the phase's start at once; the function returned counts one node done per call. */
function counter(progress: BuildPlanOptions['progress'], phase: PlanProgress['phase'], total: number): () => void {
  let done = 0;
  progress?.({ phase, done, total });
  return () => progress?.({ phase, done: ++done, total });
}

async function dryRunAll(
  session: Session,
  chained: ChainedConfig[],
  opts: { parallelism: number; timeoutMs: number; applyLockWaitMs: number; onNodeDone: () => void },
): Promise<void> {
  const byNode = new Map<string, ChainedConfig[]>();
  for (const c of chained) byNode.set(c.address, [...(byNode.get(c.address) ?? []), c]);
  const problems: ObservationProblem[] = [];
  const lockProblems: { node: string; error: RotateError }[] = [];
  await mapSettledLimit([...byNode.values()], opts.parallelism, async (configs) => {
    try {
      await dryRunNode(configs);
    } finally {
      opts.onNodeDone();
    }
  });
  async function dryRunNode(configs: ChainedConfig[]): Promise<void> {
    for (const c of configs) {
      try {
        await waitForApplyLock(
          () =>
            session.client.applyConfiguration(
              c.address,
              c.after,
              { mode: 'NO_REBOOT', dryRun: true },
              { timeoutMs: opts.timeoutMs },
            ),
          { node: c.address, waitMs: opts.applyLockWaitMs },
        );
      } catch (err) {
        if (RotateError.is(err) && err.code === 'TALOS_APPLY_LOCK_HELD') {
          lockProblems.push({ node: c.address, error: err });
          return;
        }
        const reason = RotateError.is(err) ? err.message : String(err);
        problems.push({
          node: c.address,
          message: `node ${c.address} refused the config of step ${c.stepIndex} (${c.stepId}) in a dry run: ${reason}`,
          hint: 'the node validates every config before it is applied; fix what it reports (nothing was changed)',
        });
      }
    }
  }
  if (problems.length > 0) {
    for (const l of lockProblems) problems.push({ node: l.node, message: l.error.message, hint: l.error.hint ?? '' });
    const err = observationError(problems);
    throw new RotateError(
      'PLAN_DRY_RUN_REFUSED',
      err.message.replace('the cluster cannot be planned', 'nodes refused the planned configs'),
      { hint: err.hint ?? '' },
    );
  }
  if (lockProblems.length === 1) throw lockProblems[0]!.error;
  if (lockProblems.length > 1) {
    throw new RotateError(
      'TALOS_APPLY_LOCK_HELD',
      `another apply holds the apply lock of ${lockProblems.length} ` +
        `nodes:\n${lockProblems.map((l) => `  - ${l.error.message}`).join('\n')}`,
      {
        hint: lockProblems[0]!.error.hint ?? '',
        source: 'cluster',
      },
    );
  }
}
