/**
 * A watch as kube-apiserver's watch handler streams it (pure): without a `resourceVersion` (or with "0") the
 * current objects as ADDED first, from one the changes after it, an ERROR event with a 410 Expired Status when
 * those have left the store's history, then every later change, until `timeoutSeconds`. The stores (the
 * workload objects, ConfigMaps, Nodes) say what their changes are; each watch says which it sends and how.
 */
import { tooOldResourceVersion, watchTimeoutMs } from './list-paging.js';
import { badRequest, type KubeObject } from './objects.js';

export interface WatchStream {
  /** Sent at once: the current state (ADDED), or the changes after the requested resourceVersion. */
  initial: KubeObject[];
  /** Sends each later change; returns the unsubscribe function. */
  subscribe(send: (event: KubeObject) => void): () => void;
  /** The server ends the watch after this long (`timeoutSeconds`). */
  timeoutMs: number;
}

/** Where a watch's changes come from: a store's bounded history and its live changes. */
export interface ChangeSource<E> {
  /** The changes after `resourceVersion`, or null when some have left the history. */
  eventsSince(resourceVersion: number): E[] | null;
  readonly oldestResourceVersion: number;
  subscribe(fn: (change: E) => void): () => void;
}

/**
 * A store's last changes, kept for watches that start from a resourceVersion (its "watch window", as the
 * watch cache's), and its live changes told to subscribers: one per store that is not an object store of its
 * own (ConfigMaps, Nodes).
 */
export class ChangeHistory<E extends { resourceVersion: number }> implements ChangeSource<E> {
  readonly #changes: E[] = [];
  readonly #listeners = new Set<(change: E) => void>();
  /** Changes at or below this resourceVersion have left the history. */
  #forgottenUpTo: number;

  constructor(
    readonly limit: number,
    startsAt: number,
  ) {
    this.#forgottenUpTo = startsAt;
  }

  /** Keeps `change` (the oldest leaves past the limit) and tells every subscriber. */
  record(change: E): void {
    this.#changes.push(change);
    if (this.#changes.length > this.limit) this.#forgottenUpTo = this.#changes.shift()!.resourceVersion;
    for (const fn of this.#listeners) fn(change);
  }

  subscribe(fn: (change: E) => void): () => void {
    this.#listeners.add(fn);
    return () => this.#listeners.delete(fn);
  }

  eventsSince(resourceVersion: number): E[] | null {
    if (resourceVersion < this.#forgottenUpTo) return null;
    return this.#changes.filter((e) => e.resourceVersion > resourceVersion);
  }

  /** The oldest resourceVersion a watch can start from. */
  get oldestResourceVersion(): number {
    return this.#forgottenUpTo;
  }
}

/**
 * The stream of a watch request: `current` renders the objects it selects now (ADDED), `event` the watch event
 * a change is for this watch, or null when it is none of its business. A `resourceVersion` that is no number is
 * a 400.
 */
export function watchStream<E>(
  query: URLSearchParams,
  source: ChangeSource<E>,
  current: () => KubeObject[],
  event: (change: E) => KubeObject | null,
): WatchStream | { status: KubeObject } {
  const timeoutMs = watchTimeoutMs(query);
  const rv = query.get('resourceVersion');
  let initial: KubeObject[];
  if (rv === null || rv === '' || rv === '0') initial = current().map((object) => ({ type: 'ADDED', object }));
  else {
    if (!/^\d+$/.test(rv)) return { status: badRequest(`invalid resource version: ${rv}`) };
    const changes = source.eventsSince(Number(rv));
    if (changes === null) {
      const expired = tooOldResourceVersion(rv, source.oldestResourceVersion);
      return { initial: [{ type: 'ERROR', object: expired }], subscribe: () => () => undefined, timeoutMs };
    }
    initial = changes.map(event).filter((x): x is KubeObject => x !== null);
  }
  return {
    initial,
    subscribe: (send) =>
      source.subscribe((change) => {
        const sent = event(change);
        if (sent) send(sent);
      }),
    timeoutMs,
  };
}
