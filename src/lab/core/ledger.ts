/**
 * The lab's ledger: what a rotation disrupted, as the emulated cluster saw it. Tests and `rotate lab
 * inspect` read it to prove (or disprove) the planner's safety claims, so it counts only what happened on
 * real TLS connections: a trust failure is a handshake or request refused for certificate reasons; a
 * connection refused while a component restarts or a node is down is unavailability, counted apart.
 */

/** Every in-cluster edge kind the lab exercises (the keys of `trustFailures` in `lab inspect --json`). */
export const EDGE_KINDS = [
  'operator-apid',
  'apid-proxy',
  'worker-trustd',
  'kubelet-apiserver',
  'client-apiserver',
  'pod-apiserver',
] as const;
export type EdgeKind = (typeof EDGE_KINDS)[number];

/** Why a TLS peer was refused. */
export type TrustFailureReason =
  | 'unknown-ca' // the verifying side does not trust the CA that signed the peer's certificate
  | 'wrong-eku' // client certificate EKU is not exactly ClientAuth (apid)
  | 'expired' // certificate expired or not yet valid
  | 'unauthenticated' // no client certificate where one is required
  | 'hostname-mismatch' // server certificate does not name the address dialled
  | 'bad-certificate'; // anything else certificate-related

export interface LedgerEntry {
  edge: EdgeKind;
  /** Who initiated the connection (node address, `operator`, or a client description). */
  from: string;
  /** Who was dialled (node address). */
  to: string;
  reason: string;
  /** Which side refused: the dialler (server not trusted) or the server (client not trusted). */
  refusedBy: 'client' | 'server';
  at: string;
  /** Position in the lab's one sequence of recorded events (entries, NotReady events, config changes). */
  seq: number;
  /**
   * When the refused connection was accepted (operator → apid only). A client killed in the middle of a
   * handshake is indistinguishable on the wire from a Node client refusing the server's certificate (both
   * hang up after the ClientHello, neither sends an alert nor a certificate), so a test that kills a client
   * needs to know whether the connection was already open when it did.
   */
  openedAt?: string;
  /**
   * The dialler's source port (operator → apid only): with the ports a killed process held, a test can tell
   * its cut handshakes from refusals exactly, even when the lab saw the connection only after the kill.
   */
  fromPort?: number;
}

export interface NotReadyEvent {
  node: string;
  at: string;
  lastHeartbeat: string | null;
  seq: number;
}

/**
 * A machine config activated on a node, as the node derived it (the lab's own reading): lets a judge place
 * ledger entries before or after a given change by `seq`, without comparing clocks.
 */
export interface ConfigChangeEvent {
  node: string;
  configVersion: number;
  /** Fingerprints of the issuing CA certificates the node's config now names (null: none). */
  talosIssuing: string | null;
  kubernetesIssuing: string | null;
  at: string;
  seq: number;
}

/**
 * A control plane's static pods, in the order things happened (`seq`): `changed` when a Kubernetes CA change
 * left its kube-apiserver and kube-controller-manager behind their config, `rendered` when they run again
 * from the new manifests (apiserver listening, mirror pod Ready). Attribute by `seq`, never by clock.
 */
export interface StaticPodEvent {
  seq: number;
  node: string;
  event: 'changed' | 'rendered';
  /** SecretStatuses version the running pods were rendered from (after the event). */
  secretsVersion: number;
  at: string;
}

export interface StaticPodsSnapshot {
  /** Most control planes whose static pods lagged behind their config at the same time. */
  maxLagging: number;
  log: StaticPodEvent[];
}

/**
 * A kubelet stopped for a restart (`stopped`: a CA change of its node, or its node coming back up) or runs
 * again with a client certificate (`running`). The time between the two is the restart a rotation costs
 * that kubelet (the benchmark's kubelet restart time); `seq` places it among the other events.
 */
export interface KubeletEvent {
  seq: number;
  node: string;
  event: 'stopped' | 'running';
  cause: 'ca-change' | 'node-up' | 'start';
  at: string;
}

export interface KubeletsSnapshot {
  /** Restarts begun by a Kubernetes CA change of the kubelet's node (never capped). */
  caChangeRestarts: number;
  log: KubeletEvent[];
}

