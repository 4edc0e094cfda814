import { beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { SignJWT } from 'jose';
import { DomainError } from '#libs/kernel';
import { JwksKeyCache } from './jwks.cache.js';
import { StaticJwksSource, type JwksSource } from './jwks.source.js';
import {
  APP_ID,
  AUDIENCE,
  b64url,
  claims,
  issuerFor,
  jwks,
  mint,
  NOW,
  OID,
  OTHER_TENANT,
  rawToken,
  signingKey,
  signRaw,
  TENANT,
  type SigningKey,
} from './token-minter.fixture.js';
import { TokenVerifier, type Principal, type TokenVerifierOptions } from './token.verifier.js';

let rsa: SigningKey;
let ec: SigningKey;
let rsaNext: SigningKey;
let impostor: SigningKey; // same kid as `rsa`, different key material

beforeAll(async () => {
  rsa = await signingKey('RS256', 'rsa-2026-01');
  ec = await signingKey('ES256', 'ec-2026-01');
  rsaNext = await signingKey('RS256', 'rsa-2026-02');
  impostor = await signingKey('RS256', 'rsa-2026-01');
});

class Clock {
  ms = NOW * 1000;
  advance(seconds: number): void {
    this.ms += seconds * 1000;
  }
  readonly now = (): number => this.ms;
}

function setup(overrides: Partial<TokenVerifierOptions> = {}, source?: JwksSource) {
  const clock = new Clock();
  const jwksSource = source ?? new StaticJwksSource(jwks(rsa, ec));
  const verifier = new TokenVerifier({
    jwks: jwksSource,
    jwksCache: { minRefreshIntervalSeconds: 30, maxAgeSeconds: 600 },
    issuer: (tid) => issuerFor(tid),
    audiences: [AUDIENCE],
    tenants: [TENANT],
    now: clock.now,
    ...overrides,
  });
  return { clock, source: jwksSource, verifier };
}

/** Runs `verify` and returns the DomainError code; also asserts the token never leaks into the error. */
async function rejection(verifier: TokenVerifier, token: string): Promise<string> {
  try {
    await verifier.verify(token);
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    const e = err as DomainError;
    const rendered = `${e.message} ${JSON.stringify(e.details)} ${String(e.stack)}`;
    for (const part of token.split('.').filter((p) => p.length >= 8)) expect(rendered).not.toContain(part);
    return e.code;
  }
  throw new Error('token was accepted');
}

describe('TokenVerifier: accepted tokens', () => {
  it('accepts a good RS256 token and returns the principal', async () => {
    const { verifier } = setup();
    const p: Principal = await verifier.verify(await mint(rsa));
    expect(p).toEqual({ objectId: OID, tenantId: TENANT, appId: APP_ID, idType: 'app', tokenId: 'tok-0001', expiresAt: NOW + 3600 });
  });

  it('accepts a good ES256 token', async () => {
    const { verifier } = setup();
    expect((await verifier.verify(await mint(ec))).objectId).toBe(OID);
  });

  it('tolerates clock skew (default 60 s) on exp and nbf', async () => {
    const { verifier } = setup({ clockSkewSeconds: undefined });
    await expect(verifier.verify(await mint(rsa, claims({ exp: NOW - 30 })))).resolves.toMatchObject({ objectId: OID });
    await expect(verifier.verify(await mint(rsa, claims({ nbf: NOW + 30 })))).resolves.toMatchObject({ objectId: OID });
  });

  it('accepts the audience with a trailing slash, and in an array', async () => {
    const { verifier } = setup();
    await expect(verifier.verify(await mint(rsa, claims({ aud: `${AUDIENCE}/` })))).resolves.toMatchObject({ objectId: OID });
    await expect(verifier.verify(await mint(rsa, claims({ aud: ['https://other.test', AUDIENCE] })))).resolves.toMatchObject({ objectId: OID });
    const { verifier: v2 } = setup({ audiences: [`${AUDIENCE}/`] });
    await expect(v2.verify(await mint(rsa))).resolves.toMatchObject({ objectId: OID });
  });

  it('maps user tokens and hashes the token when there is no jti', async () => {
    const { verifier } = setup();
    const token = await mint(ec, claims({ idtyp: undefined, appid: undefined, azp: APP_ID, upn: 'alice@example.test', jti: undefined, roles: ['Reader'], oid: OID.toUpperCase() }));
    const p = await verifier.verify(token);
    expect(p).toEqual({
      objectId: OID,
      tenantId: TENANT,
      appId: APP_ID,
      upn: 'alice@example.test',
      idType: 'user',
      roles: ['Reader'],
      tokenId: `sha256:${createHash('sha256').update(token).digest('hex')}`,
      expiresAt: NOW + 3600,
    });
    expect(JSON.stringify(p)).not.toContain(token.split('.')[2]);
  });

  it('parses the Authorization header (scheme case-insensitive)', async () => {
    const { verifier } = setup();
    const token = await mint(rsa);
    await expect(verifier.verifyAuthorizationHeader(`bearer ${token}`)).resolves.toMatchObject({ objectId: OID });
    await expect(verifier.verifyAuthorizationHeader(undefined)).rejects.toMatchObject({ code: 'TokenMissing' });
  });

  it('accepts a tenant predicate and a fixed issuer list', async () => {
    const { verifier } = setup({ tenants: (tid) => tid === OTHER_TENANT, issuer: [issuerFor(OTHER_TENANT)] });
    await expect(verifier.verify(await mint(rsa, claims({ tid: OTHER_TENANT, iss: issuerFor(OTHER_TENANT) })))).resolves.toMatchObject({ tenantId: OTHER_TENANT });
  });
});

describe('TokenVerifier: attack suite', () => {
  type Case = readonly [string, string, () => Promise<string>];
  const cases: Case[] = [
    ['alg: none, no signature', 'TokenAlgorithmRejected', async () => rawToken({ alg: 'none', typ: 'JWT', kid: rsa.kid }, claims())],
    ['alg: none with a copied signature', 'TokenAlgorithmRejected', async () => {
      const good = await mint(rsa);
      return rawToken({ alg: 'none', kid: rsa.kid }, claims(), good.split('.')[2]);
    }],
    ['alg: NONE (case games)', 'TokenAlgorithmRejected', async () => rawToken({ alg: 'NONE', kid: rsa.kid }, claims())],
    ['HS256 signed with the RSA public key PEM as HMAC secret', 'TokenAlgorithmRejected', async () =>
      new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: rsa.kid, typ: 'JWT' }).sign(new TextEncoder().encode(rsa.publicPem))],
    ['HS256 signed with the JWK JSON as HMAC secret', 'TokenAlgorithmRejected', async () =>
      new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: rsa.kid }).sign(new TextEncoder().encode(JSON.stringify(rsa.publicJwk)))],
    ['HS512', 'TokenAlgorithmRejected', async () => new SignJWT(claims()).setProtectedHeader({ alg: 'HS512', kid: rsa.kid }).sign(new Uint8Array(64))],
    ['PS256 (asymmetric but not accepted)', 'TokenAlgorithmRejected', async () => rawToken({ alg: 'PS256', kid: rsa.kid }, claims(), 'c2ln')],
    ['header without alg', 'TokenAlgorithmRejected', async () => rawToken({ kid: rsa.kid }, claims(), 'c2ln')],
    ['unknown kid', 'TokenKeyUnknown', async () => mint({ ...rsaNext, kid: 'who-knows' })],
    ['kid of an RSA key with alg ES256', 'TokenKeyUnknown', async () => mint({ ...ec, kid: rsa.kid })],
    ['right kid, wrong key (impostor)', 'TokenInvalid', async () => mint(impostor)],
    ['no kid', 'TokenInvalid', async () => mint(rsa, claims(), { kid: undefined })],
    ['expired', 'TokenExpired', async () => mint(rsa, claims({ exp: NOW - 61 }))],
    ['nbf in the future', 'TokenNotYetValid', async () => mint(rsa, claims({ nbf: NOW + 61 }))],
    ['wrong audience', 'TokenAudienceInvalid', async () => mint(rsa, claims({ aud: 'https://vault.azure.net' }))],
    ['audience as a prefix trick', 'TokenAudienceInvalid', async () => mint(rsa, claims({ aud: `${AUDIENCE}.evil.test` }))],
    ['missing audience', 'TokenAudienceInvalid', async () => mint(rsa, claims({ aud: undefined }))],
    ['wrong issuer', 'TokenIssuerInvalid', async () => mint(rsa, claims({ iss: 'https://evil.test/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0' }))],
    ['issuer of another tenant', 'TokenIssuerInvalid', async () => mint(rsa, claims({ iss: issuerFor(OTHER_TENANT) }))],
    ['token from another tenant', 'TokenTenantInvalid', async () => mint(rsa, claims({ tid: OTHER_TENANT, iss: issuerFor(OTHER_TENANT) }))],
    ['tampered payload (signature from the original)', 'TokenInvalid', async () => {
      const [h, , s] = (await mint(rsa)).split('.');
      return `${h}.${b64url(claims({ oid: '99999999-9999-4999-8999-999999999999' }))}.${s}`;
    }],
    ['tampered header (kid swapped to the EC key)', 'TokenInvalid', async () => {
      const [, p, s] = (await mint(rsa)).split('.');
      return `${b64url({ alg: 'ES256', kid: ec.kid })}.${p}.${s}`;
    }],
    ['garbage', 'TokenInvalid', async () => 'garbage'],
    ['garbage with dots', 'TokenInvalid', async () => 'a.b.c'],
    ['two parts', 'TokenInvalid', async () => `${b64url({ alg: 'RS256' })}.${b64url(claims())}`],
    ['JWE-shaped (five parts)', 'TokenInvalid', async () => 'eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d'],
    ['header is not JSON', 'TokenInvalid', async () => `${b64url('not json')}.${b64url(claims())}.c2ln`],
    ['header is a JSON array', 'TokenInvalid', async () => `${b64url('[1,2]')}.${b64url(claims())}.c2ln`],
    ['payload is not JSON (validly signed)', 'TokenInvalid', async () => {
      const { CompactSign } = await import('jose');
      return new CompactSign(new TextEncoder().encode('hello')).setProtectedHeader({ alg: 'RS256', kid: rsa.kid }).sign(rsa.privateKey);
    }],
    ['oversized token', 'TokenInvalid', async () => `${b64url({ alg: 'RS256', kid: rsa.kid })}.${'A'.repeat(20_000)}.c2ln`],
    ['missing oid', 'TokenInvalid', async () => mint(rsa, claims({ oid: undefined }))],
    ['oid not a GUID', 'TokenInvalid', async () => mint(rsa, claims({ oid: 'admin' }))],
    ['missing tid', 'TokenInvalid', async () => mint(rsa, claims({ tid: undefined }))],
    ['missing exp', 'TokenInvalid', async () => mint(rsa, claims({ exp: undefined }))],
    ['exp not a number', 'TokenInvalid', async () => mint(rsa, claims({ exp: 'tomorrow' }))],
    ['crit header jose does not understand', 'TokenInvalid', async () => signRaw(rsa, { alg: 'RS256', kid: rsa.kid, crit: ['x-unknown'], 'x-unknown': true }, claims())],
    ['control: the raw signer produces accepted tokens', 'TokenAudienceInvalid', async () => signRaw(rsa, { alg: 'RS256', kid: rsa.kid }, claims({ aud: 'https://nope.test' }))],
  ];

  it.each(cases)('%s → %s', async (_name, code, make) => {
    const { verifier } = setup();
    expect(await rejection(verifier, await make())).toBe(code);
  });

  it('an empty token is TokenMissing', async () => {
    const { verifier } = setup();
    await expect(verifier.verify('')).rejects.toMatchObject({ code: 'TokenMissing' });
    await expect(verifier.verify(undefined)).rejects.toMatchObject({ code: 'TokenMissing' });
  });

  it('algorithm attacks are refused before any JWKS fetch', async () => {
    const { verifier, source } = setup();
    const hs = await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: rsa.kid }).sign(new TextEncoder().encode(rsa.publicPem));
    await rejection(verifier, hs);
    await rejection(verifier, rawToken({ alg: 'none', kid: rsa.kid }, claims()));
    expect((source as StaticJwksSource).fetchCount).toBe(0);
  });

  it('symmetric or private keys in the JWKS are never used', async () => {
    const poisoned = { keys: [{ kty: 'oct', kid: 'sym', k: b64url('secret') }, { ...rsa.publicJwk, kid: 'with-private', d: 'AAAA' }, ec.publicJwk] };
    const { verifier } = setup({}, new StaticJwksSource(poisoned));
    expect(await rejection(verifier, await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', kid: 'sym' }).sign(new TextEncoder().encode('secret')))).toBe('TokenAlgorithmRejected');
    expect(await rejection(verifier, await mint({ ...rsa, kid: 'with-private' }))).toBe('TokenKeyUnknown');
    await expect(verifier.verify(await mint(ec))).resolves.toMatchObject({ objectId: OID });
  });
});

