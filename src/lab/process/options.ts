/**
 * Options of a lab (`rotate lab up`) checked and turned into cluster timings. Pure.
 */
import { RotateError } from '../../domain/errors.js';
import { DEFAULT_TIMINGS, type KubernetesCaStyle, type LabTimings } from '../core/model.js';
import { MAX_NODES } from './address-block.js';
import { WORKLOAD_SETS, type WorkloadSet } from '../kube/workloads.js';
import { SERVICE_ACCOUNT_KEY_KINDS, type ServiceAccountKeyKind } from '../setup/secrets.js';

export interface LabShape {
  controlPlanes: number;
  workers: number;
  kubernetesCaStyle: KubernetesCaStyle;
  vip: boolean;
}

/** As given on the command line (undefined = default). */
export interface LabUpInput {
  controlPlanes?: number | undefined;
  workers?: number | undefined;
  kubernetesCaStyle?: string | undefined;
  applyLatencyMs?: number | undefined;
  kubeletRestartMs?: number | undefined;
  staticPodDelayMs?: number | undefined;
  heartbeatMs?: number | undefined;
  nodeGraceS?: number | undefined;
  vip?: boolean | undefined;
  podsPerNode?: number | undefined;
  podCaReloadS?: number | undefined;
  workloads?: string | undefined;
  serviceAccountKey?: string | undefined;
}

export interface LabConfig extends LabShape {
  timings: LabTimings;
  /** Emulated in-cluster clients per node (kube/pods.ts). */
  podsPerNode: number;
  /** The workloads besides the per-node clients (kube/workloads.ts). */
  workloads: WorkloadSet;
  /** The type of the service-account key generated with the lab's secrets (setup/secrets.ts). */
  serviceAccountKey: ServiceAccountKeyKind;
}

export const DEFAULT_PODS_PER_NODE = 2;
/** `none` keeps a default lab as it was (the per-node clients only, as existing tests and benchmarks measure it). */
export const DEFAULT_WORKLOADS: WorkloadSet = 'none';

export const DEFAULT_CONTROL_PLANES = 3;
export const DEFAULT_WORKERS = 2;
export const DEFAULT_STYLE: KubernetesCaStyle = 'document';
/** What talosctl generates for the current contracts. */
export const DEFAULT_SERVICE_ACCOUNT_KEY: ServiceAccountKeyKind = 'rsa-4096';

/**
 * Load targets: heartbeats (one TLS request each) at most this many per second over the whole lab, and
 * background edge probes (a fresh handshake each) at most this many per second, so a 200-node lab idles
 * cheaply while a 5-node lab still notices a broken edge within seconds.
 */
export const MAX_HEARTBEATS_PER_S = 20;
export const MAX_PROBES_PER_S = 15;
const MIN_HEARTBEAT_MS = 200;

function usage(flag: string, message: string, hint: string): RotateError {
  return new RotateError('LAB_BAD_OPTION', `${flag} ${message}`, { hint });
}

export function checkInteger(
  flag: string,
  value: number | undefined,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw usage(
      flag,
      `must be a whole number from ${min}${max === Number.MAX_SAFE_INTEGER ? ' up' : ` to ${max}`} ` +
        `(got ${String(value)})`,
      `e.g. ${flag} ${min === 0 ? 0 : min}`,
    );
  }
  return value;
}

function checkNumber(flag: string, value: number | undefined, minExclusive: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= minExclusive) {
    throw usage(flag, `must be a number above ${minExclusive} (got ${String(value)})`, `e.g. ${flag} 40`);
  }
  return value;
}

/** Ready timeout when none is given: generous for big labs on a loaded machine. */
export function defaultReadyTimeoutMs(nodes: number): number {
  return 60_000 + nodes * 500;
}

