/**
 * The emulated cluster's state model: nodes with their applied machine configs and what Talos derives
 * from them, shared by the Talos side (apid, machined, trustd) and the Kubernetes side (apiservers,
 * kubelets). Components react to node events; nothing here opens a socket.
 *
 * Independence: the lab derives trust from configs with its own reading of Talos's rules (roots.ts), not
 * with the planner's machine-config code, so that a misreading there cannot make the judge agree with it.
 */
import { EventEmitter } from 'node:events';
import type { CaCertificate, CaMaterial } from '../../pki/index.js';
import { Ledger } from './ledger.js';

export type LabRole = 'controlplane' | 'worker';
export type KubernetesCaStyle = 'legacy' | 'document';

/**
 * What Talos derives from one API's CA fields (OSRootSecrets / KubernetesRootSecrets):
 * `issuing` is the issuing CA with its key (control planes) or null (workers: no key, or a document-style
 * worker with no issuingCA); `issuingCert` the issuing certificate even without a key (legacy workers);
 * `trusted` the accepted list as Talos computes it: accepted CAs followed by the issuing certificate.
 * `error` is set when the config holds CA material Talos accepts at apply time but cannot use (a broken
 * CA): certificate generation then fails and the node keeps serving what it had (talos-behaviour.md §7).
 */
export interface RootCa {
  issuing: CaMaterial | null;
  issuingCert: CaCertificate | null;
  trusted: CaCertificate[];
  /**
   * Talos only: the raw OSRoot accepted entries (`.machine.acceptedCAs` then `.machine.ca.crt`), as
   * configured; each may hold several PEM blocks. Absent in hand-made roots (tests).
   */
  acceptedEntries?: string[];
  /** Workers: the CSR template, the first certificate of the last accepted entry (generateWorker, GetCert). */
  csrTemplate?: CaCertificate | null;
  error?: string;
}

export interface NodeRoots {
  talos: RootCa;
  kubernetes: RootCa;
}

export interface NodeFaults {
  /** Machine off: every listener of the node refuses connections, its kubelet stops heartbeating. */
  down: boolean;
  /** Added latency on every API call the node serves. */
  delayMs: number;
  /** Fail the next N ApplyConfiguration calls (Unavailable), without applying. */
  failApply: number;
  /** Apply the next N configs but drop the reply (the caller sees the connection reset). */
  dropApplyReply: number;
  /** Override of the kubelet restart duration for this node. */
  kubeletRestartMs: number | null;
}

/** What a node saw of ApplyConfiguration calls (`lab inspect --json`: `applyConfiguration` of each node). */
export interface ApplyCallStats {
  /** Calls that reached machined, refused ones included. */
  calls: number;
  /** The most calls in machined at once; a call refused because the lock was held overlapped its holder. */
  maxConcurrent: number;
  /** Calls refused with "another apply configuration is already in progress". */
  refusedInProgress: number;
  /** Until when a foreign operator holds the lock (the holdApplyLockMs fault), ISO time; null when not held. */
  foreignHoldUntil: string | null;
}

/**
 * Talos's per-node `applyConfigMu` (internal/app/machined/internal/server/v1alpha1/v1alpha1_server.go,
 * v1.13.9 and HEAD): ApplyConfiguration takes it with TryLock before anything else, dry runs included, and
 * a call that finds it held is refused at once (FailedPrecondition). Besides calls, a foreign operator may
 * hold it (the lab's holdApplyLockMs fault: another talosctl, Omni, Terraform applying a config). It also
 * records how many calls overlapped, so that tests can tell how a client schedules its calls.
 */
export class ApplyLock {
  #heldByCall = false;
  #foreignUntil = 0;
  #inFlight = 0;
  #calls = 0;
  #maxConcurrent = 0;
  #refused = 0;

  /**
   * A call reaches machined: it is counted, then tries the lock. Returns the function that ends the call
   * (releasing the lock when it was taken) and whether the lock was taken.
   */
  enter(now = Date.now()): { locked: boolean; end: () => void } {
    this.#calls += 1;
    this.#inFlight += 1;
    this.#maxConcurrent = Math.max(this.#maxConcurrent, this.#inFlight);
    let ended = false;
    const locked = !this.#heldByCall && now >= this.#foreignUntil;
    if (locked) this.#heldByCall = true;
    else this.#refused += 1;
    return {
      locked,
      end: () => {
        if (ended) return;
        ended = true;
        this.#inFlight -= 1;
        if (locked) this.#heldByCall = false;
      },
    };
  }

