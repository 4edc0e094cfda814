import { LRUCache } from 'lru-cache';

/**
 * A size- and age-bounded LRU map (lru-cache) whose dropped values — evicted, expired,
 * replaced, deleted or cleared — are handed to `dispose` (to zero key material). A periodic
 * sweep disposes expired values nobody asks for again, so key material does not outlive its TTL
 * in memory. Note lru-cache's clock: an entry is stale once older than `ttlMs`.
 */
export class BoundedCache<K extends {}, V extends {}> {
  private readonly entries: LRUCache<K, V> | undefined;
  private sweeper: NodeJS.Timeout | undefined;

  constructor(
    maxEntries: number,
    ttlMs: number,
    private readonly dispose: (value: V) => void = () => undefined,
    now: () => number = Date.now,
  ) {
    if (maxEntries <= 0) return;
    this.entries = new LRUCache<K, V>({
      max: maxEntries,
      ...(ttlMs > 0 ? { ttl: ttlMs, ttlResolution: 0, perf: { now } } : {}),
      dispose: (value) => this.dispose(value),
    });
    if (ttlMs > 0) {
      this.sweeper = setInterval(() => this.sweep(), Math.max(1_000, Math.floor(ttlMs / 2)));
      this.sweeper.unref();
    }
  }

  get size(): number {
    return this.entries?.size ?? 0;
  }

  get(key: K): V | undefined {
    return this.entries?.get(key);
  }

  /** Stores `value` (disposing a previous one under the key); with a bound of 0 it is disposed at once. */
  set(key: K, value: V): void {
    if (!this.entries) {
      this.dispose(value);
      return;
    }
    this.entries.set(key, value);
  }

  delete(key: K): void {
    this.entries?.delete(key);
  }

  /** Deletes every entry whose key matches. */
  deleteWhere(predicate: (key: K) => boolean): void {
    if (!this.entries) return;
    for (const key of [...this.entries.keys()]) if (predicate(key)) this.entries.delete(key);
  }

  clear(): void {
    this.entries?.clear();
  }

  sweep(): void {
    this.entries?.purgeStale();
  }

  close(): void {
    if (this.sweeper) clearInterval(this.sweeper);
    this.sweeper = undefined;
    this.clear();
  }
}
