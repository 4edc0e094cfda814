/**
 * A size- and age-bounded LRU map whose evicted values are handed to `dispose` (to zero
 * key material). Map insertion order is the recency order: a hit re-inserts the entry.
 */
export class BoundedCache<K, V> {
  private readonly entries = new Map<K, { value: V; expiresAt: number }>();
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    private readonly maxEntries: number,
    private readonly ttlMs: number,
    private readonly dispose: (value: V) => void = () => undefined,
    private readonly now: () => number = Date.now,
  ) {
    if (maxEntries > 0 && ttlMs > 0) {
      this.sweeper = setInterval(() => this.sweep(), Math.max(1_000, Math.floor(ttlMs / 2)));
      this.sweeper.unref();
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: K): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.delete(key);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  /** Stores `value` (disposing a previous one under the key); with a bound of 0 it is disposed at once. */
  set(key: K, value: V): void {
    if (this.maxEntries <= 0) {
      this.dispose(value);
      return;
    }
    const previous = this.entries.get(key);
    if (previous) {
      this.entries.delete(key);
      if (previous.value !== value) this.dispose(previous.value);
    }
    this.entries.set(key, { value, expiresAt: this.now() + this.ttlMs });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as K;
      this.delete(oldest);
    }
  }

  delete(key: K): void {
    const e = this.entries.get(key);
    if (!e) return;
    this.entries.delete(key);
    this.dispose(e.value);
  }

  /** Deletes every entry whose key matches. */
  deleteWhere(predicate: (key: K) => boolean): void {
    for (const key of [...this.entries.keys()]) if (predicate(key)) this.delete(key);
  }

  clear(): void {
    const values = [...this.entries.values()];
    this.entries.clear();
    for (const e of values) this.dispose(e.value);
  }

  sweep(): void {
    const now = this.now();
    for (const [key, e] of [...this.entries]) if (e.expiresAt <= now) this.delete(key);
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.clear();
  }
}
