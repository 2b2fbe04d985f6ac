/**
 * Emulated in-cluster clients ("pods", talos-behaviour.md §5.4, §2.5): workloads that call the Kubernetes API with
 * the service-account credentials the kubelet projects into them, whose `ca.crt` comes from the
 * `kube-root-ca.crt` ConfigMap of their namespace.
 *
 * - The kubelet of the pod's node writes the projected `ca.crt` when the pod starts and rewrites it in
 *   place when the ConfigMap changes (a kubelet that is restarting catches up once it runs again).
 * - A client loads `ca.crt` when it starts. Kinds: a *reloading* client re-reads the file every
 *   `podCaReloadMs` (client-go does about every 5 minutes); a *holding* client never does (it keeps what
 *   it loaded until it restarts). Which kind a pod runs is its template's annotation (workloads.ts); the pods
 *   belong to workload objects (workload-controller.ts creates and deletes them).
 * - Every `podCallIntervalMs` (jittered) it calls `GET /version` through the `kubernetes` Service
 *   (10.96.0.1:443): kube-proxy DNATs each new connection to one apiserver listed in the Service's
 *   endpoints (those that are up), so the apiserver sees the pod's node address. Like client-go, which
 *   keeps its connection to the apiserver and reuses it for every request, a client keeps one connection
 *   while it works: a new one (a TLS handshake verifying the serving certificate, for the Service IP,
 *   against the `ca.crt` it holds) when it has none, after that connection closed (the apiserver
 *   restarted or went down: every restart closes its connections, and a changed serving certificate only
 *   comes with a restart), after a failed call, and after a reload that changed what it trusts (a new
 *   TLS config is a new transport). A call that cannot connect is retried on a new connection next time.
 * - Node down: its pods are gone; when its kubelet runs again they start afresh (and load the file then).
 *
 * The ledger's `pod-apiserver` edge counts the outcomes: a serving certificate that does not verify against
 * the client's `ca.crt` is a trust failure (refused by the client); no apiserver up or a refused
 * connection is unavailability.
 */
import { fingerprintOfDer, splitPemBlocks } from '../../pki/index.js';
import type { LabCluster, LabNode } from '../core/model.js';
import { subscribe } from '../core/events.js';
import { APISERVER_PORT, type KubeApiServer } from './apiserver.js';
import type { KubeTlsIdentity } from './dial.js';
import type { DialHandle, KeptConnection, KubeDialer } from './dial-thread.js';
import { ROOT_CA_CONFIGMAP, ROOT_CA_KEY, type ConfigMapStore } from './root-ca-publisher.js';

/** The namespace the lab's pods run in (every namespace's kube-root-ca.crt holds the same data). */
export const POD_NAMESPACE = 'default';
/** The `kubernetes` Service's ClusterIP, which in-cluster clients dial and verify (KUBERNETES_SERVICE_HOST). */
export const SERVICE_HOST = '10.96.0.1';
const REQUEST_TIMEOUT_MS = 5_000;

export interface PodsDeps {
  cluster: LabCluster;
  configMaps: ConfigMapStore;
  apiservers(): readonly KubeApiServer[];
  /** Where the clients' requests are made (dial-thread.ts). */
  dialer: KubeDialer;
}

export interface PodView {
  name: string;
  node: string;
  reloads: boolean;
  running: boolean;
  /** Fingerprints of the certificates the client trusts now (what it loaded). */
  caFingerprints: string[];
  /** The pod's namespace and uid, and when its client last started (null: not yet). */
  namespace?: string;
  uid?: string;
  startedAt?: string | null;
  /** Calls made, and connections opened for them (one per kept connection, not one per call). */
  calls: number;
  connections: number;
}

function jitter(ms: number, spread = 0.2): number {
  return Math.max(1, Math.round(ms * (1 - spread + 2 * spread * Math.random())));
}

export function pemFingerprints(pem: string | null): string[] {
  if (!pem) return [];
  try {
    return splitPemBlocks(pem)
      .filter((b) => b.label === 'CERTIFICATE')
      .map((b) => fingerprintOfDer(b.der));
  } catch {
    return [];
  }
}

export class InClusterClient {
  readonly node: LabNode;
  readonly name: string;
  readonly reloads: boolean;
  readonly namespace: string;
  readonly #deps: PodsDeps;
  /** The projected file's content, as the kubelet last wrote it. */
  #file: string | null = null;
  /** What the client loaded from the file and verifies servers against. */
  #loaded: string | null = null;
  #identity: KubeTlsIdentity | null = null;
  #running = false;
  #gen = 0;
  #next = 0;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #inflight = new Set<DialHandle>();
  /** The kept connection (kube-proxy picked `server` when it opened); null when the next call connects anew. */
  #conn: { server: KubeApiServer; connection: KeptConnection } | null = null;
  #calls = 0;
  #connections = 0;

