/**
 * Azure Key Vault algorithm names (exact spelling) and the rules tying them to key types,
 * curves, key sizes and digest lengths.
 */
import { badParameter, cryptoError, CryptoErrorCode } from './crypto.errors.js';

export const SIGNATURE_ALGORITHMS = [
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES256K', 'ES384', 'ES512',
  'HS256', 'HS384', 'HS512',
] as const;
export type SignatureAlgorithm = (typeof SIGNATURE_ALGORITHMS)[number];

export const ENCRYPTION_ALGORITHMS = [
  'RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5',
  'A128GCM', 'A192GCM', 'A256GCM',
  'A128CBC', 'A192CBC', 'A256CBC',
  'A128CBCPAD', 'A192CBCPAD', 'A256CBCPAD',
] as const;
export type EncryptionAlgorithm = (typeof ENCRYPTION_ALGORITHMS)[number];

export const KEY_WRAP_ALGORITHMS = [
  'RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5',
  'A128KW', 'A192KW', 'A256KW',
  'CKM_AES_KEY_WRAP', 'CKM_AES_KEY_WRAP_PAD',
] as const;
export type KeyWrapAlgorithm = (typeof KEY_WRAP_ALGORITHMS)[number];

/** Azure curve names. */
export const CURVES = ['P-256', 'P-256K', 'P-384', 'P-521'] as const;
export type CurveName = (typeof CURVES)[number];

export type KeyFamily = 'RSA' | 'EC' | 'oct';
/** Azure key types; the `-HSM` ones live in the PKCS#11 token. */
export type AzureKeyType = KeyFamily | 'RSA-HSM' | 'EC-HSM' | 'oct-HSM';

export const RSA_KEY_SIZES = [2048, 3072, 4096] as const;
export type RsaKeySize = (typeof RSA_KEY_SIZES)[number];
export const OCT_KEY_SIZES = [128, 192, 256] as const;
export type OctKeySize = (typeof OCT_KEY_SIZES)[number];

export type HashName = 'sha1' | 'sha256' | 'sha384' | 'sha512';

/** What the algorithm checks need to know about a key. */
export interface KeyDescriptor {
  readonly kty: AzureKeyType;
  /** EC only. */
  readonly crv?: CurveName;
  /** RSA modulus bits, oct key bits, EC field bits. */
  readonly sizeBits: number;
}

export function keyFamily(kty: AzureKeyType): KeyFamily {
  switch (kty) {
    case 'RSA':
    case 'RSA-HSM':
      return 'RSA';
    case 'EC':
    case 'EC-HSM':
      return 'EC';
    case 'oct':
    case 'oct-HSM':
      return 'oct';
  }
}

function parseName<T extends string>(list: readonly T[], name: string, operation: string): T {
  if (typeof name === 'string' && (list as readonly string[]).includes(name)) return name as T;
  throw cryptoError(CryptoErrorCode.UnsupportedAlgorithm, `'${String(name).slice(0, 40)}' is not a supported ${operation} algorithm`, {
    operation,
  });
}

export function parseSignatureAlgorithm(name: string): SignatureAlgorithm {
  return parseName(SIGNATURE_ALGORITHMS, name, 'sign');
}
export function parseEncryptionAlgorithm(name: string): EncryptionAlgorithm {
  return parseName(ENCRYPTION_ALGORITHMS, name, 'encrypt');
}
export function parseKeyWrapAlgorithm(name: string): KeyWrapAlgorithm {
  return parseName(KEY_WRAP_ALGORITHMS, name, 'wrapKey');
}

export interface SignatureScheme {
  readonly family: KeyFamily;
  readonly kind: 'pkcs1' | 'pss' | 'ecdsa' | 'hmac';
  readonly hash: Exclude<HashName, 'sha1'>;
  /** Required digest length in bytes. */
  readonly digestBytes: number;
  /** ECDSA only. */
  readonly curve?: CurveName;
}

