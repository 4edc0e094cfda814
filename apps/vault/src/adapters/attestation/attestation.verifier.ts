import { decodeJwt, decodeProtectedHeader, jwtVerify, type JWTPayload } from 'jose';
import { ACCEPTED_ALGORITHMS, HttpsJwksSource, JwksKeyCache, type AcceptedAlgorithm, type JwksSource } from '#libs/auth';

/** A trusted attestation authority: its issuer (`iss`) and where its signing keys are published. */
export type TrustedAuthority = { readonly issuer: string; readonly jwksUri?: string };

/** tenant id → the authorities whose attestation tokens a release in that tenant accepts. */
export type TrustedAuthorities = (tenantId: string) => readonly TrustedAuthority[];

/** A verified attestation: the authority that signed it and its claims. */
export type Attestation = { readonly issuer: string; readonly claims: Readonly<Record<string, unknown>> };

/** Why a `target` token was not accepted (kept for the operator's log; the client sees Azure's one sentence). */
export class AttestationRejected extends Error {}

const MAX_TOKEN_CHARS = 64 * 1024;
const CLOCK_TOLERANCE_SECONDS = 60;
const trim = (u: string): string => u.trim().replace(/\/+$/, '');
const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * `VAULT_ATTESTATION_ISSUERS`: a JSON object, tenant id (or `*` for every tenant) → a list of
 * authorities, each an issuer URL (its keys found through `<issuer>/.well-known/openid-configuration`
 * → `jwks_uri`, as Azure Attestation publishes them) or `{"issuer": "...", "jwks_uri": "..."}`.
 * `{tenant}` in a URL is replaced by the tenant id. Empty: identity's development authority,
 * `<IDENTITY_URL>/attestation/{tenant}`. Throws (at boot) on a malformed value.
 */
export function parseTrustedAuthorities(raw: string, identityUrl: string): TrustedAuthorities {
  const doc: unknown = raw.trim() === '' ? { '*': [`${trim(identityUrl)}/attestation/{tenant}`] } : parseJson(raw);
  if (!isRecord(doc)) throw new Error('VAULT_ATTESTATION_ISSUERS must be a JSON object: tenant id or "*" → list of issuer URLs');
  const table = new Map<string, TrustedAuthority[]>();
  for (const [tenant, list] of Object.entries(doc)) {
    if (!Array.isArray(list)) throw new Error(`VAULT_ATTESTATION_ISSUERS["${tenant}"] must be a list`);
    table.set(
      tenant.toLowerCase(),
      list.map((entry, i) => {
        const issuer = typeof entry === 'string' ? entry : isRecord(entry) && typeof entry.issuer === 'string' ? entry.issuer : undefined;
        const jwksUri = isRecord(entry) && typeof entry.jwks_uri === 'string' ? entry.jwks_uri : undefined;
        if (issuer === undefined) throw new Error(`VAULT_ATTESTATION_ISSUERS["${tenant}"][${i}] must be an issuer URL or {"issuer","jwks_uri"}`);
        for (const u of [issuer, jwksUri]) if (u !== undefined && !/^https:\/\//.test(u)) throw new Error(`VAULT_ATTESTATION_ISSUERS["${tenant}"][${i}]: URLs must use https`);
        return { issuer: trim(issuer), ...(jwksUri !== undefined ? { jwksUri } : {}) };
      }),
    );
  }
  return (tenantId) => {
    const t = tenantId.toLowerCase();
    return [...(table.get(t) ?? []), ...(table.get('*') ?? [])].map((a) => ({
      issuer: a.issuer.replaceAll('{tenant}', t),
      ...(a.jwksUri !== undefined ? { jwksUri: a.jwksUri.replaceAll('{tenant}', t) } : {}),
    }));
  };
}

function parseJson(raw: string): unknown {
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    throw new Error('VAULT_ATTESTATION_ISSUERS is not valid JSON');
  }
}

export type AttestationVerifierOptions = {
  readonly trusted: TrustedAuthorities;
  /** Trust anchors for fetching metadata and keys (the development CA). */
  readonly ca?: string | Buffer | ReadonlyArray<string | Buffer>;
  /** Test seam: where an authority's documents come from (default: HTTPS). */
  readonly source?: (url: string) => JwksSource;
};

/**
 * Verifies the `target` of a key release: a compact JWS (RS256 / ES256) from an authority the
 * tenant trusts, signed by a key that authority publishes, within exp/nbf (60 s tolerance;
 * `exp` required). The token itself is never logged or stored.
 */
export class AttestationVerifier {
  private readonly caches = new Map<string, JwksKeyCache>();
  private readonly source: (url: string) => JwksSource;

  constructor(private readonly options: AttestationVerifierOptions) {
    this.source = options.source ?? ((url) => new HttpsJwksSource({ url, ...(options.ca !== undefined ? { ca: options.ca } : {}) }));
  }

  async verify(tenantId: string, token: string): Promise<Attestation> {
    if (token.length === 0 || token.length > MAX_TOKEN_CHARS) throw new AttestationRejected('the token is empty or too long');
    let alg: string | undefined;
    let kid: string | undefined;
    let iss: string | undefined;
    try {
      const header = decodeProtectedHeader(token);
      alg = header.alg;
      kid = header.kid;
      iss = decodeJwt(token).iss;
    } catch {
      throw new AttestationRejected('the token is not a compact JWS');
    }
    if (!(ACCEPTED_ALGORITHMS as readonly string[]).includes(alg ?? '')) throw new AttestationRejected('the token algorithm is not accepted');
    if (typeof kid !== 'string' || kid === '') throw new AttestationRejected('the token names no key (kid)');
    if (typeof iss !== 'string') throw new AttestationRejected('the token has no issuer');
    const authority = this.options.trusted(tenantId).find((a) => a.issuer.toLowerCase() === trim(iss).toLowerCase());
    if (!authority) throw new AttestationRejected('the token issuer is not a trusted attestation authority of this tenant');
    let payload: JWTPayload;
    try {
      const key = await this.keysOf(authority).getKey(kid, alg as AcceptedAlgorithm);
      ({ payload } = await jwtVerify(token, key, { algorithms: [alg as string], requiredClaims: ['exp'], clockTolerance: CLOCK_TOLERANCE_SECONDS }));
    } catch (err) {
      throw new AttestationRejected(`the token does not verify: ${err instanceof Error ? err.message.slice(0, 200) : 'unknown'}`);
    }
    return { issuer: authority.issuer, claims: payload as Record<string, unknown> };
  }

  private keysOf(authority: TrustedAuthority): JwksKeyCache {
    let cache = this.caches.get(authority.issuer);
    if (!cache) {
      const jwks: JwksSource = authority.jwksUri !== undefined ? this.source(authority.jwksUri) : new DiscoveredJwks(authority.issuer, this.source);
      cache = new JwksKeyCache(jwks, { minRefreshIntervalSeconds: 5, maxAgeSeconds: 600 });
      this.caches.set(authority.issuer, cache);
    }
    return cache;
  }
}

/** An authority's JWKS found through its OIDC metadata (`jwks_uri`). */
class DiscoveredJwks implements JwksSource {
  constructor(
    private readonly issuer: string,
    private readonly source: (url: string) => JwksSource,
  ) {}

  async fetchJwks(): Promise<unknown> {
    const meta = await this.source(`${this.issuer}/.well-known/openid-configuration`).fetchJwks();
    const uri = isRecord(meta) ? meta.jwks_uri : undefined;
    if (typeof uri !== 'string' || !uri.startsWith('https://')) throw new Error('attestation authority metadata has no https jwks_uri');
    return this.source(uri).fetchJwks();
  }
}