describe('TokenVerifier: JWKS cache, rotation and rate limiting', () => {
  it('picks up a rotated key (new kid) on refresh', async () => {
    const { verifier, source, clock } = setup();
    await verifier.verify(await mint(rsa));
    expect((source as StaticJwksSource).fetchCount).toBe(1);
    (source as StaticJwksSource).set(jwks(rsa, rsaNext, ec)); // identity publishes the next key
    clock.advance(31);
    await expect(verifier.verify(await mint(rsaNext))).resolves.toMatchObject({ objectId: OID });
    expect((source as StaticJwksSource).fetchCount).toBe(2);
    await expect(verifier.verify(await mint(rsa))).resolves.toMatchObject({ objectId: OID }); // old key still published
    expect((source as StaticJwksSource).fetchCount).toBe(2);
  });

  it('a key removed from the JWKS stops verifying after the cache refreshes', async () => {
    const { verifier, source, clock } = setup();
    await verifier.verify(await mint(rsa));
    (source as StaticJwksSource).set(jwks(ec));
    clock.advance(601); // max age
    expect(await rejection(verifier, await mint(rsa))).toBe('TokenKeyUnknown');
  });

  it('repeated unknown kids fetch at most once per interval', async () => {
    const { verifier, source, clock } = setup();
    const s = source as StaticJwksSource;
    await verifier.verify(await mint(rsa));
    expect(s.fetchCount).toBe(1);
    clock.advance(31);
    for (let i = 0; i < 50; i++) expect(await rejection(verifier, await mint({ ...rsaNext, kid: `forged-${i}` }))).toBe('TokenKeyUnknown');
    expect(s.fetchCount).toBe(2);
    clock.advance(10);
    for (let i = 0; i < 20; i++) await rejection(verifier, await mint({ ...rsaNext, kid: `forged-b-${i}` }));
    expect(s.fetchCount).toBe(2);
    clock.advance(20);
    await rejection(verifier, await mint({ ...rsaNext, kid: 'forged-c' }));
    expect(s.fetchCount).toBe(3);
  });

  it('concurrent unknown kids share one fetch', async () => {
    const { verifier, source } = setup();
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, i) => mint({ ...rsaNext, kid: `parallel-${i}` })));
    const results = await Promise.allSettled(tokens.map((t) => verifier.verify(t)));
    expect(results.every((r) => r.status === 'rejected' && (r.reason as DomainError).code === 'TokenKeyUnknown')).toBe(true);
    expect((source as StaticJwksSource).fetchCount).toBe(1);
  });

  it('JWKS unreachable: JwksUnavailable (server fault), retried only at the rate limit; old keys survive failed refreshes', async () => {
    let calls = 0;
    let up = false;
    const flaky: JwksSource = {
      fetchJwks: async () => {
        calls += 1;
        if (!up) throw new Error('connection refused');
        return jwks(rsa);
      },
    };
    const errors: Error[] = [];
    const clock = new Clock();
    const verifier = new TokenVerifier({
      jwks: new JwksKeyCache(flaky, { minRefreshIntervalSeconds: 30, now: clock.now, onRefreshError: (e) => errors.push(e) }),
      issuer: (tid) => issuerFor(tid),
      audiences: [AUDIENCE],
      tenants: [TENANT],
      now: clock.now,
    });
    const token = await mint(rsa);
    expect(await rejection(verifier, token)).toBe('JwksUnavailable');
    expect(await rejection(verifier, token)).toBe('JwksUnavailable');
    expect(calls).toBe(1);
    expect(errors.map((e) => e.message)).toEqual(['connection refused']);
    clock.advance(30);
    up = true;
    await expect(verifier.verify(token)).resolves.toMatchObject({ objectId: OID });
    expect(calls).toBe(2);
    up = false;
    clock.advance(700);
    await expect(verifier.verify(await mint(rsa))).resolves.toMatchObject({ objectId: OID }); // stale keys kept
    expect(calls).toBe(3);
  });

  it('an invalid JWKS document is treated like a failed fetch', async () => {
    const { verifier } = setup({}, new StaticJwksSource({ nope: true }));
    expect(await rejection(verifier, await mint(rsa))).toBe('JwksUnavailable');
  });
});

describe('TokenVerifier: configuration', () => {
  it('refuses empty audience, issuer or tenant lists and absurd skew', () => {
    const base = { jwks: new StaticJwksSource(jwks()), issuer: ['x'], audiences: ['a'], tenants: [TENANT] };
    expect(() => new TokenVerifier({ ...base, audiences: [] })).toThrow();
    expect(() => new TokenVerifier({ ...base, issuer: [] })).toThrow();
    expect(() => new TokenVerifier({ ...base, tenants: [] })).toThrow();
    expect(() => new TokenVerifier({ ...base, clockSkewSeconds: -1 })).toThrow();
    expect(() => new TokenVerifier({ ...base, clockSkewSeconds: 3600 })).toThrow();
  });
});