export const SIGNATURE_SCHEMES: Readonly<Record<SignatureAlgorithm, SignatureScheme>> = {
  RS256: { family: 'RSA', kind: 'pkcs1', hash: 'sha256', digestBytes: 32 },
  RS384: { family: 'RSA', kind: 'pkcs1', hash: 'sha384', digestBytes: 48 },
  RS512: { family: 'RSA', kind: 'pkcs1', hash: 'sha512', digestBytes: 64 },
  PS256: { family: 'RSA', kind: 'pss', hash: 'sha256', digestBytes: 32 },
  PS384: { family: 'RSA', kind: 'pss', hash: 'sha384', digestBytes: 48 },
  PS512: { family: 'RSA', kind: 'pss', hash: 'sha512', digestBytes: 64 },
  ES256: { family: 'EC', kind: 'ecdsa', hash: 'sha256', digestBytes: 32, curve: 'P-256' },
  ES256K: { family: 'EC', kind: 'ecdsa', hash: 'sha256', digestBytes: 32, curve: 'P-256K' },
  ES384: { family: 'EC', kind: 'ecdsa', hash: 'sha384', digestBytes: 48, curve: 'P-384' },
  ES512: { family: 'EC', kind: 'ecdsa', hash: 'sha512', digestBytes: 64, curve: 'P-521' },
  HS256: { family: 'oct', kind: 'hmac', hash: 'sha256', digestBytes: 32 },
  HS384: { family: 'oct', kind: 'hmac', hash: 'sha384', digestBytes: 48 },
  HS512: { family: 'oct', kind: 'hmac', hash: 'sha512', digestBytes: 64 },
};

export type CipherScheme =
  | { readonly family: 'RSA'; readonly kind: 'oaep'; readonly hash: 'sha1' | 'sha256' }
  | { readonly family: 'RSA'; readonly kind: 'pkcs1' }
  | { readonly family: 'oct'; readonly kind: 'gcm' | 'cbc' | 'cbcpad' | 'kw'; readonly keyBits: OctKeySize }
  | { readonly family: 'oct'; readonly kind: 'kw' | 'kwp'; readonly keyBits: 'any' };

export const CIPHER_SCHEMES: Readonly<Record<EncryptionAlgorithm | KeyWrapAlgorithm, CipherScheme>> = {
  'RSA-OAEP': { family: 'RSA', kind: 'oaep', hash: 'sha1' },
  'RSA-OAEP-256': { family: 'RSA', kind: 'oaep', hash: 'sha256' },
  RSA1_5: { family: 'RSA', kind: 'pkcs1' },
  A128GCM: { family: 'oct', kind: 'gcm', keyBits: 128 },
  A192GCM: { family: 'oct', kind: 'gcm', keyBits: 192 },
  A256GCM: { family: 'oct', kind: 'gcm', keyBits: 256 },
  A128CBC: { family: 'oct', kind: 'cbc', keyBits: 128 },
  A192CBC: { family: 'oct', kind: 'cbc', keyBits: 192 },
  A256CBC: { family: 'oct', kind: 'cbc', keyBits: 256 },
  A128CBCPAD: { family: 'oct', kind: 'cbcpad', keyBits: 128 },
  A192CBCPAD: { family: 'oct', kind: 'cbcpad', keyBits: 192 },
  A256CBCPAD: { family: 'oct', kind: 'cbcpad', keyBits: 256 },
  A128KW: { family: 'oct', kind: 'kw', keyBits: 128 },
  A192KW: { family: 'oct', kind: 'kw', keyBits: 192 },
  A256KW: { family: 'oct', kind: 'kw', keyBits: 256 },
  CKM_AES_KEY_WRAP: { family: 'oct', kind: 'kw', keyBits: 'any' },
  CKM_AES_KEY_WRAP_PAD: { family: 'oct', kind: 'kwp', keyBits: 'any' },
};

