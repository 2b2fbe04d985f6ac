/**
 * The state document `rotate apply` and `rotate rollback` keep next to the desired-state file: which plan
 * is being applied, how far each step and node got (with timestamps), the trust the cluster had before the
 * run, the outputs written and the keys escrowed. Plain JSON; `docs/state-format.md` documents it. Types
 * only, so that pure code may import them. Fingerprints and paths, never keys.
 */
import type { ApiKind, Fingerprint, KubernetesCaStyle, NodeRole } from '../domain/types.js';
import type { OutputKind, Plan } from '../plan/model/plan.js';
import type { WorkloadPolicy } from '../desired/types.js';

/** Bump on any incompatible change of the document; readers refuse any other value. */
export const STATE_VERSION = 1 as const;

export type RunOperation = 'apply' | 'rollback';
export const RUN_OPERATIONS: readonly RunOperation[] = ['apply', 'rollback'];

/**
 * `running` while a process works on it (found as `running` by a later process: that process crashed);
 * `interrupted` (stopped on a signal), `failed` (stopped on an error), `complete`, `rolled-back` (an apply
 * run whose changes a later rollback run undid).
 */
export type RunStatus = 'running' | 'interrupted' | 'failed' | 'complete' | 'rolled-back';
export const RUN_STATUSES: readonly RunStatus[] = ['running', 'interrupted', 'failed', 'complete', 'rolled-back'];

export type StepStatus = 'pending' | 'started' | 'done' | 'failed' | 'skipped';
export const STEP_STATUSES: readonly StepStatus[] = ['pending', 'started', 'done', 'failed', 'skipped'];

/** `started` is recorded before the config is sent, `done` after it was verified on the node. */
export type NodeStatus = 'pending' | 'started' | 'done' | 'skipped' | 'failed';
export const NODE_STATUSES: readonly NodeStatus[] = ['pending', 'started', 'done', 'skipped', 'failed'];

/** `not-required`: the plan step has no gate. */
export type GateStatus = 'pending' | 'checking' | 'passed' | 'failed' | 'not-required';
export const GATE_STATUSES: readonly GateStatus[] = ['pending', 'checking', 'passed', 'failed', 'not-required'];

export type KeyRole = 'new-issuing' | 'previous-issuing' | 'client';
export const KEY_ROLES: readonly KeyRole[] = ['new-issuing', 'previous-issuing', 'client'];

export const OUTPUT_KINDS: readonly OutputKind[] = ['talosconfig', 'kubeconfig', 'secretsBundle'];

/** One PKI as a node's machine config states it (see ApiState of the plan input). */
export interface ApiFingerprints {
  issuing: Fingerprint | null;
  accepted: Fingerprint[];
}

/** What was observed on a node just before it was patched, or just after it was verified. */
export interface NodeFingerprints {
  talos?: ApiFingerprints;
  kubernetes?: ApiFingerprints;
  /** Digest of the node's active machine config at that moment, when known. */
  configDigest?: string;
}

/** The trust a node had when the run started: the target of a rollback. */
export interface NodeBefore {
  address: string;
  nodeId: string;
  role: NodeRole;
  talos: ApiFingerprints;
  kubernetes: ApiFingerprints & { style: KubernetesCaStyle };
  configDigest: string;
}

/** An error as recorded: the RotateError's code, message and hint (never key material). */
export interface ErrorRecord {
  code: string;
  message: string;
  hint?: string;
}

export interface NodeRecord {
  address: string;
  status: NodeStatus;
  /** How many times `started` was recorded (a resumed run re-sends or re-verifies). */
  attempts: number;
  startedAt: string | null;
  finishedAt: string | null;
  before: NodeFingerprints | null;
  after: NodeFingerprints | null;
  /** Why the node was skipped (`skipped` only). */
  skipReason?: string;
  /** The last failure (`failed`, or an earlier attempt of a node that is now `done`). */
  error?: ErrorRecord;
}

/** The checks a step's gate may have: Talos API on every node, Kubernetes Nodes Ready. */
export type GateCheck = 'talos' | 'kubernetes';
export const GATE_CHECKS: readonly GateCheck[] = ['talos', 'kubernetes'];

export interface GateCheckRecord {
  status: Exclude<GateStatus, 'not-required'>;
  attempts: number;
  lastError: ErrorRecord | null;
}

/**
 * The step's gate as a whole (`passed` once every check passed, `failed` once one failed) and per check
 * (the checks the plan step has). Attempts and lastError of the whole gate are over all checks.
 */
export interface GateRecord {
  status: GateStatus;
  attempts: number;
  lastError: ErrorRecord | null;
  startedAt: string | null;
  finishedAt: string | null;
  checks: Partial<Record<GateCheck, GateCheckRecord>>;
}

export interface StepRecord {
  /** The plan step's id. */
  id: string;
  /** The plan step's 1-based index. */
  index: number;
  status: StepStatus;
  startedAt: string | null;
  finishedAt: string | null;
  gate: GateRecord;
  /** In the plan step's node order. */
  nodes: NodeRecord[];
  skipReason?: string;
  error?: ErrorRecord;
}

export interface OutputRecord {
  kind: OutputKind;
  /** Absolute path written. */
  path: string;
  /** Where the file it replaced was kept, or null when there was none. */
  backupPath: string | null;
  writtenAt: string;
  /** The step after (or before) which it was written; null outside steps. */
  step: string | null;
}

