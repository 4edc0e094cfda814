import { importJWK, type JWK } from 'jose';
import { DomainError, systemClock, type Clock } from '#libs/kernel';
import type { JwksSource } from './jwks.source.js';

/** The only signature algorithms accepted: asymmetric, as the identity service signs. */
export const ACCEPTED_ALGORITHMS = ['RS256', 'ES256'] as const;
export type AcceptedAlgorithm = (typeof ACCEPTED_ALGORITHMS)[number];

export function isAcceptedAlgorithm(alg: unknown): alg is AcceptedAlgorithm {
  return alg === 'RS256' || alg === 'ES256';
}

export type JwksKeyCacheOptions = {
  /**
   * Minimum seconds between two fetches (successful or not). An unknown `kid` triggers a refresh
   * only when this much time has passed since the last attempt, so forged kids cannot cause fetch
   * storms. Default 30 s.
   */
  readonly minRefreshIntervalSeconds?: number;
  /** Keys older than this are refreshed on next use (still rate limited). Default 600 s. */
  readonly maxAgeSeconds?: number;
  /** Clock in milliseconds (tests). */
  readonly now?: Clock;
  /** Called when a fetch fails or returns an unusable document (for logs/metrics; contains no token). */
  readonly onRefreshError?: (error: Error) => void;
};

type UsableJwk = JWK & { readonly kid: string; readonly kty: 'RSA' | 'EC' };

const MAX_KEYS = 100;

function usableKeys(doc: unknown): UsableJwk[] {
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) throw new Error('JWKS document has no "keys" array');
  const keys = (doc as { keys: unknown[] }).keys;
  if (keys.length > MAX_KEYS) throw new Error(`JWKS has more than ${MAX_KEYS} keys`);
  const out: UsableJwk[] = [];
  for (const k of keys) {
    if (typeof k !== 'object' || k === null) continue;
    const jwk = k as JWK;
    if (typeof jwk.kid !== 'string' || jwk.kid.length === 0) continue;
    // Only public asymmetric signing keys: never symmetric ("oct") keys, never anything with private parts.
    if (jwk.kty !== 'RSA' && jwk.kty !== 'EC') continue;
    if ('d' in jwk || 'p' in jwk || 'q' in jwk) continue;
    if (jwk.use !== undefined && jwk.use !== 'sig') continue;
    if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) continue;
    out.push(jwk as UsableJwk);
  }
  return out;
}

function fits(jwk: UsableJwk, alg: AcceptedAlgorithm): boolean {
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  return alg === 'RS256' ? jwk.kty === 'RSA' : jwk.kty === 'EC' && jwk.crv === 'P-256';
}

type VerificationKey = Awaited<ReturnType<typeof importJWK>>;

/**
 * Caches the identity service's public keys. Fetches are single-flight (concurrent callers share
 * one), rate limited (`minRefreshIntervalSeconds`), and a failed refresh keeps the previous keys.
 */
export class JwksKeyCache {
  private keys: UsableJwk[] = [];
  private loadedAt: number | undefined;
  private lastAttemptAt: number | undefined;
  private inflight: Promise<void> | undefined;
  private imported = new Map<string, Promise<VerificationKey>>();
  private readonly minIntervalMs: number;
  private readonly maxAgeMs: number;
  private readonly now: Clock;

  constructor(
    private readonly source: JwksSource,
    private readonly options: JwksKeyCacheOptions = {},
  ) {
    this.minIntervalMs = Math.max(0, (options.minRefreshIntervalSeconds ?? 30) * 1000);
    this.maxAgeMs = Math.max(0, (options.maxAgeSeconds ?? 600) * 1000);
    this.now = options.now ?? systemClock;
  }

  /**
   * The verification key for `kid` and `alg`. Throws `TokenKeyUnknown` when no published key
   * matches (after at most one rate-limited refresh), `JwksUnavailable` when no key set could be
   * loaded at all.
   */
  async getKey(kid: string, alg: AcceptedAlgorithm): Promise<VerificationKey> {
    if (this.loadedAt === undefined || this.now() - this.loadedAt >= this.maxAgeMs) await this.refresh();
    let jwk = this.find(kid, alg);
    if (jwk === undefined) {
      await this.refresh();
      jwk = this.find(kid, alg);
    }
    if (jwk === undefined) {
      if (this.loadedAt === undefined) throw new DomainError('JwksUnavailable', 'token signing keys could not be loaded');
      throw new DomainError('TokenKeyUnknown', 'token is signed with a key that is not published', { kid: kid.slice(0, 64) });
    }
    const cacheKey = `${alg}\u0000${kid}`;
    let key = this.imported.get(cacheKey);
    if (key === undefined) {
      key = importJWK(jwk, alg);
      this.imported.set(cacheKey, key);
      key.catch(() => this.imported.delete(cacheKey));
    }
    try {
      return await key;
    } catch {
      throw new DomainError('TokenKeyUnknown', 'published key cannot be used for verification', { kid: kid.slice(0, 64) });
    }
  }

  /** Fetches unless a fetch is running (joins it) or the last attempt is more recent than the minimum interval. */
  refresh(): Promise<void> {
    if (this.inflight !== undefined) return this.inflight;
    const now = this.now();
    if (this.lastAttemptAt !== undefined && now - this.lastAttemptAt < this.minIntervalMs) return Promise.resolve();
    this.lastAttemptAt = now;
    this.inflight = this.source
      .fetchJwks()
      .then((doc) => {
        this.keys = usableKeys(doc);
        this.loadedAt = this.now();
        this.imported = new Map();
      })
      .catch((err: unknown) => {
        this.options.onRefreshError?.(err instanceof Error ? err : new Error(String(err)));
      })
      .finally(() => {
        this.inflight = undefined;
      });
    return this.inflight;
  }

  /** Key ids currently cached (diagnostics). */
  kids(): string[] {
    return this.keys.map((k) => k.kid);
  }

  private find(kid: string, alg: AcceptedAlgorithm): UsableJwk | undefined {
    const matches = this.keys.filter((k) => k.kid === kid && fits(k, alg));
    return matches.length === 1 ? matches[0] : undefined;
  }
}
