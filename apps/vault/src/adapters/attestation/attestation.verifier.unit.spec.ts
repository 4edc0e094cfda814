import { describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { exportJWK, SignJWT, type JWK } from 'jose';
import type { JwksSource } from '#libs/auth';
import { AttestationRejected, AttestationVerifier, parseTrustedAuthorities } from './attestation.verifier.js';

const TENANT = '11111111-2222-3333-4444-555555555555';
const ISSUER = `https://localhost:9443/attestation/${TENANT}`;

const signer = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const stranger = generateKeyPairSync('ec', { namedCurve: 'P-256' });

async function jwks(): Promise<{ keys: JWK[] }> {
  return { keys: [{ ...(await exportJWK(signer.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] };
}

/** Serves the authority's metadata and keys by URL, in memory. */
function source(fetched: string[]): (url: string) => JwksSource {
  return (url) => ({
    fetchJwks: async () => {
      fetched.push(url);
      if (url === `${ISSUER}/.well-known/openid-configuration`) return { issuer: ISSUER, jwks_uri: `${ISSUER}/certs` };
      if (url === `${ISSUER}/certs`) return jwks();
      throw new Error(`unexpected ${url}`);
    },
  });
}

const mint = (claims: Record<string, unknown>, opts: { key?: typeof signer.privateKey; iss?: string; exp?: number; nbf?: number; kid?: string } = {}): Promise<string> => {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: opts.kid ?? 'k1' })
    .setIssuer(opts.iss ?? ISSUER)
    .setIssuedAt(now)
    .setNotBefore(opts.nbf ?? now)
    .setExpirationTime(opts.exp ?? now + 300)
    .sign(opts.key ?? signer.privateKey);
};

describe('parseTrustedAuthorities', () => {
  it("defaults to identity's development authority of each tenant", () => {
    expect(parseTrustedAuthorities('', 'https://localhost:9443/')(TENANT.toUpperCase())).toEqual([{ issuer: ISSUER }]);
  });

  it('reads per-tenant and "*" entries, issuer URLs and {issuer, jwks_uri}', () => {
    const t = parseTrustedAuthorities(JSON.stringify({ [TENANT]: ['https://maa.example/'], '*': [{ issuer: 'https://a.example/{tenant}', jwks_uri: 'https://a.example/{tenant}/keys' }] }), 'https://x');
    expect(t(TENANT)).toEqual([{ issuer: 'https://maa.example' }, { issuer: `https://a.example/${TENANT}`, jwksUri: `https://a.example/${TENANT}/keys` }]);
    expect(t('other')).toEqual([{ issuer: 'https://a.example/other', jwksUri: 'https://a.example/other/keys' }]);
  });

  it('refuses malformed configuration', () => {
    expect(() => parseTrustedAuthorities('{', 'https://x')).toThrow('not valid JSON');
    expect(() => parseTrustedAuthorities('[]', 'https://x')).toThrow('JSON object');
    expect(() => parseTrustedAuthorities('{"*": "https://a"}', 'https://x')).toThrow('must be a list');
    expect(() => parseTrustedAuthorities('{"*": ["http://a"]}', 'https://x')).toThrow('https');
    expect(() => parseTrustedAuthorities('{"*": [3]}', 'https://x')).toThrow('issuer URL');
  });
});

describe('AttestationVerifier', () => {
  const verifier = (fetched: string[] = []): AttestationVerifier => new AttestationVerifier({ trusted: parseTrustedAuthorities('', 'https://localhost:9443'), source: source(fetched) });

  it('accepts a token of a trusted authority, its keys found through the OIDC metadata', async () => {
    const fetched: string[] = [];
    const token = await mint({ 'x-ms-attestation-type': 'sevsnpvm' });
    await expect(verifier(fetched).verify(TENANT, token)).resolves.toMatchObject({ issuer: ISSUER, claims: { 'x-ms-attestation-type': 'sevsnpvm', iss: ISSUER } });
    expect(fetched).toEqual([`${ISSUER}/.well-known/openid-configuration`, `${ISSUER}/certs`]);
  });

  it.each([
    ['not a JWS', async () => 'anything'],
    ['an untrusted issuer', async () => mint({}, { iss: 'https://evil.example' })],
    ['another tenant’s authority', async () => mint({}, { iss: 'https://localhost:9443/attestation/00000000-0000-0000-0000-000000000000' })],
    ['a key the authority does not publish', async () => mint({}, { kid: 'k2' })],
    ['a forged signature (right kid, wrong key)', async () => mint({}, { key: stranger.privateKey })],
    ['an expired token', async () => mint({}, { exp: Math.floor(Date.now() / 1000) - 3600, nbf: Math.floor(Date.now() / 1000) - 7200 })],
    ['a token not yet valid', async () => mint({}, { nbf: Math.floor(Date.now() / 1000) + 3600, exp: Math.floor(Date.now() / 1000) + 7200 })],
  ])('rejects %s', async (_label, make) => {
    await expect(verifier().verify(TENANT, await make())).rejects.toBeInstanceOf(AttestationRejected);
  });

  it('rejects alg none and HS256', async () => {
    const b = (o: unknown): string => Buffer.from(JSON.stringify(o)).toString('base64url');
    const payload = b({ iss: ISSUER, exp: Math.floor(Date.now() / 1000) + 60 });
    await expect(verifier().verify(TENANT, `${b({ alg: 'none', kid: 'k1' })}.${payload}.`)).rejects.toThrow('algorithm');
    await expect(verifier().verify(TENANT, `${b({ alg: 'HS256', kid: 'k1' })}.${payload}.c2ln`)).rejects.toThrow('algorithm');
  });
});