export interface LedgerSnapshot {
  trustFailures: Record<EdgeKind, number>;
  unavailable: Record<EdgeKind, number>;
  notReadyEvents: number;
  /** Entries in the order they happened, the oldest dropped beyond a cap (the counts are never capped). */
  trustFailureLog: LedgerEntry[];
  unavailableLog: LedgerEntry[];
  notReadyLog: NotReadyEvent[];
  configChanges: number;
  configChangeLog: ConfigChangeEvent[];
  staticPods: StaticPodsSnapshot;
  kubelets: KubeletsSnapshot;
}

const LOG_CAP = 2000;

function zeroCounts(): Record<EdgeKind, number> {
  return Object.fromEntries(EDGE_KINDS.map((k) => [k, 0])) as Record<EdgeKind, number>;
}

export class Ledger {
  readonly #trust = zeroCounts();
  readonly #unavailable = zeroCounts();
  readonly #trustLog: LedgerEntry[] = [];
  readonly #unavailableLog: LedgerEntry[] = [];
  readonly #notReady: NotReadyEvent[] = [];
  #notReadyCount = 0;
  readonly #configLog: ConfigChangeEvent[] = [];
  #configCount = 0;
  readonly #staticPodLog: StaticPodEvent[] = [];
  readonly #lagging = new Set<string>();
  #maxLagging = 0;
  readonly #kubeletLog: KubeletEvent[] = [];
  #caChangeRestarts = 0;
  #seq = 0;
  readonly #now: () => Date;

  constructor(now: () => Date = () => new Date()) {
    this.#now = now;
  }

  trustFailure(entry: Omit<LedgerEntry, 'at' | 'seq' | 'openedAt'>, openedAt?: Date): void {
    this.#trust[entry.edge] += 1;
    push(this.#trustLog, {
      ...entry,
      at: this.#now().toISOString(),
      seq: ++this.#seq,
      ...(openedAt ? { openedAt: openedAt.toISOString() } : {}),
    });
  }

  unavailable(entry: Omit<LedgerEntry, 'at' | 'seq'>): void {
    this.#unavailable[entry.edge] += 1;
    push(this.#unavailableLog, { ...entry, at: this.#now().toISOString(), seq: ++this.#seq });
  }

  notReady(node: string, lastHeartbeat: Date | null): void {
    this.#notReadyCount += 1;
    push(this.#notReady, {
      node,
      at: this.#now().toISOString(),
      lastHeartbeat: lastHeartbeat?.toISOString() ?? null,
      seq: ++this.#seq,
    });
  }

  configChanged(change: Omit<ConfigChangeEvent, 'at' | 'seq'>): void {
    this.#configCount += 1;
    push(this.#configLog, { ...change, at: this.#now().toISOString(), seq: ++this.#seq });
  }

  /** `seq` of the latest recorded event (0 before any). */
  get lastSeq(): number {
    return this.#seq;
  }

  /** A control plane's static pods fell behind its config (`changed`) or caught up (`rendered`). */
  staticPods(node: string, event: 'changed' | 'rendered', secretsVersion: number): void {
    if (event === 'changed') this.#lagging.add(node);
    else this.#lagging.delete(node);
    this.#maxLagging = Math.max(this.#maxLagging, this.#lagging.size);
    push(this.#staticPodLog, { seq: ++this.#seq, node, event, secretsVersion, at: this.#now().toISOString() });
  }

  /** A kubelet stopped for a restart or runs again (see KubeletEvent). */
  kubelet(node: string, event: KubeletEvent['event'], cause: KubeletEvent['cause']): void {
    if (event === 'stopped' && cause === 'ca-change') this.#caChangeRestarts += 1;
    push(this.#kubeletLog, { seq: ++this.#seq, node, event, cause, at: this.#now().toISOString() });
  }

  snapshot(): LedgerSnapshot {
    return {
      trustFailures: { ...this.#trust },
      unavailable: { ...this.#unavailable },
      notReadyEvents: this.#notReadyCount,
      trustFailureLog: [...this.#trustLog],
      unavailableLog: [...this.#unavailableLog],
      notReadyLog: [...this.#notReady],
      configChanges: this.#configCount,
      configChangeLog: [...this.#configLog],
      staticPods: { maxLagging: this.#maxLagging, log: [...this.#staticPodLog] },
      kubelets: { caChangeRestarts: this.#caChangeRestarts, log: [...this.#kubeletLog] },
    };
  }
}

function push<T>(log: T[], item: T): void {
  log.push(item);
  if (log.length > LOG_CAP) log.splice(0, log.length - LOG_CAP);
}
