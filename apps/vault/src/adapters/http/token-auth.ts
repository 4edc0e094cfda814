import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { buildBearerChallenge, parseBearerToken, type Principal, type TokenVerifier } from '#libs/auth';
import { DomainError } from '#libs/kernel';
import { HttpProblem } from './azure-errors.js';

/** Azure Key Vault's 401 messages for each token failure (as seen from the service). */
const MESSAGES: Readonly<Record<string, string>> = {
  TokenMissing: 'AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token.',
  TokenExpired: "[TokenExpired] Error validating token: 'S2S12086'.",
  TokenNotYetValid: "[TokenNotYetValid] Error validating token: 'S2S12087'.",
  TokenAudienceInvalid: 'AKV10022: Invalid audience.',
  TokenIssuerInvalid: 'AKV10032: Invalid issuer.',
  TokenTenantInvalid: 'AKV10032: Invalid issuer: the token was issued for a tenant this vault does not accept.',
  TokenKeyUnknown: 'AKV10046: Unable to resolve the key used for signature validation.',
  TokenAlgorithmRejected: "[BearerReadAccessTokenFailed] Error validating token: 'S2S12005'.",
  TokenInvalid: "[BearerReadAccessTokenFailed] Error validating token: 'S2S12005'.",
};

/**
 * Bearer-token authentication for the vault API: verification by `libs/auth` (signature,
 * issuer, audience, tenant, expiry), Azure's 401 answers with the challenge, and a bounded
 * cache (lru-cache) of verified tokens keyed by their SHA-256 (never the token) until they expire.
 */
export class TokenAuthenticator {
  private readonly cache: LRUCache<string, Principal> | undefined;

  constructor(
    private readonly verifier: TokenVerifier,
    /** The challenge's parts for a request that reached the vault at `origin` (the resource may carry its port). */
    private readonly challenge: (origin?: string) => { authority: string; tenantId: string | undefined; resource: string },
    maxEntries: number,
    private readonly now: () => number = Date.now,
    /** Managed HSM answers its 401 with the challenge and an empty body (recorded sessions); Key Vault with Azure's envelope. */
    private readonly emptyUnauthorizedBody = false,
  ) {
    if (maxEntries > 0) this.cache = new LRUCache<string, Principal>({ max: maxEntries, ttlResolution: 0, perf: { now: () => this.now() } });
  }

  /** The `WWW-Authenticate` value of a 401 (Azure's exact format) for a request to `origin`. */
  challengeHeader(origin?: string): string {
    const c = this.challenge(origin);
    if (!c.tenantId) throw new HttpProblem(503, 'ServiceUnavailable', 'The vault has not learned its tenant from the identity service yet. Retry later.');
    return buildBearerChallenge({ authority: c.authority, tenantId: c.tenantId, resource: c.resource });
  }

  unauthorized(code: string, origin?: string): HttpProblem {
    return new HttpProblem(401, 'Unauthorized', MESSAGES[code] ?? MESSAGES.TokenInvalid!, undefined, { 'www-authenticate': this.challengeHeader(origin) }, this.emptyUnauthorizedBody);
  }

  /** The caller of a request that reached the vault at `origin` (named in the challenge of a 401). */
  async authenticate(header: string | string[] | undefined, origin?: string): Promise<Principal> {
    let token: string;
    try {
      token = parseBearerToken(header);
    } catch (err) {
      throw this.unauthorized(err instanceof DomainError ? err.code : 'TokenInvalid', origin);
    }
    // One-shot digest (no Hash object per request).
    const key = hash('sha256', token, 'base64url');
    const hit = this.cache?.get(key);
    if (hit) return hit;
    let principal: Principal;
    try {
      principal = await this.verifier.verify(token);
    } catch (err) {
      if (err instanceof DomainError) {
        if (err.code === 'JwksUnavailable') throw err;
        throw this.unauthorized(err.code, origin);
      }
      throw err;
    }
    // Kept until the token expires (a per-entry TTL), least recently used out first.
    const ttl = principal.expiresAt * 1000 - this.now();
    if (ttl > 0) this.cache?.set(key, principal, { ttl });
    return principal;
  }
}

/**
 * Bearer authentication by container kind: a request to a Managed HSM pool's host
 * (`{pool}.managedhsm.<domain>`) is verified for the pool audiences (`https://managedhsm.<domain>`
 * with or without the port) and challenged with that resource and an empty body; every other
 * request as a vault's. A token for the one is refused by the other (its audience).
 */
export class ContainerAuthenticator {
  /** `isPoolOrigin` of the origins seen (a URL parse each): a handful of hosts, bounded all the same. */
  private readonly kinds = new Map<string, boolean>();

  constructor(
    private readonly vaults: TokenAuthenticator,
    private readonly pools: TokenAuthenticator,
    private readonly isPoolOrigin: (origin: string | undefined) => boolean,
  ) {}

  private of(origin: string | undefined): TokenAuthenticator {
    if (origin === undefined) return this.isPoolOrigin(origin) ? this.pools : this.vaults;
    let pool = this.kinds.get(origin);
    if (pool === undefined) {
      pool = this.isPoolOrigin(origin);
      if (this.kinds.size >= 1024) this.kinds.clear();
      this.kinds.set(origin, pool);
    }
    return pool ? this.pools : this.vaults;
  }

  challengeHeader(origin?: string): string {
    return this.of(origin).challengeHeader(origin);
  }

  unauthorized(code: string, origin?: string): HttpProblem {
    return this.of(origin).unauthorized(code, origin);
  }

  authenticate(header: string | string[] | undefined, origin?: string): Promise<Principal> {
    return this.of(origin).authenticate(header, origin);
  }
}
