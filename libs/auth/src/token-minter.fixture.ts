/**
 * Test support (not exported from the lib): signing keys and tokens shaped like the identity
 * service's, and raw base64url tokens for the malformed cases.
 */
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export type SigningKey = { readonly kid: string; readonly alg: 'RS256' | 'ES256'; readonly privateKey: CryptoKey; readonly publicJwk: JWK; readonly publicPem: string };

export async function signingKey(alg: 'RS256' | 'ES256', kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, use: 'sig', alg };
  return { kid, alg, privateKey, publicJwk, publicPem: await exportSPKI(publicKey) };
}

export const jwks = (...keys: SigningKey[]): { keys: JWK[] } => ({ keys: keys.map((k) => k.publicJwk) });

export const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
export const OTHER_TENANT = '0a4401cc-1111-4222-8333-444455556666';
export const OID = '0b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e01';
export const APP_ID = '5e3f1a2b-7c8d-4e9f-a0b1-c2d3e4f5a6b7';
export const AUDIENCE = 'https://vault.example.test';
export const issuerFor = (tid: string): string => `https://id.example.test:9443/${tid}/v2.0`;

/** Seconds; the tests run on a fixed clock. */
export const NOW = 1_800_000_000;

export function claims(overrides: Record<string, unknown> = {}): JWTPayload {
  const base: Record<string, unknown> = {
    iss: issuerFor(TENANT),
    aud: AUDIENCE,
    tid: TENANT,
    oid: OID,
    appid: APP_ID,
    idtyp: 'app',
    iat: NOW - 10,
    nbf: NOW - 10,
    exp: NOW + 3600,
    jti: 'tok-0001',
  };
  // An override of `undefined` removes the claim.
  return Object.fromEntries(Object.entries({ ...base, ...overrides }).filter(([, v]) => v !== undefined)) as JWTPayload;
}

export async function mint(key: SigningKey, payload: JWTPayload = claims(), header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
}

export const b64url = (value: unknown): string => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A compact token from raw parts (for `alg: none` and other hand-made tokens). */
export const rawToken = (header: unknown, payload: unknown, signature = ''): string => `${b64url(header)}.${b64url(payload)}.${signature}`;

/** Signs arbitrary header/payload JSON with WebCrypto directly (for headers jose refuses to produce). */
export async function signRaw(key: SigningKey, header: unknown, payload: unknown): Promise<string> {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const algorithm = key.alg === 'RS256' ? { name: 'RSASSA-PKCS1-v1_5' } : { name: 'ECDSA', hash: 'SHA-256' };
  const sig = await crypto.subtle.sign(algorithm, key.privateKey, new TextEncoder().encode(input));
  return `${input}.${Buffer.from(sig).toString('base64url')}`;
}
