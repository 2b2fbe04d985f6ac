/**
 * The vocabulary of the safety engine: what a step is (waves of node targets), what the engine finds (edges
 * that fail, in which states), and the classes and entities it evaluates the trust rules over.
 */
import type { ApiKind, NodeRole } from '../../domain/types.js';
import type { EdgeKind } from '../model/plan.js';
import type { ModelNode, ModelTarget, TalosGrant, TrustState } from './world.js';

export type Version = 'unchanged' | 'before' | 'after' | 'lagging';

/** A client credential in the model: signer of its cert and the server CAs it trusts. */
export interface ModelClient {
  label: string;
  signer: number;
  trusts: number;
}

export interface StepSpec {
  waves: readonly (readonly { address: string; target: ModelTarget }[])[];
  /** APIs whose in-cluster edges are evaluated (operator-apid is evaluated whenever a Talos client is given). */
  apis: ReadonlySet<ApiKind>;
  /** The Talos client in use during the step (apply's patches and watches). */
  talosClient: ModelClient | null;
  /** Talos client checked at the gate, against the end state. */
  gateTalosClient?: ModelClient | null;
  /** Check a fresh admin kubeconfig (from any control plane) against every apiserver at the gate. */
  gateKubeconfig?: boolean;
  /** The operator's own kubeconfig: failures are reported as notices, not counted. */
  operatorKubeconfig?: ModelClient | null;
}

/** A failing edge between two classes of nodes, as findings and sequence outcomes both name it. */
export interface EdgeEnds {
  kind: EdgeKind;
  from: string;
  to: string;
  fromNodes: string[];
  toNodes: string[];
}

/** The ends of a finding, in the key order of the documents that print them. */
export function edgeEnds(f: EdgeEnds): EdgeEnds {
  return { kind: f.kind, from: f.from, to: f.to, fromNodes: f.fromNodes, toNodes: f.toNodes };
}

export interface Finding extends EdgeEnds {
  /** The two ends are different versions of the same class: a node is never paired with itself. */
  excludeSelf: boolean;
  /** `degraded`: a kubelet rejected by some apiservers but served by another; `broken`: anything else. */
  status: 'degraded' | 'broken';
  /** Fails for every history possibility (not just some). */
  certain: boolean;
  reason: string;
  /** 0-based waves whose states show it. */
  waves: number[];
  inStart: boolean;
  inEnd: boolean;
  atGate: boolean;
  /** Announced only (the operator's own kubeconfig), never counted in a verdict. */
  notice: boolean;
  fromVersion: Version | null;
  toVersion: Version | null;
}

export interface StepEvaluation {
  findings: Finding[];
  /** The cluster once the step is complete. */
  world: ModelNode[];
  states: number;
  classes: number;
}

export interface EntityState {
  talos: TrustState;
  kube: TrustState;
  /** The Kubernetes CA state the running kube-apiserver / controller-manager use (= kube unless lagging). */
  serving: TrustState;
  grants: readonly TalosGrant[];
  signers: number;
}

export interface Cls {
  idx: number;
  role: NodeRole;
  endpoint: boolean;
  members: string[];
  memberIdx: number[];
  before: EntityState;
  wave: number;
  target: ModelTarget | null;
  /** Trust once patched (histories depend on the state and are computed per pattern). */
  afterTrust: { talos: TrustState; kube: TrustState };
  final: EntityState | null;
}

export interface Entity {
  cls: Cls;
  version: Version;
  state: EntityState;
  key: string;
  label: string;
}
