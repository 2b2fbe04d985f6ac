/**
 * The plan: an ordered transition graph from the observed CA state to the desired one, with a safety
 * proof per step. Plain JSON (fingerprints, never keys); `docs/plan-format.md` documents it. Bump
 * `PLAN_FORMAT_VERSION` on any incompatible change.
 */
import type { MaxUnavailable } from '../../domain/max-unavailable.js';
import type { ApiKind, Fingerprint, NodeRole } from '../../domain/types.js';
import type { ApiState, ObservedNode } from './input.js';
import type { WorkloadPhaseEntry, WorkloadsReport } from './workloads.js';

export const PLAN_FORMAT_VERSION = 1 as const;

/** The three phases of a CA rotation (talos-behaviour.md §2.2, §2.3), per API. */
export type Phase = 'accept' | 'issue' | 'drop';
export const PHASES: readonly Phase[] = ['accept', 'issue', 'drop'];

/**
 * The trust edges the model evaluates; the same names as the lab's ledger keys. `pod-apiserver`: in-cluster
 * clients, which trust only the `kube-root-ca.crt` ConfigMap (the issuing Kubernetes CA alone), calling
 * the apiservers; always an announced disruption (`degraded`, `possible`), never counted as breaking.
 */
export type EdgeKind =
  'operator-apid' | 'apid-proxy' | 'worker-trustd' | 'kubelet-apiserver' | 'client-apiserver' | 'pod-apiserver';
export const EDGE_KINDS: readonly EdgeKind[] = [
  'operator-apid',
  'apid-proxy',
  'worker-trustd',
  'kubelet-apiserver',
  'client-apiserver',
  'pod-apiserver',
];

export type EdgeStatus = 'ok' | 'degraded' | 'broken';
export type Verdict = 'safe' | 'safe-with-announced-disruption' | 'unsafe';

/**
 * The Talos clients a plan uses: the operator's talosconfig as found (`current`), a new admin client cert
 * signed by the new issuing CA that trusts old + new server CAs (`intermediate`, used across the swap), and
 * the same cert trusting only the new CA (`new`).
 */
export type TalosClientKind = 'current' | 'intermediate' | 'new';
export type OutputKind = 'talosconfig' | 'kubeconfig' | 'secretsBundle';

/** How a step's waves are ordered by role. */
export type WaveOrder = 'controlplanes-first' | 'workers-first' | 'controlplanes-only' | 'workers-only';

export interface NodeApiStates {
  talos?: ApiState;
  kubernetes?: ApiState;
}

export interface StepNode {
  address: string;
  hostname: string;
  role: NodeRole;
  /** 1-based index into the step's waves. */
  wave: number;
  /** The node's CA state before this step, for the APIs the step changes. */
  current: NodeApiStates;
  /** The CA state this step applies (one apply carries every API listed). */
  target: NodeApiStates;
  kubeletRestart: boolean;
  /** Per-node machine-config diff, filled in by apply's preview; null in a pure plan. */
  configDiff: string | null;
}

/** A group of nodes patched concurrently (at most `maxConcurrent` at once); waves run one after another. */
export interface Wave {
  index: number;
  role: NodeRole;
  nodes: string[];
  maxConcurrent: number;
  /** Why `maxConcurrent` is what it is (always set by this planner; absent in plans made before it). */
  bound?: WaveBound;
}

/**
 * What bounds a wave's batch size: `parallelism` (nothing restarts: Talos-only changes), `max-unavailable`
 * (workers whose kubelet restarts), `controlplane-restart` (control planes whose kube-apiserver and
 * kube-controller-manager restart: one at a time).
 */
export type WaveBoundBy = 'parallelism' | 'max-unavailable' | 'controlplane-restart';

export interface WaveBound {
  by: WaveBoundBy;
  /** The batch size the options asked for: `--parallelism`, or `--max-unavailable` resolved to nodes. */
  requested: number;
  /** The batch size the wave was planned (and proved) with: equals `maxConcurrent`. */
  applied: number;
  /** In words, e.g. why it is smaller than requested. */
  reason: string;
}

