import type { KeyObject } from 'node:crypto';

/**
 * Who signs checkpoints. ES256: ECDSA P-256 over SHA-256 of the signing input, signature in
 * IEEE P1363 form (r‖s) — what the crypto service's `Sign` returns for an ES256 key given the
 * SHA-256 digest, so any implementation verifies the same way.
 *
 * `trustedPublicKey` must not simply read a public key from the ledger's own tables: someone
 * able to rewrite the ledger could insert a key of their own. Implementations derive trust
 * from something outside the database (the sealed key's key-encryption key, or the crypto
 * service).
 */
export interface CheckpointSigner {
  /** `local` (key sealed in audit's schema) or `crypto` (key held by the crypto service). */
  readonly provider: string;
  /** Makes sure a signing key exists (creates one on first use). */
  init(): Promise<void>;
  /** The key `sign` uses now (it is part of the signed payload). */
  currentKeyId(): Promise<string>;
  /** ES256 over SHA-256(input). */
  sign(input: Buffer): Promise<{ readonly keyId: string; readonly signature: Buffer }>;
  /** The public key of a trusted signing key, or undefined when `keyId` is not one. */
  trustedPublicKey(keyId: string): Promise<KeyObject | undefined>;
  /** Public keys (JWK) of the trusted keys, for offline verification. */
  publicJwks(): Promise<readonly Record<string, unknown>[]>;
}
