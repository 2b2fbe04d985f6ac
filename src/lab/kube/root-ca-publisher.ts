/**
 * The `kube-root-ca.crt` ConfigMaps and kube-controller-manager's root-CA publisher (talos-behaviour.md §5.4).
 *
 * Talos renders the controller-manager's `ca.crt` from the issuing Kubernetes CA alone
 * (`internal/app/machined/pkg/controllers/k8s/render_secrets_static_pod.go`: IssuingCA → `ca.crt`, while the
 * apiserver's `ca.crt` is the accepted bundle) and passes it as `--root-ca-file` (v1.13.9
 * `k8s/control_plane_static_pod.go`; HEAD `k8s/control_plane_final.go`). Kubernetes' root-CA publisher
 * (`pkg/controller/certificates/rootcacertpublisher`) runs in the controller-manager holding the leader
 * lease and writes that file, as it is, into the `kube-root-ca.crt` ConfigMap (key `ca.crt`) of every
 * namespace, overwriting what was there. So the ConfigMap follows whichever controller-manager leads, with
 * whatever CA that controller-manager currently runs with (ControllerManager.rootCaPem), not with what a
 * config says.
 */
import { randomUUID } from 'node:crypto';
import type { ControllerManager } from './controller-manager.js';
import { NamespacedStore, storeKey } from './namespaced-store.js';
import { ChangeHistory } from './watch-stream.js';

export const ROOT_CA_CONFIGMAP = 'kube-root-ca.crt';
export const ROOT_CA_KEY = 'ca.crt';
/** The namespaces every cluster has (the lab creates no others). */
export const NAMESPACES = ['default', 'kube-node-lease', 'kube-public', 'kube-system'] as const;

/** How often the publisher compares the leader's root CA with the ConfigMaps (it also syncs on every leader change). */
const RESYNC_MS = 250;

