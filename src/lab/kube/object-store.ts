/**
 * The workload objects' storage (as etcd behind kube-apiserver): Pods, ReplicaSets, Deployments,
 * DaemonSets, StatefulSets, Jobs, PodDisruptionBudgets, Secrets, kept as the JSON the API serves. One
 * resourceVersion counter for all of them, bumped on every write; a bounded event log answers watches
 * that start from a resourceVersion (older than the log: 410 Expired, as after a compaction).
 *
 * The store sets what kube-apiserver's registry sets on write: uid, creationTimestamp, resourceVersion, and
 * for workloads `metadata.generation` (1 at creation, +1 on every change of `spec`; status writes never
 * bump it).
 */
import { randomUUID } from 'node:crypto';
import type { KubeObject } from './objects.js';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
  generateName?: string;
}

export type Stored = KubeObject & {
  metadata: ObjectMeta;
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
};

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: WatchEventType;
  resource: string;
  rv: number;
  object: Stored;
  /** The object before a MODIFIED change (a watch with a selector tells entering and leaving it apart). */
  prev?: Stored;
}

/** Resources whose objects carry `metadata.generation`. */
const GENERATION = new Set([
  'deployments',
  'replicasets',
  'daemonsets',
  'statefulsets',
  'jobs',
  'poddisruptionbudgets',
]);
const LOG_SIZE = 2_000;

const stamp = (d: Date): string => d.toISOString().replace(/\.\d{3}Z$/, 'Z');
const clone = <T>(v: T): T => JSON.parse(JSON.stringify(v)) as T;
const keyOf = (namespace: string | undefined, name: string): string => `${namespace ?? ''}/${name}`;

export class ObjectStore {
  readonly #items = new Map<string, Map<string, Stored>>();
  readonly #log: StoreEvent[] = [];
  readonly #listeners = new Set<(e: StoreEvent) => void>();
  #rv = 1;

  get resourceVersion(): number {
    return this.#rv;
  }

  /** The oldest resourceVersion a watch or continue token can start from. */
  get oldestResourceVersion(): number {
    return this.#log.length === LOG_SIZE ? this.#log[0]!.rv : 1;
  }