  /** Whether a call holds the lock right now. */
  get heldByCall(): boolean {
    return this.#heldByCall;
  }

  /**
   * A foreign operator takes the lock for `ms` from now (0 releases a foreign hold). Like TryLock, it cannot
   * take it from a call in progress: false then.
   */
  holdForeign(ms: number, now = Date.now()): boolean {
    if (this.#heldByCall) return false;
    this.#foreignUntil = ms > 0 ? now + ms : 0;
    return true;
  }

  stats(now = Date.now()): ApplyCallStats {
    return {
      calls: this.#calls,
      maxConcurrent: this.#maxConcurrent,
      refusedInProgress: this.#refused,
      foreignHoldUntil: this.#foreignUntil > now ? new Date(this.#foreignUntil).toISOString() : null,
    };
  }
}

export interface KubeletServiceState {
  running: boolean;
  healthy: boolean;
}

export interface ConfigChange {
  previous: string;
  current: string;
  previousRoots: NodeRoots;
  roots: NodeRoots;
  /** Which APIs' derived CA state changed (trust set or issuing CA). */
  talosChanged: boolean;
  kubernetesChanged: boolean;
}

export interface LabNodeInit {
  address: string;
  role: LabRole;
  hostname: string;
  /** Random, persistent identity as in Talos's `Identities.cluster.talos.dev/local`. */
  nodeId: string;
  config: string;
  roots: NodeRoots;
  talosTag: string;
}

/**
 * One emulated machine. Events: `config` (ConfigChange) after a config is applied, `down` / `up` on the
 * power fault, `kubelet` (KubeletServiceState | null) when the kubelet Service resource changes, `secrets`
 * (control planes) when the static pods' secrets were rendered again, `removed` once removed for good.
 */
export class LabNode extends EventEmitter {
  readonly address: string;
  readonly role: LabRole;
  readonly hostname: string;
  readonly nodeId: string;
  readonly talosTag: string;
  #config: string;
  #configVersion = 1;
  #roots: NodeRoots;
  #kubelet: KubeletServiceState | null = null;
  /**
   * Version of the node's KubernetesSecrets resource as `SecretStatuses.kubernetes.talos.dev/static-pods`
   * (namespace `controlplane`) reports it once the static pods' secrets are rendered; control planes only
   * (internal/app/machined/pkg/controllers/k8s/render_secrets_static_pod.go). Bumped by the kube side.
   */
  #secretsVersion = 1;
  readonly faults: NodeFaults = { down: false, delayMs: 0, failApply: 0, dropApplyReply: 0, kubeletRestartMs: null };
  /** machined's apply lock (ApplyConfiguration, one at a time). */
  readonly applyLock = new ApplyLock();
  #removed = false;

  constructor(init: LabNodeInit) {
    super();
    this.setMaxListeners(100);
    this.address = init.address;
    this.role = init.role;
    this.hostname = init.hostname;
    this.nodeId = init.nodeId;
    this.talosTag = init.talosTag;
    this.#config = init.config;
    this.#roots = init.roots;
  }

  get config(): string {
    return this.#config;
  }

  /** Bumped on every applied config (the COSI resource version of the MachineConfig). */
  get configVersion(): number {
    return this.#configVersion;
  }

  get roots(): NodeRoots {
    return this.#roots;
  }

  get kubelet(): KubeletServiceState | null {
    return this.#kubelet;
  }

  get secretsVersion(): number {
    return this.#secretsVersion;
  }