/** Validate `rotate lab up` options and derive the timings. */
export function resolveLabConfig(input: LabUpInput): LabConfig {
  const controlPlanes = checkInteger('--control-planes', input.controlPlanes, 1, MAX_NODES) ?? DEFAULT_CONTROL_PLANES;
  const workers = checkInteger('--workers', input.workers, 0, MAX_NODES) ?? DEFAULT_WORKERS;
  if (controlPlanes + workers > MAX_NODES) {
    throw usage(
      '--control-planes + --workers',
      `is ${controlPlanes + workers}; a lab holds at most ${MAX_NODES} nodes (one /24)`,
      `use at most ${MAX_NODES} nodes in total`,
    );
  }
  const style = input.kubernetesCaStyle ?? DEFAULT_STYLE;
  if (style !== 'legacy' && style !== 'document') {
    throw usage(
      '--kubernetes-ca-style',
      `must be legacy or document (got ${JSON.stringify(style)})`,
      'legacy = v1.13 configs (.cluster.ca), document = v1.14 KubeAPIServerCAConfig',
    );
  }
  const applyLatencyMs = checkInteger('--apply-latency-ms', input.applyLatencyMs, 0);
  const kubeletRestartMs = checkInteger('--kubelet-restart-ms', input.kubeletRestartMs, 0);
  const staticPodDelayMs = checkInteger('--static-pod-delay-ms', input.staticPodDelayMs, 0);
  const nodeGraceS = checkNumber('--node-grace-s', input.nodeGraceS, 0);
  const heartbeatIntervalMs = checkInteger('--heartbeat-ms', input.heartbeatMs, MIN_HEARTBEAT_MS);
  const graceMs = nodeGraceS !== undefined ? Math.round(nodeGraceS * 1000) : DEFAULT_TIMINGS.nodeGraceMs;
  if (heartbeatIntervalMs !== undefined && heartbeatIntervalMs * 4 > graceMs) {
    // A healthy node must never turn NotReady: four heartbeats per grace period, as deriveTimings keeps.
    throw usage(
      '--heartbeat-ms',
      `must be at most a quarter of the grace period (${graceMs} ms); got ${heartbeatIntervalMs}`,
      `use --heartbeat-ms ${Math.floor(graceMs / 4)} or less, or a longer --node-grace-s`,
    );
  }
  const podsPerNode = checkInteger('--pods-per-node', input.podsPerNode, 0, 20) ?? DEFAULT_PODS_PER_NODE;
  const podCaReloadS = checkNumber('--pod-ca-reload-s', input.podCaReloadS, 0);
  const workloads = input.workloads ?? DEFAULT_WORKLOADS;
  if (!(WORKLOAD_SETS as readonly string[]).includes(workloads)) {
    throw usage(
      '--workloads',
      `must be ${WORKLOAD_SETS.join(' or ')} (got ${JSON.stringify(workloads)})`,
      'standard = Deployments, StatefulSets, a Job, a bare Pod and seeded CA copies besides the per-node ' +
        'clients; none = only the per-node clients',
    );
  }
  const serviceAccountKey = input.serviceAccountKey ?? DEFAULT_SERVICE_ACCOUNT_KEY;
  if (!(SERVICE_ACCOUNT_KEY_KINDS as readonly string[]).includes(serviceAccountKey)) {
    throw usage(
      '--service-account-key',
      `must be ${SERVICE_ACCOUNT_KEY_KINDS.join(' or ')} (got ${JSON.stringify(serviceAccountKey)})`,
      'rsa-4096 = what Talos generates since the 1.7 contract; ecdsa-p256 = a cluster first generated under 1.6 ' +
        'or older',
    );
  }
  const shape = { controlPlanes, workers, kubernetesCaStyle: style, vip: input.vip ?? false } as LabShape;
  return {
    ...shape,
    podsPerNode,
    workloads: workloads as WorkloadSet,
    serviceAccountKey: serviceAccountKey as ServiceAccountKeyKind,
    timings: deriveTimings(shape, {
      ...(podCaReloadS !== undefined ? { podCaReloadMs: Math.round(podCaReloadS * 1000) } : {}),
      ...(applyLatencyMs !== undefined ? { applyLatencyMs } : {}),
      ...(kubeletRestartMs !== undefined ? { kubeletRestartMs } : {}),
      ...(staticPodDelayMs !== undefined ? { staticPodDelayMs } : {}),
      ...(heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs } : {}),
      ...(nodeGraceS !== undefined ? { nodeGraceMs: Math.round(nodeGraceS * 1000) } : {}),
    }),
  };
}

/**
 * Timings for a lab of this shape: the defaults, overridden by `given`; heartbeat and probe periods grow
 * with the node count (see the load targets above) unless given, and the heartbeat stays well inside the
 * grace period (at most a quarter of it) so that a healthy node never turns NotReady.
 */
