/**
 * The desired state as the planner consumes it, and the diagnostics the loader reports. Types only: the
 * pure planner may import this file without pulling in any I/O.
 */
import type { ApiKind, NodeAddress } from '../domain/types.js';
import type { CaCertificate } from '../pki/types.js';

/** The only format version there is (`version: 1`). */
export const DESIRED_STATE_VERSION = 1;

/** `certs.os` (Talos API CA) or `certs.k8s` (Kubernetes API CA) of a `talosctl gen secrets` bundle. */
export type BundleEntry = 'os' | 'k8s';

/** Where an authority's certificate came from. Paths are absolute. */
export type CertificateSource =
  { kind: 'file'; path: string } | { kind: 'inline' } | { kind: 'secretsBundle'; path: string; entry: BundleEntry };

/** Where an authority's private key is. Only a reference: the key itself is read by loadAuthorityKey. */
export type KeySource =
  | { kind: 'file'; path: string }
  | { kind: 'env'; variable: string }
  | { kind: 'secretsBundle'; path: string; entry: BundleEntry };

export interface Authority {
  /** The name under `authorities`. */
  name: string;
  /** Parsed and checked: a CA, supported algorithm, within its validity window. */
  certificate: CaCertificate;
  certificateSource: CertificateSource;
  /** Checked to match the certificate at load time; null for a CA that is only accepted. */
  keySource: KeySource | null;
}

export interface DesiredApi {
  /** May have no keySource (DESIRED_ISSUING_NO_KEY, a warning): fine while the cluster already issues from it. */
  issuing: Authority;
  /** In file order, without the issuing CA and without duplicates (by name and by fingerprint). */
  accepted: Authority[];
}

/** What to do with a workload whose pods hold the old Kubernetes API CA (the `workloads` section). */
export type WorkloadAction = 'restart' | 'report' | 'ignore';

/** Pods no rollout restart reaches: Job-owned, owned by another controller, or bare. */
export type EvictableKind = 'Job' | 'Other' | 'Pod';
export const EVICTABLE_KINDS: readonly EvictableKind[] = ['Job', 'Other', 'Pod'];

export interface WorkloadPolicy {
  default: WorkloadAction;
  namespaces: Record<string, WorkloadAction>;
  selectors: { matchLabels: Record<string, string>; namespace?: string; action: WorkloadAction }[];
  /**
   * `evict`: of these kinds, the pods of a workload whose action is `restart` are evicted through the
   * Eviction API (which honours PodDisruptionBudgets) instead of only reported. Default: none.
   */
  evict: EvictableKind[];
  /**
   * The `extension-apiserver-authentication` ConfigMap step: `replace` (default) writes its
   * `client-ca-file`, `report` only lists it in the plan and the run's summary.
   */
  extensionApiserverAuthentication?: 'replace' | 'report';
}

export interface DesiredCluster {
  /** Absolute path: `cluster.talosconfig`, or talosctl's default resolution. */
  talosconfig: string;
  /**
   * How `talosconfig` was found: written in the file, talosctl's defaults, or `--talosconfig` (cluster-overrides.ts).
   */
  talosconfigSource: 'file' | 'TALOSCONFIG' | 'TALOS_HOME' | 'home' | 'flag';
  /** Undefined: the talosconfig's current context. */
  context?: string;
  /** Absolute path apply writes the new admin kubeconfig to; always set when `kubernetes` is managed. */
  kubeconfig?: string;
  /** As written (`host` or `host:port`), duplicates removed. Undefined: the talosconfig context's endpoints. */
  endpoints?: string[];
  /** `https://host:port` override of the Kubernetes API endpoint. */
  kubernetesEndpoint?: string;
  /** As written; at least one; no address appears twice in either list. */
  controlPlanes: NodeAddress[];
  workers: NodeAddress[];
  /** Absolute path of the secrets bundle apply updates with the new CAs. */
  secretsBundle?: string;
}

export interface DesiredState {
  /** Absolute path of the desired-state file. */
  file: string;
  /** Its folder, against which relative paths were resolved. */
  dir: string;
  /** Lowercase hex SHA-256 of the file's bytes, so a plan can say which file it was made from. */
  digest: string;
  version: typeof DESIRED_STATE_VERSION;
  cluster: DesiredCluster;
  /** Absent: that API's CA is not managed. At least one of the two is present. */
  talos?: DesiredApi;
  kubernetes?: DesiredApi;
  /** Every authority defined in the file, referenced or not. */
  authorities: Record<string, Authority>;
  /** The `workloads` section; absent: report every workload (the default). */
  workloads?: WorkloadPolicy;
}

export type DiagnosticSeverity = 'error' | 'warning';

export interface Diagnostic {
  severity: DiagnosticSeverity;
  /** Stable code, `DESIRED_*`. */
  code: string;
  /** The desired-state file as the user named it. */
  file: string;
  /** 1-based; 0 when the problem has no position (e.g. the file cannot be read). */
  line: number;
  column: number;
  /** The field in dotted form, e.g. `cluster.workers[2]`, `authorities.talos-2026.key.file`; '' for the whole file. */
  path: string;
  /** The same field as a JSON pointer, e.g. `/cluster/workers/2`. */
  pointer: string;
  /** What is wrong, without the field name (the renderer puts it first). Never holds key material. */
  message: string;
  /** How to fix it. */
  hint: string;
}

export interface LoadOptions {
  /** Clock for validity checks (default: now). */
  now?: Date;
  /** Environment for `key: { env }` and talosconfig resolution (default: process.env). */
  env?: NodeJS.ProcessEnv;
  /** Home folder for `~/` and talosconfig resolution (default: $HOME of `env`, else os.homedir()). */
  home?: string;
  /** Name to show for the file in diagnostics (default: the path as given). */
  displayName?: string;
  /** Ask git whether files holding keys would be committed (DESIRED_KEY_IN_GIT; default: true). */
  gitCheck?: boolean;
}

export interface ValidationResult {
  /** The file as the user named it. */
  file: string;
  valid: boolean;
  errors: Diagnostic[];
  warnings: Diagnostic[];
  /** Present exactly when valid. */
  state?: DesiredState;
}

export type { ApiKind };