export interface ProofEdge {
  kind: EdgeKind;
  /** Class of nodes (or `operator`, or a client) that opens the connection. */
  from: string;
  to: string;
  fromNodes: string[];
  toNodes: string[];
  status: EdgeStatus;
  /** When it fails, in words. */
  window: string;
  reason: string;
  /** 1-based waves of the step during which it can fail (empty: only at the gate, or ok). */
  waves: number[];
  /** Still failing once the step is complete. */
  persists: boolean;
  /** `possible`: fails only for some of the histories the model cannot tell apart. */
  certainty: 'certain' | 'possible';
  /** Already failing before the step started: reported, not counted in the step's verdict. */
  preExisting: boolean;
}

export interface StepProof {
  verdict: Verdict;
  /** Every non-ok edge, plus one `ok` row per edge kind checked without failure. */
  edges: ProofEdge[];
  /** Intermediate states evaluated (classes of nodes × patched or not). */
  statesChecked: number;
  /** Node classes the step was reasoned over. */
  classes: number;
}

export interface OrderAlternative {
  order: WaveOrder;
  verdict: Verdict;
  score: number;
  /** The first edge that would fail with this order (possibly in a later step of the same API), or null. */
  problem: string | null;
  /** With this order more workers would end up still trusting a dropped Talos CA (see staleBundles). */
  stale: boolean;
}

export interface OrderChoice {
  chosen: WaveOrder;
  reason: string;
  alternatives: OrderAlternative[];
}

export interface Step {
  /** Stable id, e.g. `talos-accept`, `kubernetes-drop`, `talos-kubernetes-issue`. */
  id: string;
  /** 1-based position; steps run in this order. */
  index: number;
  title: string;
  apis: ApiKind[];
  phase: Partial<Record<ApiKind, Phase>>;
  /**
   * Steps that must be complete first: the previous phase of each API, and the last earlier step touching a common
   * node.
   */
  dependsOn: string[];
  /** In wave order. */
  nodes: StepNode[];
  waves: Wave[];
  maxConcurrent: number;
  kubeletRestarts: string[];
  /** The Talos client apply uses to patch and watch during this step. */
  talosClient: TalosClientKind;
  gate: {
    talos?: { client: TalosClientKind; nodes: 'all'; endpoints: string[] };
    kubernetes?: { nodesReady: 'all'; kubeletRestartsObserved: string[] };
  };
  /** Written before the first patch (a talosconfig holding `talosconfigBefore`). */
  outputsBefore: OutputKind[];
  /** Written after the gate passed. */
  outputsAfter: OutputKind[];
  talosconfigBefore?: TalosClientKind;
  talosconfigAfter?: TalosClientKind;
  order: Partial<Record<ApiKind, OrderChoice>>;
  proof: StepProof;
}

export interface Refusal {
  code: string;
  reason: string;
  step?: string;
  edge?: ProofEdge;
}

export interface ClientDescription {
  signer: Fingerprint | null;
  trusts: Fingerprint[];
  /** Minted by apply from the new issuing CA (false: the operator's own file). */
  minted: boolean;
}

export interface AuthorityRef {
  api: ApiKind;
  fingerprint: Fingerprint;
  name: string | null;
  /** Where it ends up: the desired issuing CA, a desired accepted CA, or dropped by the plan. */
  disposition: 'issuing' | 'accepted' | 'dropped';
}

export interface PlanSummary {
  verdict: Verdict;
  steps: number;
  nodesChanged: number;
  kubeletRestarts: number;
  phases: Partial<Record<ApiKind, Phase[]>>;
  announcedDisruptions: number;
  brokenEdges: number;
  /** One line for humans. */
  text: string;
}