export interface ConfigMapView {
  namespace: string;
  name: string;
  uid: string;
  createdAt: Date;
  resourceVersion: string;
  data: Record<string, string>;
  /** `metadata.labels` and `metadata.annotations` as clients wrote them (the lab's own ConfigMaps have none). */
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** What a client writes into a ConfigMap's metadata besides its name. */
export interface ConfigMapMeta {
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** Equal maps, whatever their key order (etcd holds Go's encoding, which sorts map keys). */
function sameMap(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ka = Object.keys(a ?? {});
  return ka.length === Object.keys(b ?? {}).length && ka.every((k) => b?.[k] === a?.[k]);
}

/** The map, or nothing when empty (Go's encoding omits an empty map). */
const nonEmpty = (m: Record<string, string> | undefined) => (m && Object.keys(m).length > 0 ? { ...m } : undefined);

/** A change as a watch reports it: the object as it was written (as it was last, for a deletion). */
export interface ConfigMapEvent {
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  object: ConfigMapView;
  /** The change's resourceVersion (a deletion's own, as the DELETED event's object carries it). */
  resourceVersion: number;
  /** The object before a MODIFIED change (a watch with a selector tells entering and leaving it apart). */
  prev?: ConfigMapView;
}

/** How many changes the store keeps for watches that start from a resourceVersion (its "watch window"). */
const HISTORY_LIMIT = 1_000;

/**
 * ConfigMaps, stored cluster-wide (as in etcd): the publisher, the apiservers' trust controllers (extension-auth.ts)
 * and admin clients write them. The last changes are kept for watches (`changes`).
 */
export class ConfigMapStore extends NamespacedStore<ConfigMapView> {
  readonly #listeners = new Set<(cm: ConfigMapView) => void>();
  readonly #deleteListeners = new Set<(cm: ConfigMapView) => void>();
  readonly #deletions = new Map<string, number>();
  /** The last changes and the live ones, for watches. */
  readonly changes = new ChangeHistory<ConfigMapEvent>(HISTORY_LIMIT, Number(this.resourceVersion));

  /** Create or update; nothing changes (no new resourceVersion, no notification) when the data is equal. */
  put(namespace: string, name: string, data: Record<string, string>): void {
    const prev = this.items.get(storeKey(namespace, name));
    if (prev && sameMap(prev.data, data)) return;
    this.#write(prev ? { ...prev, data } : { namespace, name, uid: randomUUID(), createdAt: new Date(), data });
  }

  /** Called after every change; returns the unsubscribe function. */
  subscribe(fn: (cm: ConfigMapView) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  /**
   * An update as kube-apiserver's ConfigMap registry does it (`pkg/registry/core/configmap/strategy.go`:
   * AllowUnconditionalUpdate, not AllowCreateOnUpdate): `expected` null updates unconditionally, a stale
   * one is a conflict, a missing object is not found. An update that changes nothing writes nothing: the
   * object keeps its resourceVersion and no one is notified, as the storage layer skips a write whose encoded
   * object equals the stored one (k8s.io/apiserver `pkg/storage/etcd3/store.go` GuaranteedUpdate).
   * `meta` replaces the labels and annotations (a client's update); without it they stay (a controller's).
   */
  update(
    namespace: string,
    name: string,
    data: Record<string, string>,
    expected: string | null,
    meta?: ConfigMapMeta,
  ): ConfigMapView | 'conflict' | 'not-found' {
    const key = storeKey(namespace, name);
    const prev = this.items.get(key);
    if (!prev) return 'not-found';
    if (expected !== null && expected !== prev.resourceVersion) return 'conflict';
    const labels = meta ? nonEmpty(meta.labels) : prev.labels;
    const annotations = meta ? nonEmpty(meta.annotations) : prev.annotations;
    if (sameMap(prev.data, data) && sameMap(prev.labels, labels) && sameMap(prev.annotations, annotations)) return prev;
    return this.#write({ ...prev, data, labels, annotations });
  }

  /** Create; an existing object is a conflict (AlreadyExists). */
  create(
    namespace: string,
    name: string,
    data: Record<string, string>,
    meta: ConfigMapMeta = {},
  ): ConfigMapView | 'exists' {
    const key = storeKey(namespace, name);
    if (this.items.has(key)) return 'exists';
    const { labels, annotations } = meta;
    return this.#write({ namespace, name, uid: randomUUID(), createdAt: new Date(), data, labels, annotations });
  }

  /** Stores the object at a new resourceVersion (empty label and annotation maps left out) and tells listeners. */
  #write(o: Omit<ConfigMapView, 'resourceVersion'>): ConfigMapView {
    const labels = nonEmpty(o.labels);
    const annotations = nonEmpty(o.annotations);
    const view: ConfigMapView = {
      namespace: o.namespace,
      name: o.name,
      uid: o.uid,
      createdAt: o.createdAt,
      resourceVersion: this.nextVersion(),
      data: { ...o.data },
      ...(labels ? { labels } : {}),
      ...(annotations ? { annotations } : {}),
    };
    const key = storeKey(o.namespace, o.name);
    const prev = this.items.get(key);
    this.items.set(key, view);
    const resourceVersion = Number(view.resourceVersion);
    this.changes.record(
      prev
        ? { type: 'MODIFIED', object: view, resourceVersion, prev }
        : { type: 'ADDED', object: view, resourceVersion },
    );
    for (const fn of this.#listeners) fn(view);
    return view;
  }

  /** Delete; counted per object (`deletions`), and told to `subscribeDeletes` listeners. */
  delete(namespace: string, name: string): ConfigMapView | null {
    const key = storeKey(namespace, name);
    const prev = this.items.get(key);
    if (!prev) return null;
    this.items.delete(key);
    const resourceVersion = this.nextVersion();
    this.changes.record({
      type: 'DELETED',
      object: { ...prev, resourceVersion },
      resourceVersion: Number(resourceVersion),
    });
    this.#deletions.set(key, (this.#deletions.get(key) ?? 0) + 1);
    for (const fn of this.#deleteListeners) fn(prev);
    return prev;
  }

  /** How many times the object was deleted since the lab started. */
  deletions(namespace: string, name: string): number {
    return this.#deletions.get(storeKey(namespace, name)) ?? 0;
  }

  subscribeDeletes(fn: (cm: ConfigMapView) => void): () => void {
    this.#deleteListeners.add(fn);
    return () => this.#deleteListeners.delete(fn);
  }
}

export class RootCaPublisher {
  readonly #store: ConfigMapStore;
  readonly #cm: ControllerManager;
  readonly #namespaces: readonly string[];
  #timer: NodeJS.Timeout | null = null;

  /** `extraNamespaces`: namespaces the lab's workloads add (the publisher writes every namespace). */
  constructor(store: ConfigMapStore, controllerManager: ControllerManager, extraNamespaces: readonly string[] = []) {
    this.#store = store;
    this.#cm = controllerManager;
    this.#namespaces = [
      ...NAMESPACES,
      ...extraNamespaces.filter((n) => !(NAMESPACES as readonly string[]).includes(n)),
    ];
  }

  /** Every namespace of the lab (the publisher writes each one's kube-root-ca.crt). */
  get namespaces(): readonly string[] {
    return this.#namespaces;
  }

  start(): void {
    this.sync();
    this.#timer = setInterval(() => this.sync(), RESYNC_MS);
    this.#timer.unref();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }

  /** The leader's root CA into every namespace (no leader: the ConfigMaps keep what they hold). */
  sync(): void {
    const leader = this.#cm.leader();
    const pem = leader ? this.#cm.rootCaPem(leader) : null;
    if (pem === null) return;
    for (const ns of this.#namespaces) this.#store.put(ns, ROOT_CA_CONFIGMAP, { [ROOT_CA_KEY]: pem });
  }
}
