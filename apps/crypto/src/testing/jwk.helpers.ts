/** Test helpers: public keys of API key versions as Node/WebCrypto keys, fresh versions, digests. */
import { createHash, createPublicKey, randomBytes, webcrypto, type KeyObject } from 'node:crypto';
import type { KeyVersion, ObjectRef } from '#libs/crypto-client';

export const newVersion = (): string => randomBytes(16).toString('hex');

export function keyRef(tenant: string, name: string, version = newVersion(), vault = 'vault1'): Required<ObjectRef> {
  return { tenant, vault, collection: 'keys', name, version };
}

const NODE_CRV: Readonly<Record<string, string>> = { 'P-256': 'P-256', 'P-256K': 'secp256k1', 'P-384': 'P-384', 'P-521': 'P-521' };

/** The version's public key as a Node KeyObject (from the raw JWK bytes the API returns). */
export function publicKeyOf(v: KeyVersion): KeyObject {
  if (v.key.kty.startsWith('RSA')) {
    return createPublicKey({ key: { kty: 'RSA', n: v.key.n.toString('base64url'), e: v.key.e.toString('base64url') }, format: 'jwk' });
  }
  return createPublicKey({ key: { kty: 'EC', crv: NODE_CRV[v.key.crv], x: v.key.x.toString('base64url'), y: v.key.y.toString('base64url') }, format: 'jwk' });
}

/** The same public key in WebCrypto (ECDSA P-256/384/521 or RSA for the given scheme). */
export async function webCryptoKeyOf(v: KeyVersion, algorithm: webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams): Promise<webcrypto.CryptoKey> {
  const jwk: webcrypto.JsonWebKey = v.key.kty.startsWith('RSA')
    ? { kty: 'RSA', n: v.key.n.toString('base64url'), e: v.key.e.toString('base64url') }
    : { kty: 'EC', crv: v.key.crv, x: v.key.x.toString('base64url'), y: v.key.y.toString('base64url') };
  return webcrypto.subtle.importKey('jwk', jwk, algorithm, false, ['verify']);
}

export const HASH_OF: Readonly<Record<string, 'sha256' | 'sha384' | 'sha512'>> = {
  RS256: 'sha256', RS384: 'sha384', RS512: 'sha512',
  PS256: 'sha256', PS384: 'sha384', PS512: 'sha512',
  ES256: 'sha256', ES256K: 'sha256', ES384: 'sha384', ES512: 'sha512',
  HS256: 'sha256', HS384: 'sha384', HS512: 'sha512',
};

export function digestOf(algorithm: string, message: Buffer): Buffer {
  return createHash(HASH_OF[algorithm]!).update(message).digest();
}

export const WEB_HASH: Readonly<Record<'sha256' | 'sha384' | 'sha512', string>> = { sha256: 'SHA-256', sha384: 'SHA-384', sha512: 'SHA-512' };
