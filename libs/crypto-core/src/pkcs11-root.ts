/**
 * Root key held in a PKCS#11 token: a sensitive, non-extractable AES-256 secret key object.
 * wrap/unwrap run AES-256-GCM (CKM_AES_GCM, 96-bit random nonce, 128-bit tag) inside the
 * token, so the root never leaves it. Output uses the same envelope layout as software
 * envelopes (format byte, key id, nonce, ciphertext, tag) with AAD = header ‖ caller aad.
 */
import { randomBytes } from 'node:crypto';
import { asBuffer } from './byte-encoding.util.js';
import { badParameter, cryptoError, CryptoErrorCode } from './crypto.errors.js';
import { encodeEnvelopeHeader, ENVELOPE_NONCE_BYTES, parseEnvelope } from './envelope.js';
import type { RootKey } from './key-hierarchy.js';
import { Pkcs11Token, type Pkcs11TokenOptions } from './pkcs11-token.js';

export interface Pkcs11RootOptions extends Pkcs11TokenOptions {
  /** CKA_LABEL of the root key object. */
  readonly keyLabel: string;
  /**
   * Generate the root key if no object has this label. Only for first initialization: a
   * mistyped label would otherwise silently start a new, empty hierarchy. Default false.
   */
  readonly createIfMissing?: boolean;
}

export class Pkcs11RootKey implements RootKey {
  /** `hsm:<key label>` (independent of the token label, so a restored/migrated token keeps working). */
  readonly id: string;

  private constructor(
    private readonly token: Pkcs11Token,
    private readonly handle: Buffer,
    private readonly ownsToken: boolean,
    keyLabel: string,
  ) {
    this.id = `hsm:${keyLabel}`;
    encodeEnvelopeHeader(this.id);
  }

  /** Opens the token and finds (or creates) the root key. Failures: `RootUnavailable`. */
  static open(options: Pkcs11RootOptions): Pkcs11RootKey {
    const token = Pkcs11Token.open(options);
    try {
      return Pkcs11RootKey.fromToken(token, options.keyLabel, options.createIfMissing ?? false, true);
    } catch (e) {
      token.close();
      throw e;
    }
  }

  /** Uses an already-open token (the caller keeps ownership unless `ownsToken`). */
  static fromToken(token: Pkcs11Token, keyLabel: string, createIfMissing = false, ownsToken = false): Pkcs11RootKey {
    if (typeof keyLabel !== 'string' || keyLabel.length === 0) throw badParameter('KeyLabel', 'the root key label must be a non-empty string');
    const handle = token.findOrCreateAesRootKey(keyLabel, createIfMissing);
    return new Pkcs11RootKey(token, handle, ownsToken, keyLabel);
  }

  async wrap(plain: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    const header = encodeEnvelopeHeader(this.id);
    const nonce = randomBytes(ENVELOPE_NONCE_BYTES);
    const body = this.token.aesGcmEncrypt(this.handle, nonce, Buffer.concat([header, aad]), asBuffer(plain));
    return Buffer.concat([header, nonce, body]);
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    const env = parseEnvelope(wrapped);
    if (env.keyId !== this.id) {
      throw cryptoError(CryptoErrorCode.CiphertextInvalid, 'ciphertext is malformed or not valid for this key and object', { reason: 'KeyIdMismatch' });
    }
    return this.token.aesGcmDecrypt(this.handle, env.nonce, Buffer.concat([env.header, aad]), Buffer.concat([env.ciphertext, env.tag]));
  }

  /** Closes the session if this root opened it. */
  close(): void {
    if (this.ownsToken) this.token.close();
  }
}
