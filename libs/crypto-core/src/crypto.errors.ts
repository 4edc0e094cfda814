import { DomainError } from '#libs/kernel';

/**
 * Stable error codes of the cryptographic core. Adapters map them to the wire (Azure) codes;
 * see the table in `index.ts`. Messages never contain key material, plaintext, digests,
 * PINs or secrets: only algorithm names, sizes, labels and ids.
 */
export const CryptoErrorCode = {
  /** Malformed or out-of-range input (lengths, sizes, encodings, JWK fields). `details.reason` says which. */
  BadParameter: 'BadParameter',
  /** The algorithm name is not one of Azure's names for this operation. */
  UnsupportedAlgorithm: 'UnsupportedAlgorithm',
  /** A known algorithm used with the wrong key type, curve or key size (ES256 on P-384, RS256 on EC, A256GCM on a 128-bit key). */
  AlgorithmNotAllowedForKey: 'AlgorithmNotAllowedForKey',
  /** Valid request, but this runtime or token cannot do it (RSA1_5 decryption on Node 20, a curve the token lacks). */
  NotSupported: 'NotSupported',
  /** Authenticated decryption, key unwrap, padding or envelope parsing failed; nothing is returned. */
  CiphertextInvalid: 'CiphertextInvalid',
  /** The root key cannot be used: module not loadable, token missing, PIN wrong or locked, root object unusable. */
  RootUnavailable: 'RootUnavailable',
  /** No object with that CKA_ID exists in the token. */
  HsmObjectNotFound: 'HsmObjectNotFound',
  /** Any other PKCS#11 failure; `details.ckr` carries the CKR_* name. */
  HsmFailure: 'HsmFailure',
} as const;

export type CryptoErrorCode = (typeof CryptoErrorCode)[keyof typeof CryptoErrorCode];

export type CryptoErrorDetails = Readonly<Record<string, string | number | boolean>>;

export function cryptoError(code: CryptoErrorCode, message: string, details: CryptoErrorDetails = {}): DomainError {
  return new DomainError(code, message, details);
}

export function badParameter(reason: string, message: string, details: CryptoErrorDetails = {}): DomainError {
  return new DomainError(CryptoErrorCode.BadParameter, message, { reason, ...details });
}

export function isDomainError(e: unknown): e is DomainError {
  return e instanceof DomainError;
}

export { DomainError };