/** A CA field whose PEM text lacks its final newline (talos-behaviour.md §5.1), and the step whose patch repairs it. */
export interface PemRepair {
  address: string;
  api: ApiKind;
  /** Field paths, e.g. `.machine.acceptedCAs[0]`. */
  fields: string[];
  /** Index of the first step patching that API on the node (it rewrites the fields); null: left as is. */
  step: number | null;
}

/**
 * The `extension-apiserver-authentication` ConfigMap (kube-system) step (talos-behaviour.md §4.5). Every kube-apiserver
 * writes into it the union of what it holds and its own client and request-header CAs, removing only expired
 * certificates, so a dropped Kubernetes API CA stays trusted by extension API servers until it expires. Once
 * the plan has removed it from every control plane (after `afterStep`, whose patches wait until each
 * control plane's kube-apiserver runs the new config, and its gates), apply replaces `client-ca-file` with
 * exactly `clientCa`, keeping every other key, with optimistic concurrency; it never deletes the ConfigMap.
 * Then its gate re-reads it after `gate.settleMs` (the apiservers re-sync on every change of it, and every
 * minute) and fails if any apiserver wrote a removed CA back.
 */
export interface ExtensionAuthStep {
  id: 'kubernetes-extension-auth';
  namespace: 'kube-system';
  name: 'extension-apiserver-authentication';
  /** The step after which it runs; null: after the last step of this plan (a resumed run whose drop was done). */
  afterStep: string | null;
  /** `replace`: apply writes it; `report`: the plan only lists it. */
  mode: 'replace' | 'report';
  /** What `client-ca-file` holds afterwards: the Kubernetes CAs every apiserver trusts at the end of the plan. */
  clientCa: Fingerprint[];
  /** The Kubernetes CAs the plan drops: apply removes them from `client-ca-file` (and from nothing else). */
  removes: Fingerprint[];
  /** `requestheader-client-ca-file` (the aggregator CA, which this tool does not rotate) is left as it is. */
  requestHeaderCa: 'unchanged';
  gate: { settleMs: number };
  reason: string;
}

export interface Plan {
  formatVersion: typeof PLAN_FORMAT_VERSION;
  changes: boolean;
  /** There are changes and nothing was refused. */
  applyable: boolean;
  verdict: Verdict;
  steps: Step[];
  notices: string[];
  /** Absent when no observed CA field lacks its final newline. */
  pemRepairs?: PemRepair[];
  /** Absent when the plan drops no Kubernetes API CA and the ConfigMap holds no CA that no apiserver trusts. */
  extensionAuth?: ExtensionAuthStep;
  refused?: Refusal[];
  summary: PlanSummary;
  authorities: AuthorityRef[];
  talosClients: { current: ClientDescription | null; intermediate?: ClientDescription; new?: ClientDescription };
  /** Edges already failing in the observed cluster. */
  initialProof: ProofEdge[];
  /** What the plan was made against; apply refuses a plan whose nodes changed since. */
  basedOn: {
    endpoints: string[];
    /** Each node as observed: who it is, and the digest of its config. */
    nodes: Pick<ObservedNode, 'address' | 'nodeId' | 'hostname' | 'role' | 'talosVersion' | 'configDigest'>[];
  };
  /**
   * `maxUnavailable` is resolved to a number of nodes (a percentage of the workers rounded down, at least 1);
   * `maxUnavailableRequested` is what was asked (a number, or a percentage such as `"10%"`).
   */
  options: {
    allowDisruption: boolean;
    maxUnavailable: number;
    maxUnavailableRequested?: MaxUnavailable;
    parallelism: number;
  };
  /**
   * Workloads and objects that will hold the old Kubernetes API CA (read from the live cluster by `rotate
   * plan`). Absent when the plan does not change the control planes' issuing Kubernetes CA.
   */
  workloads?: WorkloadsReport;
  /** Where the run's workload phase runs and in which mode; absent when no issuing Kubernetes CA changes. */
  workloadPhase?: WorkloadPhaseEntry;
}
