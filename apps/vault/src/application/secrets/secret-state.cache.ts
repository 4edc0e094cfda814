import { LRUCache } from 'lru-cache';
import { counter } from '#libs/platform';
import type { InvalidatedCache } from '../../adapters/persistence/secret-change.listener.js';
import type { SecretState } from '../../domain/secret/secret.decider.js';
import type { SecretVersionCacheOptions } from './secret-version.cache.js';

const lookups = counter('keyledger_vault_secret_state_cache_total', 'Secret decider-state cache lookups by outcome (a hit spares a SET its state read)', ['outcome']);

/** A secret's decider state and the stream version it was decided at (the append's expected version). */
export type CachedSecretState = { readonly state: SecretState; readonly streamVersion: number };

/** What is known of a secret's changes since the cache started tracking it. */
type Change = {
  /** The highest stream version known to be committed (0: none known). */
  readonly version: number;
  /** `seq` of the last change whose version is unknown (an append whose outcome is unknown, a conflict). */
  readonly unknownAt: number;
};

/**
 * The decider state of secrets this process wrote last (the state after its own commit, with
 * the stream version it committed), so that the next SET of the same secret decides without
 * reading it from PostgreSQL.
 *
 * Never trusted for correctness: an append made from a cached state still expects its stream
 * version, so a state that another process changed meanwhile fails with a version conflict
 * and the command is decided again on state read afresh (the caller drops the entry). A
 * refusal decided on a cached state is decided again on fresh state too (see SecretsService).
 *
 * Kept current as the secret-version cache is: every change notification of another process
 * (`SecretChangeListener`, payload `{key}@{version}`) drops an entry older than the version it
 * announces (this process's own notifications, for versions it already holds, leave it); a
 * notification without a version, a rebuild (`*`) or a lost listener drop it or everything;
 * while not listening nothing is served or stored; entries live at most `ttlMs`. A state is
 * stored only if nothing newer was announced since (`store` with the token of `begin`).
 */
export class SecretStateCache implements InvalidatedCache {
  private readonly entries: LRUCache<string, CachedSecretState> | undefined;
  /** Changes announced per secret (bounded; a forgotten one can only cost a version conflict). */
  private readonly changes: LRUCache<string, Change> | undefined;
  private seq = 0;
  private allInvalidatedAt = 0;
  private listening: boolean;

  constructor(options: SecretVersionCacheOptions, listening = true) {
    this.listening = listening;
    if (options.maxEntries > 0) {
      this.entries = new LRUCache<string, CachedSecretState>({ max: options.maxEntries, ttl: options.ttlMs, ttlResolution: 0 });
      this.changes = new LRUCache<string, Change>({ max: options.maxEntries * 4 });
    }
  }

  get size(): number {
    return this.entries?.size ?? 0;
  }

  get(key: string): CachedSecretState | undefined {
    if (!this.entries || !this.listening) return undefined;
    const hit = this.entries.get(key);
    lookups.inc({ outcome: hit ? 'hit' : 'miss' });
    return hit;
  }

  /** A command begins deciding: pass the token to `store` once its append committed. */
  begin(): number {
    return this.seq;
  }

  /** The state after a commit of this process: kept unless something newer was announced, or its outcome became unknown, since `begin`. */
  store(key: string, token: number, loaded: CachedSecretState): void {
    if (!this.entries || !this.listening || this.allInvalidatedAt > token) return;
    const change = this.changes?.get(key);
    if (change && (change.unknownAt > token || change.version > loaded.streamVersion)) return;
    const current = this.entries.peek(key);
    if (current && current.streamVersion >= loaded.streamVersion) return;
    this.entries.set(key, loaded);
  }

  /**
   * The secret changed: at `version` when it is known (its entry goes if older), else at an
   * unknown version (its entry goes, and nothing decided before this is stored).
   */
  invalidate(key: string, version?: number): void {
    if (!this.entries || !this.changes) return;
    const at = ++this.seq;
    const prev = this.changes.get(key);
    this.changes.set(key, {
      version: Math.max(prev?.version ?? 0, version ?? 0),
      unknownAt: version === undefined ? at : (prev?.unknownAt ?? 0),
    });
    const entry = this.entries.peek(key);
    if (entry && (version === undefined || entry.streamVersion < version)) this.entries.delete(key);
  }

  invalidateAll(): void {
    this.allInvalidatedAt = ++this.seq;
    this.entries?.clear();
    this.changes?.clear();
  }

  setListening(listening: boolean): void {
    this.invalidateAll();
    this.listening = listening;
  }
}