function notAllowed(alg: string, key: KeyDescriptor, why: string): Error {
  return cryptoError(CryptoErrorCode.AlgorithmNotAllowedForKey, `algorithm ${alg} cannot be used with this key: ${why}`, {
    algorithm: alg,
    kty: key.kty,
    ...(key.crv ? { crv: key.crv } : {}),
    sizeBits: key.sizeBits,
  });
}

/** Checks a signature algorithm against the key and the digest length; returns the scheme. */
export function checkSignature(alg: string, key: KeyDescriptor, digestLength: number): SignatureScheme {
  const name = parseSignatureAlgorithm(alg);
  const scheme = SIGNATURE_SCHEMES[name];
  const family = keyFamily(key.kty);
  if (scheme.family !== family) throw notAllowed(name, key, `it needs a ${scheme.family} key, not ${key.kty}`);
  if (scheme.curve && scheme.curve !== key.crv) throw notAllowed(name, key, `it needs curve ${scheme.curve}`);
  if (digestLength !== scheme.digestBytes) {
    throw badParameter('DigestLength', `${name} needs a ${scheme.digestBytes}-byte digest, got ${digestLength} bytes`, {
      algorithm: name,
      expected: scheme.digestBytes,
      actual: digestLength,
    });
  }
  return scheme;
}

function checkCipher(name: EncryptionAlgorithm | KeyWrapAlgorithm, key: KeyDescriptor): CipherScheme {
  const scheme = CIPHER_SCHEMES[name];
  const family = keyFamily(key.kty);
  if (scheme.family !== family) throw notAllowed(name, key, `it needs a ${scheme.family} key, not ${key.kty}`);
  if (scheme.family === 'oct' && scheme.keyBits !== 'any' && scheme.keyBits !== key.sizeBits) {
    throw notAllowed(name, key, `it needs a ${scheme.keyBits}-bit key`);
  }
  return scheme;
}

export function checkEncryption(alg: string, key: KeyDescriptor): CipherScheme {
  const name = parseEncryptionAlgorithm(alg);
  return checkCipher(name, key);
}

export function checkKeyWrap(alg: string, key: KeyDescriptor): CipherScheme {
  const name = parseKeyWrapAlgorithm(alg);
  return checkCipher(name, key);
}

/** Maps Azure curve names to OpenSSL / Node names. */
export const NODE_CURVE: Readonly<Record<CurveName, 'prime256v1' | 'secp256k1' | 'secp384r1' | 'secp521r1'>> = {
  'P-256': 'prime256v1',
  'P-256K': 'secp256k1',
  'P-384': 'secp384r1',
  'P-521': 'secp521r1',
};

/** Node's JWK `crv` for each Azure curve (Node calls P-256K `secp256k1`). */
export const NODE_JWK_CRV: Readonly<Record<CurveName, string>> = {
  'P-256': 'P-256',
  'P-256K': 'secp256k1',
  'P-384': 'P-384',
  'P-521': 'P-521',
};

export function curveFromJwkCrv(crv: string): CurveName {
  switch (crv) {
    case 'P-256':
    case 'P-384':
    case 'P-521':
    case 'P-256K':
      return crv;
    case 'secp256k1':
    case 'SECP256K1':
      return 'P-256K';
    default:
      throw badParameter('Curve', `unsupported curve '${String(crv).slice(0, 20)}'`);
  }
}

export function curveFromNodeName(name: string): CurveName {
  switch (name) {
    case 'prime256v1':
      return 'P-256';
    case 'secp256k1':
      return 'P-256K';
    case 'secp384r1':
      return 'P-384';
    case 'secp521r1':
      return 'P-521';
    default:
      throw badParameter('Curve', `unsupported curve '${name.slice(0, 20)}'`);
  }
}

/** Field size in bits of each curve. */
export const CURVE_BITS: Readonly<Record<CurveName, number>> = { 'P-256': 256, 'P-256K': 256, 'P-384': 384, 'P-521': 521 };
