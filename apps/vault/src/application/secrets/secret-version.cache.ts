import { LRUCache } from 'lru-cache';
import { counter } from '#libs/platform';
import type { InvalidatedCache } from '../../adapters/persistence/secret-change.listener.js';
import type { SecretVersionRow } from '../../adapters/persistence/secrets.repository.js';

const lookups = counter('keyledger_vault_secret_cache_total', 'Current-secret-version cache lookups by outcome', ['outcome']);

export type SecretVersionCacheOptions = {
  /** Most secrets held; 0 disables the cache (every read goes to PostgreSQL). */
  readonly maxEntries: number;
  /** Longest an entry is served, milliseconds: the bound on staleness should a change notification be lost. */
  readonly ttlMs: number;
};

export { secretCacheKey } from '../../adapters/persistence/secret-change.listener.js';

/**
 * The current version of recently read secrets, as the read model holds it — ciphertext
 * sealed under the secret's data key, never a value: a GET opens it per request with the data
 * key cache, as it opens a row read from PostgreSQL, so nothing readable is kept that was not
 * kept before (the data keys already were).
 *
 * Kept current by invalidation: this process drops a secret's entry as soon as its own change
 * commits (`invalidate`), and other processes' changes arrive as PostgreSQL notifications
 * (`SecretChangeListener`), which drop it too. A read that raced a change never stores what it
 * read: `fill` stores only if the secret was not invalidated since the read began (`begin`).
 * While notifications cannot be received (the listening connection is down) nothing is
 * stored or served (`setListening(false)`), and each entry lives at most `ttlMs`.
 */
export class SecretVersionCache implements InvalidatedCache {
  private readonly entries: LRUCache<string, SecretVersionRow> | undefined;
  /** Increases with every invalidation; a read remembers it when it begins. */
  private seq = 0;
  /** The last invalidation of each key, while reads are in flight (pruned when none is). */
  private readonly invalidatedAt = new Map<string, number>();
  /** Everything was invalidated at this seq (listener lost, rebuild, too many keys to track). */
  private allInvalidatedAt = 0;
  private readsInFlight = 0;
  private listening: boolean;

  constructor(options: SecretVersionCacheOptions, listening = true) {
    this.listening = listening;
    if (options.maxEntries > 0) this.entries = new LRUCache<string, SecretVersionRow>({ max: options.maxEntries, ttl: options.ttlMs, ttlResolution: 0 });
  }

  get size(): number {
    return this.entries?.size ?? 0;
  }

  /** The cached current version, if any (and if the cache can be trusted now). */
  get(key: string): SecretVersionRow | undefined {
    if (!this.entries || !this.listening) return undefined;
    const hit = this.entries.get(key);
    lookups.inc({ outcome: hit ? 'hit' : 'miss' });
    return hit;
  }

  /** A read of `key` from PostgreSQL begins: pass the token to `fill` (or `abandon`) when it ends. */
  begin(): number {
    this.readsInFlight++;
    return this.seq;
  }

  /** Stores what a read found, unless the secret changed (or everything was invalidated) since it began. */
  fill(key: string, token: number, row: SecretVersionRow | undefined): void {
    this.end();
    if (!this.entries || !this.listening || row === undefined) return;
    if (this.allInvalidatedAt > token || (this.invalidatedAt.get(key) ?? 0) > token) return;
    this.entries.set(key, row);
  }

  /** A read ended without a result to store (it failed). */
  abandon(): void {
    this.end();
  }

  /** The secret changed: its entry goes, and reads in flight will not store what they read. */
  invalidate(key: string): void {
    const at = ++this.seq;
    this.entries?.delete(key);
    if (this.readsInFlight === 0) return;
    if (this.invalidatedAt.size >= 10_000) this.invalidateAll();
    else this.invalidatedAt.set(key, at);
  }

  /** Everything goes (a rebuilt read model, a lost listener). */
  invalidateAll(): void {
    this.allInvalidatedAt = ++this.seq;
    this.invalidatedAt.clear();
    this.entries?.clear();
  }

  /** Whether other processes' changes reach this cache; while not, it neither serves nor stores. */
  setListening(listening: boolean): void {
    // Both ways: what was read while deaf may miss a change made meanwhile.
    this.invalidateAll();
    this.listening = listening;
  }

  private end(): void {
    this.readsInFlight--;
    if (this.readsInFlight === 0) this.invalidatedAt.clear();
  }
}