/** A private key escrowed in `<state dir>/keys/`: where it is, never what it is. */
export interface KeyRecord {
  api: ApiKind;
  /** Fingerprint of the CA (or client) certificate the key belongs to. */
  fingerprint: Fingerprint;
  role: KeyRole;
  /** Absolute path of the 0600 key file. */
  file: string;
  /** Absolute path of the certificate written beside it, when there is one. */
  certificateFile?: string;
  recordedAt: string;
}

/** A progress event kept with its run (the most recent EVENTS_CAP of them), for `rotate state show`. */
export interface EventRecord {
  time: string;
  code: string;
  type: string;
  level: string;
  message: string;
  data?: unknown;
}

/** Events kept per run; older ones are dropped first. */
export const EVENTS_CAP = 200;

export interface RunResume {
  at: string;
  /** The status the run had when it was resumed (`running` means its process had crashed). */
  from: RunStatus;
  toolVersion: string;
  /**
   * A resume re-reads the cluster and re-plans from where each node really is; the plan and step records
   * it replaced are kept here, so the run's history stays complete.
   */
  replanned?: { plan: Plan; steps: StepRecord[] };
}

/**
 * Where the run's cluster is, as the desired-state file said when the run started: a rollback uses this,
 * not the desired-state file, which may have changed or no longer validate (e.g. its bundle keys were
 * rewritten by the run itself).
 */
export interface RunCluster {
  desiredFile: string;
  talosconfig: string;
  context: string;
  endpoints: string[];
  controlPlanes: string[];
  workers: string[];
  kubeconfig?: string;
  kubernetesEndpoint?: string;
  secretsBundle?: string;
  /**
   * The desired state's `workloads` section: what the run's rollback does with workloads by default. `evict`
   * is missing from records made before evictions existed (read as none).
   */
  workloads?: Omit<WorkloadPolicy, 'evict'> & { evict?: WorkloadPolicy['evict'] };
}

export type WorkloadRecordStatus = 'started' | 'restarted' | 'evicted' | 'blocked' | 'reported' | 'ignored' | 'failed';
export const WORKLOAD_RECORD_STATUSES: readonly WorkloadRecordStatus[] = [
  'started',
  'restarted',
  'evicted',
  'blocked',
  'reported',
  'ignored',
  'failed',
];

/**
 * One workload of the workload phase (a run whose plan changes the control planes' issuing Kubernetes
 * CA). `started` is recorded with the `restartedAt` value before the patch is sent, so a resumed run
 * that finds the template carrying it waits for that rollout instead of restarting again; `restarted`
 * workloads are never restarted again by the same run. Added after state version 1 shipped: optional,
 * so older state files load unchanged.
 */
export interface WorkloadRecord {
  namespace: string;
  kind: string;
  name: string;
  status: WorkloadRecordStatus;
  restartedAt?: string;
  /**
   * Evictions (Job / other-controller / bare pods): only pods started before this time are evicted,
   * recorded before the first eviction, so a resume never evicts a replacement pod.
   */
  evictBefore?: string;
  /** Pods already evicted (or found gone), recorded after each eviction. */
  evicted?: string[];
  /** Why it was not restarted (report, ignore, OnDelete, …) or why it failed. */
  reason?: string;
  updatedAt: string;
}

export interface Run {
  /** Random UUID. */
  id: string;
  operation: RunOperation;
  status: RunStatus;
  startedAt: string;
  finishedAt: string | null;
  /** `user@host` and pid of the process that started it. */
  who: string;
  pid: number;
  toolVersion: string;
  resumes: RunResume[];
  /** The plan being applied, as JSON (docs/plan-format.md). */
  plan: Plan;
  /** Per node, the trust the cluster had before the run: a rollback's target. */
  before: NodeBefore[];
  cluster?: RunCluster;
  /** For a rollback run: the apply run it undoes. */
  rollbackOf?: string;
  /** One per plan step, in plan order. */
  steps: StepRecord[];
  outputs: OutputRecord[];
  keys: KeyRecord[];
  /** Why the run failed or was interrupted. */
  error?: ErrorRecord;
  events?: EventRecord[];
  /** The workload phase's progress, one record per workload (absent: no workload phase ran). */
  workloads?: WorkloadRecord[];
}

export interface StateDocument {
  stateVersion: typeof STATE_VERSION;
  /** Random UUID given when the file is created; never changes. */
  lineage: string;
  /** Bumped on every write that changes the document. */
  serial: number;
  /** talos-rotate version of the last write. */
  toolVersion: string;
  /** Absolute path of the desired-state file this state belongs to, when known. */
  desiredFile: string | null;
  createdAt: string;
  updatedAt: string;
  /** Oldest first. */
  runs: Run[];
}

/** Where a state file's siblings are. */
export interface StatePaths {
  /** The state file (absolute). */
  state: string;
  /** Its folder (`state/` next to the desired-state file by default). */
  dir: string;
  /** The previous good version: `<state>.backup`. */
  backup: string;
  /** The lock file: `<state>.lock`. */
  lock: string;
  /** Escrowed keys: `<dir>/keys/`. */
  keysDir: string;
}
