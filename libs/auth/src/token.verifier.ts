import { createHash } from 'node:crypto';
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload } from 'jose';
import { DomainError, systemClock, type Clock } from '#libs/kernel';
import { parseBearerToken } from './bearer.js';
import { isAcceptedAlgorithm, JwksKeyCache, type JwksKeyCacheOptions } from './jwks.cache.js';
import type { JwksSource } from './jwks.source.js';

/**
 * Verifies access tokens issued by Keyledger's identity service (Azure AD-shaped JWTs).
 *
 * Order of checks: size and shape → header `alg` (RS256/ES256 only: `none`, HS*, PS*, … are
 * rejected before any key lookup) → `kid` against the cached JWKS (refreshed at most once per
 * interval on an unknown kid) → signature (jose) → `exp`/`nbf` with clock skew → required claims
 * (`oid`, `tid`, `exp`) → tenant → issuer → audience. Claims are only looked at after the
 * signature verified. Errors are `DomainError`s with stable codes; messages and details never
 * contain the token or any part of it.
 */

export const TOKEN_ERROR_CODES = [
  'TokenMissing',
  'TokenInvalid',
  'TokenExpired',
  'TokenNotYetValid',
  'TokenAudienceInvalid',
  'TokenIssuerInvalid',
  'TokenTenantInvalid',
  'TokenAlgorithmRejected',
  'TokenKeyUnknown',
  /** The signing keys could not be fetched at all: a server-side fault (map to 503, not 401). */
  'JwksUnavailable',
] as const;
export type TokenErrorCode = (typeof TOKEN_ERROR_CODES)[number];

export type Principal = {
  /** `oid`, lower case. */
  readonly objectId: string;
  /** `tid`, lower case. */
  readonly tenantId: string;
  /** `appid` (v1) or `azp` (v2) when present. */
  readonly appId?: string;
  /** `upn` when present (users). */
  readonly upn?: string;
  readonly idType: 'app' | 'user';
  /** App roles (`roles` claim) when present. */
  readonly roles?: readonly string[];
  /** `jti` when present, otherwise `sha256:<hex>` of the token — never the token itself. */
  readonly tokenId: string;
  /** `exp`, epoch seconds. */
  readonly expiresAt: number;
};

export type TokenVerifierOptions = {
  readonly jwks: JwksSource | JwksKeyCache;
  /** Cache tuning when `jwks` is a source (ignored for a ready cache). */
  readonly jwksCache?: Omit<JwksKeyCacheOptions, 'now'>;
  /**
   * Accepted issuers: a list (exact match), or a function of the (already accepted) tenant id,
   * e.g. `(tid) => \`https://id.example.com/${tid}/v2.0\``.
   */
  readonly issuer: readonly string[] | ((tenantId: string) => string | readonly string[]);
  /** Accepted audiences, e.g. `['https://vault.example.com']`; a trailing slash on either side is ignored. */
  readonly audiences: readonly string[];
  /** Accepted tenant ids, or a predicate (tenants are created at run time). */
  readonly tenants: readonly string[] | ((tenantId: string) => boolean);
  /** Clock skew tolerated on `exp`/`nbf`, seconds. Default 60. */
  readonly clockSkewSeconds?: number;
  /** Longest token accepted, bytes. Default 16384. */
  readonly maxTokenLength?: number;
  /** Clock in milliseconds (tests). */
  readonly now?: Clock;
};

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** Signature may be empty here so that `alg: none` tokens are reported as an algorithm rejection. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

const fail = (code: TokenErrorCode, message: string, details?: Record<string, string | number | boolean>): DomainError =>
  new DomainError(code, message, details);

const normalizeAudience = (a: string): string => a.trim().replace(/\/+$/, '').toLowerCase();

function optionalString(payload: JWTPayload, claim: string, max = 256): string | undefined {
  const v = payload[claim];
  return typeof v === 'string' && v.length > 0 && v.length <= max ? v : undefined;
}

export class TokenVerifier {
  private readonly keys: JwksKeyCache;
  private readonly skew: number;
  private readonly maxLength: number;
  private readonly now: Clock;
  private readonly audiences: ReadonlySet<string>;
  private readonly tenantSet: ReadonlySet<string> | undefined;

  constructor(private readonly options: TokenVerifierOptions) {
    this.now = options.now ?? systemClock;
    this.keys = options.jwks instanceof JwksKeyCache ? options.jwks : new JwksKeyCache(options.jwks, { ...options.jwksCache, now: this.now });
    this.skew = options.clockSkewSeconds ?? 60;
    if (!(this.skew >= 0 && this.skew <= 600)) throw new Error('clockSkewSeconds must be between 0 and 600');
    this.maxLength = options.maxTokenLength ?? 16 * 1024;
    if (options.audiences.length === 0) throw new Error('at least one accepted audience is required');
    this.audiences = new Set(options.audiences.map(normalizeAudience));
    if (Array.isArray(options.issuer) && options.issuer.length === 0) throw new Error('at least one accepted issuer is required');
    if (typeof options.tenants !== 'function') {
      if (options.tenants.length === 0) throw new Error('at least one accepted tenant is required');
      this.tenantSet = new Set(options.tenants.map((t) => t.toLowerCase()));
    }
  }