export function deriveTimings(
  shape: Pick<LabShape, 'controlPlanes' | 'workers'>,
  given: Partial<LabTimings> = {},
): LabTimings {
  const nodes = shape.controlPlanes + shape.workers;
  const nodeGraceMs = given.nodeGraceMs ?? DEFAULT_TIMINGS.nodeGraceMs;
  const loadHeartbeat = Math.max(DEFAULT_TIMINGS.heartbeatIntervalMs, Math.ceil((nodes * 1000) / MAX_HEARTBEATS_PER_S));
  const heartbeatIntervalMs =
    given.heartbeatIntervalMs ?? Math.max(MIN_HEARTBEAT_MS, Math.min(loadHeartbeat, Math.floor(nodeGraceMs / 4)));
  // Edges probed in the background: every control plane's apid dials every node; every worker dials trustd.
  const edges = shape.controlPlanes * nodes + shape.workers;
  const probeIntervalMs =
    given.probeIntervalMs ?? Math.max(DEFAULT_TIMINGS.probeIntervalMs, Math.ceil((edges * 1000) / MAX_PROBES_PER_S));
  // In-cluster clients call like heartbeats (a handshake each): about one per node per heartbeat period.
  const podCallIntervalMs =
    given.podCallIntervalMs ?? Math.max(DEFAULT_TIMINGS.podCallIntervalMs, heartbeatIntervalMs * 2);
  return {
    ...DEFAULT_TIMINGS,
    ...given,
    nodeGraceMs,
    heartbeatIntervalMs,
    probeIntervalMs,
    podCallIntervalMs,
  };
}

// ---------------------------------------------------------------------------------------------------
// rotate lab fault

export interface LabFaultInput {
  node?: string | undefined;
  down?: boolean | undefined;
  up?: boolean | undefined;
  delayMs?: number | undefined;
  failApply?: number | undefined;
  dropApplyReply?: number | undefined;
  kubeletRestartMs?: number | undefined;
  holdApplyLockMs?: number | undefined;
  remove?: boolean | undefined;
}

export interface FaultChange {
  node: string;
  down?: boolean;
  delayMs?: number;
  failApply?: number;
  dropApplyReply?: number;
  kubeletRestartMs?: number;
  holdApplyLockMs?: number;
  remove?: boolean;
}

const FAULT_FLAGS =
  '--down, --up, --delay-ms N, --fail-apply N, --drop-apply-reply N, --kubelet-restart-ms N, ' +
  '--hold-apply-lock-ms N or --remove';

/** Validate `rotate lab fault` flags into the control API's fault request. */
export function resolveFaultChange(input: LabFaultInput): FaultChange {
  const node = input.node?.trim();
  if (!node)
    throw usage('--node', 'is required', 'pass the node address, e.g. --node 127.12.34.10 (see `rotate lab inspect`)');
  if (input.down && input.up) throw usage('--down and --up', 'cannot be combined', 'pass one of them');
  const change: FaultChange = { node };
  if (input.down) change.down = true;
  if (input.up) change.down = false;
  const delayMs = checkInteger('--delay-ms', input.delayMs, 0);
  const failApply = checkInteger('--fail-apply', input.failApply, 0);
  const dropApplyReply = checkInteger('--drop-apply-reply', input.dropApplyReply, 0);
  const kubeletRestartMs = checkInteger('--kubelet-restart-ms', input.kubeletRestartMs, 0);
  if (delayMs !== undefined) change.delayMs = delayMs;
  if (failApply !== undefined) change.failApply = failApply;
  if (dropApplyReply !== undefined) change.dropApplyReply = dropApplyReply;
  if (kubeletRestartMs !== undefined) change.kubeletRestartMs = kubeletRestartMs;
  const holdApplyLockMs = checkInteger('--hold-apply-lock-ms', input.holdApplyLockMs, 0);
  if (holdApplyLockMs !== undefined) change.holdApplyLockMs = holdApplyLockMs;
  if (input.remove && input.up) throw usage('--remove and --up', 'cannot be combined', 'a removed node stays off');
  if (input.remove) change.remove = true;
  if (Object.keys(change).length === 1)
    throw usage(
      'rotate lab fault',
      `needs a fault to set: ${FAULT_FLAGS}`,
      `e.g. rotate lab fault --dir DIR --node ${node} --down`,
    );
  return change;
}