  /** The static pods' secrets were rendered again (new KubernetesSecrets version): emits `secrets`. */
  bumpSecretsVersion(): number {
    this.#secretsVersion += 1;
    this.emit('secrets', this.#secretsVersion);
    return this.#secretsVersion;
  }

  get isDown(): boolean {
    return this.faults.down;
  }

  /** Activate a new config (ApplyConfiguration NO_REBOOT / AUTO / TRY). */
  applyConfig(config: string, roots: NodeRoots): ConfigChange {
    const change: ConfigChange = {
      previous: this.#config,
      current: config,
      previousRoots: this.#roots,
      roots,
      talosChanged: !sameRoot(this.#roots.talos, roots.talos),
      kubernetesChanged: !sameRoot(this.#roots.kubernetes, roots.kubernetes),
    };
    this.#config = config;
    this.#configVersion += 1;
    this.#roots = roots;
    this.emit('config', change);
    return change;
  }

  setKubelet(state: KubeletServiceState | null): void {
    this.#kubelet = state;
    this.emit('kubelet', state);
  }

  /**
   * Removed from the cluster for good, as `talosctl reset` then `kubectl delete node` leave it: off, no longer
   * a discovery member (its affiliate is gone) nor a Kubernetes Node. Irreversible. Emits `down` then `removed`.
   */
  remove(): void {
    if (this.#removed) return;
    this.#removed = true;
    this.setDown(true);
    this.emit('removed');
  }

  get isRemoved(): boolean {
    return this.#removed;
  }

  setDown(down: boolean): void {
    if (this.#removed && !down) return; // a removed machine stays off
    if (this.faults.down === down) return;
    this.faults.down = down;
    this.emit(down ? 'down' : 'up');
  }
}

function fingerprints(root: RootCa): string {
  return (
    `${root.issuing?.fingerprint ?? '-'}|${root.issuingCert?.fingerprint ?? '-'}|` +
    `${root.trusted.map((c) => c.fingerprint).join(',')}|${root.error ?? ''}`
  );
}

export function sameRoot(a: RootCa, b: RootCa): boolean {
  return fingerprints(a) === fingerprints(b);
}

export interface LabTimings {
  /** Kubernetes node-monitor grace period: a Node turns NotReady after heartbeats failed this long. */
  nodeGraceMs: number;
  /** How long a kubelet restart takes (Service resource gone → back running and healthy). */
  kubeletRestartMs: number;
  /** How long kube-apiserver is unavailable when it restarts on a CA change. */
  apiserverRestartMs: number;
  /** Added latency of every ApplyConfiguration. */
  applyLatencyMs: number;
  /**
   * How long after a control plane's Kubernetes CA change its kube-apiserver and kube-controller-manager
   * are re-created from the re-rendered static pod manifests (never before its kubelet runs again). Until
   * then they serve and sign with what they had. Real clusters take seconds to tens of seconds.
   */
  staticPodDelayMs: number;
  /** Kubelet heartbeat period. */
  heartbeatIntervalMs: number;
  /** Period of the background probes of each in-cluster edge (spread over the period). */
  probeIntervalMs: number;
  /** How often an emulated in-cluster client ("pod") calls the Kubernetes API (a fresh handshake each). */
  podCallIntervalMs: number;
  /** How often a reloading pod re-reads its projected `ca.crt` (client-go: about every 5 minutes). */
  podCaReloadMs: number;
  /**
   * Period of each kube-apiserver's cluster-authentication-trust resync (Kubernetes: one minute; it also
   * syncs on every change of the ConfigMap). Absent: kube/extension-auth.ts DEFAULT_LAB_RESYNC_MS.
   */
  extensionAuthResyncMs?: number;
}

export const DEFAULT_TIMINGS: LabTimings = {
  nodeGraceMs: 40_000,
  kubeletRestartMs: 1_000,
  apiserverRestartMs: 500,
  applyLatencyMs: 0,
  staticPodDelayMs: 2_000,
  heartbeatIntervalMs: 2_000,
  probeIntervalMs: 10_000,
  podCallIntervalMs: 2_000,
  podCaReloadMs: 300_000,
};

/** The whole emulated cluster: nodes, ledger, addresses and timings. */
export class LabCluster extends EventEmitter {
  readonly nodes: LabNode[];
  readonly ledger: Ledger;
  readonly timings: LabTimings;
  readonly clusterName: string;
  readonly kubernetesCaStyle: KubernetesCaStyle;
  /** Loopback address of the Kubernetes cluster endpoint (a TCP balancer across control planes, :6443). */
  readonly clusterEndpointAddress: string;
  /** Optional shared virtual IP forwarding to a control plane (apid :50000 and apiserver :6443). */
  readonly vipAddress: string | null;
  /** Bootstrap token (`xxxxxx.yyyyyyyyyyyyyyyy`) kubelets use for TLS bootstrap. */
  readonly bootstrapToken: string;
  /** trustd token workers present to control planes. */
  readonly trustdToken: string;

  constructor(init: {
    nodes: LabNode[];
    timings: LabTimings;
    clusterName: string;
    kubernetesCaStyle: KubernetesCaStyle;
    clusterEndpointAddress: string;
    vipAddress: string | null;
    bootstrapToken: string;
    trustdToken: string;
    ledger?: Ledger;
  }) {
    super();
    this.nodes = init.nodes;
    this.timings = init.timings;
    this.clusterName = init.clusterName;
    this.kubernetesCaStyle = init.kubernetesCaStyle;
    this.clusterEndpointAddress = init.clusterEndpointAddress;
    this.vipAddress = init.vipAddress;
    this.bootstrapToken = init.bootstrapToken;
    this.trustdToken = init.trustdToken;
    this.ledger = init.ledger ?? new Ledger();
    // Every worker's Talos side listens for `endpoints` (200-node labs).
    this.setMaxListeners(0);
    for (const node of this.nodes) {
      node.on('config', (change: ConfigChange) => {
        this.ledger.configChanged({
          node: node.address,
          configVersion: node.configVersion,
          talosIssuing: change.roots.talos.issuingCert?.fingerprint ?? null,
          kubernetesIssuing: change.roots.kubernetes.issuingCert?.fingerprint ?? null,
        });
      });
    }
  }

  #vipHolder: LabNode | null = null;
  /**
   * Control planes whose kube-apiserver is serving (the `kubernetes` EndpointSlice); null until the Kubernetes side
   * starts.
   */
  #apiserverEndpoints: Set<string> | null = null;

  /**
   * The addresses of the `kubernetes` EndpointSlice (default namespace), sorted: the control planes whose
   * kube-apiserver is serving. kube-apiserver's endpoint reconciler removes an apiserver when it stops and
   * adds it when it starts. Null before the Kubernetes side started. Talos mirrors it into the `k8s.Endpoint`
   * list (namespace `controlplane`) that a worker asks trustd at
   * (internal/app/machined/pkg/controllers/k8s/endpoint.go).
   */
  apiserverEndpoints(): string[] | null {
    return this.#apiserverEndpoints ? [...this.#apiserverEndpoints].sort(compareAddresses) : null;
  }

  /** An apiserver started or stopped serving: emits `endpoints` (the new list) when the list changed. */
  setApiserverServing(address: string, serving: boolean): void {
    const set = (this.#apiserverEndpoints ??= new Set());
    if (set.has(address) === serving) return;
    if (serving) set.add(address);
    else set.delete(address);
    this.emit('endpoints', this.apiserverEndpoints());
  }

  /**
   * The control plane holding the shared VIP (null without a VIP or when every control plane is down). Sticky,
   * like a keepalived-style VIP: it moves, to the first control plane that is up, only when its holder is down.
   */
  vipHolder(): LabNode | null {
    if (!this.vipAddress) return null;
    if (this.#vipHolder && !this.#vipHolder.isDown) return this.#vipHolder;
    this.#vipHolder = this.controlPlanes.find((n) => !n.isDown) ?? null;
    return this.#vipHolder;
  }

  node(address: string): LabNode | undefined {
    return this.nodes.find((n) => n.address === address);
  }

  get controlPlanes(): LabNode[] {
    return this.nodes.filter((n) => n.role === 'controlplane');
  }

  get workers(): LabNode[] {
    return this.nodes.filter((n) => n.role === 'worker');
  }

  /** True when a connection from this address comes from inside the lab (a node dialling a node). */
  isNodeAddress(address: string): boolean {
    const a = address.replace(/^::ffff:/, '');
    return this.nodes.some((n) => n.address === a);
  }
}

/** Numeric order of dotted IPv4 addresses (Talos sorts the endpoint list with netip.Addr.Compare). */
function compareAddresses(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}