  #bucket(resource: string): Map<string, Stored> {
    let b = this.#items.get(resource);
    if (!b) this.#items.set(resource, (b = new Map()));
    return b;
  }

  #emit(type: WatchEventType, resource: string, object: Stored, prev?: Stored): void {
    const e: StoreEvent = { type, resource, rv: this.#rv, object, ...(prev ? { prev } : {}) };
    this.#log.push(e);
    if (this.#log.length > LOG_SIZE) this.#log.shift();
    for (const fn of this.#listeners) fn(e);
  }

  get(resource: string, namespace: string | undefined, name: string): Stored | undefined {
    return this.#items.get(resource)?.get(keyOf(namespace, name));
  }

  list(resource: string, namespace?: string): Stored[] {
    return [...(this.#items.get(resource)?.values() ?? [])].filter(
      (o) => namespace === undefined || o.metadata.namespace === namespace,
    );
  }

  /** Stores a new object (a copy); null when the name is taken. `generateName` picks a free name. */
  create(resource: string, object: Stored, now = new Date()): Stored | null {
    const o = clone(object);
    const b = this.#bucket(resource);
    if (!o.metadata.name && o.metadata.generateName) {
      do o.metadata.name = `${o.metadata.generateName}${randomSuffix()}`;
      while (b.has(keyOf(o.metadata.namespace, o.metadata.name)));
    }
    const key = keyOf(o.metadata.namespace, o.metadata.name);
    if (b.has(key)) return null;
    this.#rv += 1;
    o.metadata.uid = randomUUID();
    o.metadata.creationTimestamp = stamp(now);
    o.metadata.resourceVersion = String(this.#rv);
    if (GENERATION.has(resource)) o.metadata.generation = 1;
    b.set(key, o);
    this.#emit('ADDED', resource, o);
    return o;
  }

  /**
   * Replaces an object with `next` (a copy), keeping what the registry owns (uid, creationTimestamp);
   * bumps `generation` when `spec` changed. Returns the stored object, or the current one when nothing changed.
   */
  update(resource: string, next: Stored): Stored | null {
    const b = this.#items.get(resource);
    const key = keyOf(next.metadata.namespace, next.metadata.name);
    const prev = b?.get(key);
    if (!b || !prev) return null;
    const o = clone(next);
    o.metadata.uid = prev.metadata.uid!;
    o.metadata.creationTimestamp = prev.metadata.creationTimestamp!;
    o.metadata.resourceVersion = prev.metadata.resourceVersion!;
    if (GENERATION.has(resource)) {
      const specChanged = JSON.stringify(prev.spec ?? null) !== JSON.stringify(o.spec ?? null);
      o.metadata.generation = (prev.metadata.generation ?? 1) + (specChanged ? 1 : 0);
    }
    if (JSON.stringify(o) === JSON.stringify(prev)) return prev;
    this.#rv += 1;
    o.metadata.resourceVersion = String(this.#rv);
    b.set(key, o);
    this.#emit('MODIFIED', resource, o, prev);
    return o;
  }

  /** Updates only `status` (the status subresource: never bumps generation). */
  updateStatus(
    resource: string,
    namespace: string | undefined,
    name: string,
    status: Record<string, unknown>,
  ): Stored | null {
    const prev = this.get(resource, namespace, name);
    if (!prev) return null;
    return this.update(resource, { ...prev, status });
  }

  delete(resource: string, namespace: string | undefined, name: string): Stored | null {
    const b = this.#items.get(resource);
    const key = keyOf(namespace, name);
    const prev = b?.get(key);
    if (!b || !prev) return null;
    this.#rv += 1;
    b.delete(key);
    const gone = { ...prev, metadata: { ...prev.metadata, resourceVersion: String(this.#rv) } };
    this.#emit('DELETED', resource, gone);
    return gone;
  }

  /**
   * Records a change of an object kept elsewhere (the mirror pods, static-pods.ts): the object at a new
   * resourceVersion in the one history, told to watchers, not stored. Returns that resourceVersion.
   */
  publish(resource: string, type: WatchEventType, object: KubeObject, prev?: KubeObject): number {
    this.#rv += 1;
    const o = clone(object) as Stored;
    o.metadata = { ...o.metadata, resourceVersion: String(this.#rv) };
    this.#emit(type, resource, o, prev as Stored | undefined);
    return this.#rv;
  }

  /** Events of `resource` after `rv`; null when `rv` is older than the log (410 Expired). */
  eventsSince(resource: string, rv: number): StoreEvent[] | null {
    if (rv < this.oldestResourceVersion - 1 && this.#log.length === LOG_SIZE) return null;
    return this.#log.filter((e) => e.resource === resource && e.rv > rv);
  }

  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }
}

const SUFFIX_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** The 5-character suffix of generated names (k8s.io/apimachinery/pkg/util/rand.String's alphabet). */
export function randomSuffix(n = 5): string {
  let s = '';
  for (let i = 0; i < n; i++) s += SUFFIX_ALPHABET[Math.floor(Math.random() * SUFFIX_ALPHABET.length)];
  return s;
}

/** A stable short hash in the same alphabet (pod-template-hash, controller-revision-hash). */
export function templateHash(template: unknown, n = 10): string {
  // FNV-1a 32-bit over the JSON, then digits of the safe alphabet (as rand.SafeEncodeString renders a hash).
  const text = JSON.stringify(template ?? null);
  let h1 = 0x811c9dc5;
  let h2 = 0x01000193;
  for (let i = 0; i < text.length; i++) {
    h1 = Math.imul(h1 ^ text.charCodeAt(i), 0x01000193) >>> 0;
    h2 = Math.imul(h2 ^ text.charCodeAt(i), 0x5bd1e995) >>> 0;
  }
  let x = BigInt(h1) * 0x100000000n + BigInt(h2);
  let s = '';
  while (s.length < n) {
    s += SUFFIX_ALPHABET[Number(x % BigInt(SUFFIX_ALPHABET.length))];
    x /= BigInt(SUFFIX_ALPHABET.length);
    if (x === 0n) x = BigInt(h1 ^ h2) + 7n;
  }
  return s;
}
