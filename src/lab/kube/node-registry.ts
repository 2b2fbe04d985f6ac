/**
 * The Nodes of the emulated cluster and their readiness (what etcd + the node lifecycle controller hold in
 * a real cluster), shared by every apiserver. A Node is Ready while its kubelet's last successful
 * heartbeat is younger than `nodeGraceMs`; it starts NotReady until the first heartbeat. A timer checks
 * transitions and records each Ready→NotReady one in the ledger, once.
 *
 * Deviation: every lab node has a Node object from the start (a real Node appears when its kubelet first
 * registers); it shows NotReady (reason NodeStatusNeverUpdated) until its first heartbeat.
 */
import { randomUUID } from 'node:crypto';
import type { LabCluster, LabNode } from '../core/model.js';
import type { NodeView } from './objects.js';
import { ChangeHistory } from './watch-stream.js';

/** A change of a Node as a watch sends it: its Ready condition moved (MODIFIED) or it was deleted. */
export interface NodeEvent {
  type: 'MODIFIED' | 'DELETED';
  /** The Node as it is after the change (a deletion: as it was), at the change's resourceVersion. */
  view: NodeView;
  resourceVersion: number;
}

/** How many Node changes are kept for watches that start from a resourceVersion. */
const NODE_HISTORY_LIMIT = 1_000;

interface Entry {
  node: LabNode;
  uid: string;
  createdAt: Date;
  lastHeartbeat: Date | null;
  /** Readiness as last published (by the transition check or a heartbeat). */
  ready: boolean;
  lastTransition: Date;
  leaseVersion: number;
}

export class NodeRegistry {
  readonly #cluster: LabCluster;
  readonly #now: () => Date;
  readonly #byName = new Map<string, Entry>();
  readonly #byAddress = new Map<string, Entry>();
  #version = 1;
  #timer: NodeJS.Timeout | null = null;
  /** The Node changes, for watches (`kubectl get nodes -w`). */
  readonly changes = new ChangeHistory<NodeEvent>(NODE_HISTORY_LIMIT, 1);

  constructor(cluster: LabCluster, now: () => Date = () => new Date()) {
    this.#cluster = cluster;
    this.#now = now;
    const created = now();
    for (const node of cluster.nodes) {
      node.once('removed', () => this.delete(node.address));
      const entry: Entry = {
        node,
        uid: randomUUID(),
        createdAt: created,
        lastHeartbeat: null,
        ready: false,
        lastTransition: created,
        leaseVersion: 0,
      };
      this.#byName.set(node.hostname, entry);
      this.#byAddress.set(node.address, entry);
    }
  }

  /** Start the periodic transition check (node lifecycle controller). */
  start(): void {
    const period = Math.max(50, Math.min(500, Math.floor(this.#cluster.timings.nodeGraceMs / 10)));
    this.#timer = setInterval(() => this.checkTransitions(), period);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  has(name: string): boolean {
    return this.#byName.has(name);
  }

  /** `kubectl delete node`: the Node and its Lease are gone (a removed machine's kubelet never comes back). */
  delete(address: string): void {
    const e = this.#byAddress.get(address);
    if (!e) return;
    this.#byAddress.delete(address);
    this.#byName.delete(e.node.hostname);
    this.#version += 1;
    this.#publish('DELETED', e);
  }

  /**
   * Tells watchers of a change to a Node's object: its Ready condition (the node lifecycle controller, or a
   * heartbeat after NotReady) or its deletion. A heartbeat that changes nothing the Node shows is not one: the
   * kubelet renews its Lease (heartbeat) and writes its Node status only on a change.
   */
  #publish(type: NodeEvent['type'], e: Entry): void {
    this.changes.record({ type, view: this.#view(e, this.#now()), resourceVersion: this.#version });
  }

  get resourceVersion(): string {
    return String(this.#version);
  }

  /** A successful kubelet heartbeat (Lease renewal or Node status update) for Node `name`. */
  heartbeat(name: string): { leaseVersion: number; at: Date } | null {
    const e = this.#byName.get(name);
    if (!e) return null;
    const now = this.#now();
    e.lastHeartbeat = now;
    e.leaseVersion += 1;
    this.#version += 1;
    if (!e.ready) {
      e.ready = true;
      e.lastTransition = now;
      this.#publish('MODIFIED', e);
    }
    return { leaseVersion: e.leaseVersion, at: now };
  }

  /** The node Leases: one per Node renewed at least once, `renewTime` = its last renewal. */
  leases(): { name: string; renewTime: Date; resourceVersion: string }[] {
    const out: { name: string; renewTime: Date; resourceVersion: string }[] = [];
    for (const e of this.#byName.values())
      if (e.lastHeartbeat)
        out.push({ name: e.node.hostname, renewTime: e.lastHeartbeat, resourceVersion: String(e.leaseVersion) });
    return out;
  }

  lastHeartbeat(name: string): Date | null {
    return this.#byName.get(name)?.lastHeartbeat ?? null;
  }

  #liveReady(e: Entry, now: Date): boolean {
    return e.lastHeartbeat !== null && now.getTime() - e.lastHeartbeat.getTime() < this.#cluster.timings.nodeGraceMs;
  }

  /** Ready now (heartbeat younger than the grace period), by node address. */
  isReady(address: string): boolean {
    const e = this.#byAddress.get(address);
    return e !== undefined && this.#liveReady(e, this.#now());
  }

  /** Publish transitions; each Ready→NotReady is one ledger event. */
  checkTransitions(): void {
    const now = this.#now();
    for (const e of this.#byName.values()) {
      const ready = this.#liveReady(e, now);
      if (ready === e.ready) continue;
      e.ready = ready;
      e.lastTransition = now;
      this.#version += 1;
      this.#publish('MODIFIED', e);
      if (!ready) this.#cluster.ledger.notReady(e.node.address, e.lastHeartbeat);
    }
  }

  views(): NodeView[] {
    const now = this.#now();
    return [...this.#byName.values()].map((e) => this.#view(e, now));
  }

  view(name: string): NodeView | null {
    const e = this.#byName.get(name);
    return e ? this.#view(e, this.#now()) : null;
  }

  #view(e: Entry, now: Date): NodeView {
    return {
      name: e.node.hostname,
      address: e.node.address,
      controlPlane: e.node.role === 'controlplane',
      uid: e.uid,
      createdAt: e.createdAt,
      lastHeartbeat: e.lastHeartbeat,
      // What the API shows follows the grace period at once, not the next transition tick.
      ready: this.#liveReady(e, now),
      lastTransition: e.lastTransition,
      resourceVersion: this.resourceVersion,
      osImage: `Talos (${e.node.talosTag})`,
    };
  }
}
