/**
 * A Map that holds at most `limit` entries and drops the oldest first: the memos of parsed certificates,
 * config views and TLS contexts that the same few inputs hit again and again, bounded so that a long run
 * (a lab up for days, an apply over a large fleet) does not keep every input it ever saw.
 * `recent-use` order makes a read entry the newest (least recently used goes first); `insertion` order
 * drops the first inserted, however often it is read.
 */
export class BoundedMap<K, V> {
  readonly #map = new Map<K, V>();

  constructor(
    readonly limit: number,
    readonly order: 'insertion' | 'recent-use' = 'insertion',
  ) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`BoundedMap limit must be ≥ 1, got ${limit}`);
  }

  get size(): number {
    return this.#map.size;
  }

  has(key: K): boolean {
    return this.#map.has(key);
  }

  get(key: K): V | undefined {
    if (!this.#map.has(key)) return undefined;
    const value = this.#map.get(key) as V;
    if (this.order === 'recent-use') {
      this.#map.delete(key);
      this.#map.set(key, value);
    }
    return value;
  }

  /** Stores `value` as the newest entry (dropping the oldest past the limit) and returns it. */
  set(key: K, value: V): V {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size > this.limit) this.#map.delete(this.#map.keys().next().value as K);
    return value;
  }

  /** The value kept for `key`, or `make()`'s, kept; a `make` that throws keeps nothing. */
  getOrSet(key: K, make: () => V): V {
    return this.has(key) ? (this.get(key) as V) : this.set(key, make());
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }
}
