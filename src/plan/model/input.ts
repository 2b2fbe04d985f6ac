/**
 * What the planner is given: the cluster as observed (per node, both PKIs as its machine config states
 * them), the desired CA state per API, the credentials the operator uses, and options. Plain data with no
 * I/O behind it; the glue that fills it from the desired-state files and the live cluster lives elsewhere.
 */
import type { MaxUnavailable } from '../../domain/max-unavailable.js';
import type { Fingerprint, KubernetesCaStyle, NodeRole } from '../../domain/types.js';

/**
 * One PKI as a node's config states it. `issuing` is `.machine.ca` / `.cluster.ca` /
 * `KubeAPIServerCAConfig.issuingCA` (a worker carries only the certificate; a document-style Kubernetes
 * worker has none: `issuing: null`, its current CA is `accepted[0]`). `accepted` is in config order.
 */
export interface ApiState {
  issuing: Fingerprint | null;
  accepted: Fingerprint[];
}

export interface KubernetesApiState extends ApiState {
  style: KubernetesCaStyle;
}

export interface ObservedNode {
  address: string;
  nodeId: string;
  hostname: string;
  role: NodeRole;
  talosVersion: string;
  /** Digest of the node's active machine config, recorded in the plan so apply can detect a stale plan. */
  configDigest: string;
  talos: ApiState;
  kubernetes: KubernetesApiState;
  /** Node Ready condition as Kubernetes reports it; null when unknown (API unreachable or not asked). */
  ready: boolean | null;
  /**
   * Workers: what apid got from trustd at its last registration, as its ApiCertificates resource shows it
   * (the signer of its server certificate, the client-CA bundle it trusts). Absent or null when it could not
   * be read or the signer is not a known CA: the model then considers every registration the configs allow.
   */
  talosGrant?: { signer: Fingerprint; bundle: Fingerprint[] } | null;
  /**
   * CA fields whose PEM text lacks a final newline, per API (e.g. `.machine.acceptedCAs[0]`). Talos joins
   * CA entries with no separator, so such an entry loses itself and the next CA (talos-behaviour.md §5.1); the patch
   * of that API on this node rewrites them. Absent when there is none.
   */
  unterminatedPem?: Partial<Record<'talos' | 'kubernetes', string[]>>;
}

/** The desired state of one PKI. `names` maps fingerprints to authority names, for display only. */
export interface DesiredApi {
  issuing: Fingerprint;
  accepted: Fingerprint[];
  names: Record<Fingerprint, string>;
}

/** A client credential: who signed its certificate and which CAs it trusts for the server. */
export interface OperatorClient {
  clientSigner: Fingerprint;
  trusts: Fingerprint[];
}

export interface PlanOptions {
  /** Plan through steps whose proof says an edge breaks (NotReady nodes, refused Talos connections). */
  allowDisruption: boolean;
  /**
   * Upper bound on workers whose kubelet restarts at once (from its apply until it is confirmed back): a
   * number of nodes or a percentage of the workers (`"10%"`). Control planes whose kube-apiserver restarts
   * go one at a time whatever it says.
   */
  maxUnavailable: MaxUnavailable;
  /** Upper bound on concurrent config applies within a wave that restarts nothing. */
  parallelism: number;
}

export interface PlanInput {
  nodes: ObservedNode[];
  /** Control-plane endpoints the operator's talosconfig uses (node addresses, or a VIP / DNS name). */
  endpoints: string[];
  desired: { talos?: DesiredApi; kubernetes?: DesiredApi };
  operator: {
    /** The talosconfig in use; null when it could not be read. */
    talos: OperatorClient | null;
    /** The kubeconfig in use, if readable. */
    kubernetes: OperatorClient | null;
  };
  options: PlanOptions;
  /**
   * Which files the desired state names for apply to write: a step announces only outputs that will be
   * written. Absent: both are named.
   */
  outputs?: { kubeconfig: boolean; secretsBundle: boolean };
  /**
   * The `extension-apiserver-authentication` step: `mode` from the desired state's
   * `workloads.extensionApiserverAuthentication` (default `replace`); `clientCa`: the CAs its
   * `client-ca-file` holds now (absent: not read), so that CAs no apiserver trusts any more (left by an
   * earlier rotation) are removed even when this plan drops none.
   */
  extensionAuth?: { mode: 'replace' | 'report'; clientCa?: Fingerprint[] };
}