  constructor(node: LabNode, name: string, reloads: boolean, deps: PodsDeps, namespace = POD_NAMESPACE) {
    this.node = node;
    this.namespace = namespace;
    this.name = name;
    this.reloads = reloads;
    this.#deps = deps;
  }

  /** Ledger name: `<node address>/<pod name>`. */
  get id(): string {
    return `${this.node.address}/${this.name}`;
  }

  get running(): boolean {
    return this.#running;
  }

  /** The kubelet writes the projected `ca.crt` (in place: a running client does not notice by itself). */
  writeFile(content: string): void {
    this.#file = content;
  }

  /** Start with the projected file as it is now; false when there is none yet (the pod cannot start). */
  start(): boolean {
    if (this.#running) return true;
    if (this.#file === null) return false;
    const gen = ++this.#gen;
    this.#running = true;
    this.#load();
    const interval = this.#deps.cluster.timings.podCallIntervalMs;
    this.#after(gen, Math.floor(Math.random() * interval), () => this.#callLoop(gen));
    if (this.reloads) this.#reloadLoop(gen);
    return true;
  }

  stop(): void {
    this.#gen += 1;
    this.#running = false;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const h of this.#inflight) h.abort();
    this.#inflight.clear();
    this.#closeConnection();
  }

  #closeConnection(): void {
    this.#conn?.connection.close();
    this.#conn = null;
  }

  view(): PodView {
    return {
      name: this.name,
      node: this.node.address,
      reloads: this.reloads,
      running: this.#running,
      caFingerprints: pemFingerprints(this.#loaded),
      calls: this.#calls,
      connections: this.#connections,
    };
  }

  #load(): void {
    if (this.#loaded === this.#file && this.#identity) return;
    // What it trusts changed: a new transport, so the next call connects (and verifies) anew.
    this.#closeConnection();
    this.#loaded = this.#file;
    this.#identity = this.#loaded ? { ca: this.#loaded } : null;
  }

  #after(gen: number, ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (gen === this.#gen) fn();
    }, ms);
    this.#timers.add(t);
  }

  #reloadLoop(gen: number): void {
    this.#after(gen, this.#deps.cluster.timings.podCaReloadMs, () => {
      this.#load();
      this.#reloadLoop(gen);
    });
  }

  #callLoop(gen: number): void {
    void this.#call(gen).finally(() => {
      if (gen === this.#gen)
        this.#after(gen, jitter(this.#deps.cluster.timings.podCallIntervalMs), () => this.#callLoop(gen));
    });
  }

  async #call(gen: number): Promise<void> {
    const ledger = this.#deps.cluster.ledger;
    const identity = this.#identity;
    if (!identity) return;
    let conn = this.#conn;
    if (conn && !conn.server.isUp) {
      this.#closeConnection();
      conn = null;
    }
    if (!conn) {
      // kube-proxy: the Service's endpoints are the apiservers that are up; each connection goes to one.
      const up = this.#deps.apiservers().filter((s) => s.isUp);
      if (up.length === 0) {
        ledger.unavailable({
          edge: 'pod-apiserver',
          from: this.id,
          to: SERVICE_HOST,
          reason: 'the kubernetes Service has no endpoint',
          refusedBy: 'server',
        });
        return;
      }
      // The connection ends with its socket: the next call connects (and kube-proxy picks) anew.
      const opened = {
        server: up[this.#next++ % up.length]!,
        connection: this.#deps.dialer.connection(() => {
          if (this.#conn === opened) this.#conn = null;
        }),
      };
      conn = opened;
      this.#conn = conn;
      this.#connections += 1;
    }
    this.#calls += 1;
    const { server, connection } = conn;
    const handle = this.#deps.dialer.request({
      from: this.node.address,
      to: server.node.address,
      port: APISERVER_PORT,
      tls: identity,
      method: 'GET',
      path: '/version',
      timeoutMs: REQUEST_TIMEOUT_MS,
      verifyHost: SERVICE_HOST,
      connection: connection.id,
    });
    this.#inflight.add(handle);
    const outcome = await handle.done;
    this.#inflight.delete(handle);
    if (gen !== this.#gen) return;
    // A failed call leaves no connection to reuse (client-go drops it too).
    if (outcome.kind !== 'ok' && this.#conn?.connection === connection) this.#closeConnection();
    const entry = { edge: 'pod-apiserver' as const, from: this.id, to: server.node.address };
    if (outcome.kind === 'trust')
      ledger.trustFailure({ ...entry, reason: outcome.reason, refusedBy: outcome.refusedBy });
    else if (outcome.kind === 'unavailable')
      ledger.unavailable({ ...entry, reason: outcome.reason, refusedBy: 'server' });
  }
}

