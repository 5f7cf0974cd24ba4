/** A bounded map that evicts the least recently used key (Map keeps insertion order). */
export class Lru<K, V> {
  readonly #map = new Map<K, V>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`LRU capacity must be ≥ 1, got ${capacity}`);
  }

  get size(): number {
    return this.#map.size;
  }

  /** Returns the value and marks the key most recently used. */
  get(key: K): V | undefined {
    const v = this.#map.get(key);
    if (v === undefined) return undefined;
    this.#map.delete(key);
    this.#map.set(key, v);
    return v;
  }

  /** Returns the value without touching recency. */
  peek(key: K): V | undefined {
    return this.#map.get(key);
  }

  /** Inserts or replaces; returns the evicted entry, if any. */
  set(key: K, value: V): [K, V] | undefined {
    this.#map.delete(key);
    this.#map.set(key, value);
    if (this.#map.size <= this.capacity) return undefined;
    const oldest = this.#map.entries().next();
    if (oldest.done === true) return undefined;
    this.#map.delete(oldest.value[0]);
    return oldest.value;
  }

  delete(key: K): boolean {
    return this.#map.delete(key);
  }

  clear(): void {
    this.#map.clear();
  }
}