  /** Parses `Authorization: Bearer …` and verifies the token. */
  verifyAuthorizationHeader(header: string | readonly string[] | undefined | null): Promise<Principal> {
    let token: string;
    try {
      token = parseBearerToken(header);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.verify(token);
  }

  async verify(token: string | undefined | null): Promise<Principal> {
    if (token === undefined || token === null || token === '') throw fail('TokenMissing', 'no access token');
    if (typeof token !== 'string' || token.length > this.maxLength) throw fail('TokenInvalid', 'access token is malformed or too long');
    if (!COMPACT_JWS.test(token)) throw fail('TokenInvalid', 'access token is not a compact JWS');

    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw fail('TokenInvalid', 'access token header cannot be decoded');
    }
    const alg = header.alg;
    if (!isAcceptedAlgorithm(alg)) {
      throw fail('TokenAlgorithmRejected', 'access token algorithm is not accepted (RS256 or ES256 only)', { alg: typeof alg === 'string' ? alg.slice(0, 16) : 'missing' });
    }
    const kid = header.kid;
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > 256) throw fail('TokenInvalid', 'access token has no key id');

    const key = await this.keys.getKey(kid, alg);

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: [alg],
        clockTolerance: this.skew,
        currentDate: new Date(this.now()),
        requiredClaims: ['exp'],
      }));
    } catch (err) {
      throw this.mapJoseError(err);
    }

    const tid = optionalString(payload, 'tid');
    const oid = optionalString(payload, 'oid');
    if (tid === undefined || !GUID.test(tid)) throw fail('TokenInvalid', 'access token has no valid "tid" claim');
    if (oid === undefined || !GUID.test(oid)) throw fail('TokenInvalid', 'access token has no valid "oid" claim');
    const tenantId = tid.toLowerCase();
    const objectId = oid.toLowerCase();

    const tenantOk = this.tenantSet !== undefined ? this.tenantSet.has(tenantId) : (this.options.tenants as (t: string) => boolean)(tenantId);
    if (!tenantOk) throw fail('TokenTenantInvalid', 'access token was issued for a tenant this service does not accept', { tenantId });

    const iss = payload.iss;
    const issuers = typeof this.options.issuer === 'function' ? this.options.issuer(tenantId) : this.options.issuer;
    const accepted = typeof issuers === 'string' ? [issuers] : issuers;
    if (typeof iss !== 'string' || !accepted.includes(iss)) throw fail('TokenIssuerInvalid', 'access token issuer is not accepted');

    const aud = payload.aud;
    const auds = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud : [];
    if (!auds.some((a) => typeof a === 'string' && this.audiences.has(normalizeAudience(a)))) {
      throw fail('TokenAudienceInvalid', 'access token audience is not accepted');
    }

    const exp = payload.exp as number;
    const appId = optionalString(payload, 'appid') ?? optionalString(payload, 'azp');
    const upn = optionalString(payload, 'upn');
    const idtyp = payload['idtyp'];
    const idType: 'app' | 'user' = idtyp === 'app' || idtyp === 'user' ? idtyp : upn !== undefined || payload['scp'] !== undefined ? 'user' : 'app';
    const rolesClaim = payload['roles'];
    const roles = Array.isArray(rolesClaim) && rolesClaim.every((r) => typeof r === 'string') ? Object.freeze([...(rolesClaim as string[])]) : undefined;
    const jti = optionalString(payload, 'jti', 128);
    const tokenId = jti ?? `sha256:${createHash('sha256').update(token).digest('hex')}`;

    return Object.freeze({
      objectId,
      tenantId,
      ...(appId !== undefined ? { appId } : {}),
      ...(upn !== undefined ? { upn } : {}),
      idType,
      ...(roles !== undefined ? { roles } : {}),
      tokenId,
      expiresAt: exp,
    });
  }

  private mapJoseError(err: unknown): DomainError {
    if (err instanceof joseErrors.JWTExpired) return fail('TokenExpired', 'access token has expired');
    if (err instanceof joseErrors.JWTClaimValidationFailed) {
      if (err.claim === 'nbf' && err.reason === 'check_failed') return fail('TokenNotYetValid', 'access token is not valid yet');
      return fail('TokenInvalid', 'access token claims are invalid', { claim: err.claim.slice(0, 16) });
    }
    if (err instanceof joseErrors.JOSEAlgNotAllowed) return fail('TokenAlgorithmRejected', 'access token algorithm is not accepted');
    if (err instanceof joseErrors.JWSSignatureVerificationFailed) return fail('TokenInvalid', 'access token signature is invalid');
    return fail('TokenInvalid', 'access token is invalid');
  }
}