/** A pod the fleet runs: which node, which client kind, the key it is known by. */
export interface FleetPod {
  uid: string;
  namespace: string;
  name: string;
  node: LabNode;
  reloads: boolean;
}

/**
 * The kubelets' part in the workload pods (workload-controller.ts creates and deletes them): projecting
 * the pod's namespace's `kube-root-ca.crt` into its `ca.crt`, starting its client once the node's kubelet
 * runs (a new pod after `startDelayMs`, the time a kubelet takes to start a container), and losing them
 * when the node goes down (they start afresh, loading the file then, when its kubelet runs again).
 */
export class PodFleet {
  readonly #clients = new Map<
    string,
    { pod: FleetPod; client: InClusterClient; startedAt: Date | null; starts: number }
  >();
  readonly #deps: PodsDeps;
  readonly #off: Array<() => void> = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly #listeners = new Set<(uid: string) => void>();
  readonly #startDelayMs: number;

  constructor(deps: PodsDeps, startDelayMs = 0) {
    this.#deps = deps;
    this.#startDelayMs = startDelayMs;
    for (const node of deps.cluster.nodes) {
      const onKubelet = (): void => this.#syncNode(node);
      const onDown = (): void => {
        for (const e of this.#clients.values()) if (e.pod.node === node && e.client.running) this.#stopped(e);
      };
      this.#off.push(...subscribe(node, { kubelet: onKubelet, down: onDown }));
    }
    this.#off.push(
      deps.configMaps.subscribe((cm) => {
        if (cm.name !== ROOT_CA_CONFIGMAP) return;
        for (const node of deps.cluster.nodes) this.#syncNode(node, cm.namespace);
      }),
    );
  }

  /** Called with a pod's uid whenever its client starts or stops. */
  onChange(fn: (uid: string) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  #notify(uid: string): void {
    for (const fn of this.#listeners) fn(uid);
  }

  #stopped(e: { pod: FleetPod; client: InClusterClient }): void {
    e.client.stop();
    this.#notify(e.pod.uid);
  }

  add(pod: FleetPod): void {
    if (this.#clients.has(pod.uid)) return;
    this.#clients.set(pod.uid, {
      pod,
      client: new InClusterClient(pod.node, pod.name, pod.reloads, this.#deps, pod.namespace),
      startedAt: null,
      starts: 0,
    });
    const t = setTimeout(() => {
      this.#timers.delete(t);
      this.#syncNode(pod.node, undefined, pod.uid);
    }, this.#startDelayMs);
    this.#timers.add(t);
  }

  /** The pod is deleted: its client stops for good. */
  remove(uid: string): void {
    const e = this.#clients.get(uid);
    if (!e) return;
    this.#clients.delete(uid);
    e.client.stop();
  }

  /** Whether the pod's client runs, when it last started and how often it started. */
  state(uid: string): { running: boolean; startedAt: Date | null; starts: number } | null {
    const e = this.#clients.get(uid);
    return e ? { running: e.client.running, startedAt: e.startedAt, starts: e.starts } : null;
  }

  /** What the kubelet of `node` does for its pods when it runs: project the ConfigMap, start the pods. */
  #syncNode(node: LabNode, namespace?: string, onlyUid?: string): void {
    if (node.isDown || !node.kubelet?.running) return;
    for (const e of this.#clients.values()) {
      if (
        e.pod.node !== node ||
        (namespace !== undefined && e.pod.namespace !== namespace) ||
        (onlyUid !== undefined && e.pod.uid !== onlyUid)
      )
        continue;
      const content = this.#deps.configMaps.get(e.pod.namespace, ROOT_CA_CONFIGMAP)?.data[ROOT_CA_KEY];
      if (content === undefined) continue;
      e.client.writeFile(content);
      if (e.client.running) continue;
      if (e.client.start()) {
        e.startedAt = new Date();
        e.starts += 1;
        this.#notify(e.pod.uid);
      }
    }
  }

  views(): PodView[] {
    return [...this.#clients.values()].map((e) => ({
      ...e.client.view(),
      namespace: e.pod.namespace,
      uid: e.pod.uid,
      startedAt: e.startedAt?.toISOString() ?? null,
    }));
  }

  stop(): void {
    for (const off of this.#off) off();
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const e of this.#clients.values()) e.client.stop();
  }
}
