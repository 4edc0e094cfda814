import pkcs11js from 'pkcs11js';
import { DomainError, type EcPublicJwk, type RsaPublicJwk } from '#libs/crypto-core';
import { privateKeyPolicy, publicKeyTemplate } from './token-import.adapter.js';
import { TokenSessions, type Pkcs11, type Template } from './token-session.js';

/** What a token key is, for wrapping it out and back in. */
export type TokenKeyShape =
  | { readonly family: 'RSA'; readonly publicKey: RsaPublicJwk }
  | { readonly family: 'EC'; readonly publicKey: EcPublicJwk }
  | { readonly family: 'oct' };

/** The mechanism every backup uses (RFC 5649; SoftHSM2 and common HSMs implement it for private keys as PKCS#8). */
const MECHANISM = { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD };
const MAX_WRAPPED_BYTES = 16 * 1024;

function failure(operation: string) {
  return (ckr: string): Error => {
    if (ckr === 'CKR_KEY_UNEXTRACTABLE' || ckr === 'CKR_KEY_NOT_WRAPPABLE') {
      return new DomainError('NotSupported', 'this HSM key was created non-extractable (CRYPTO_HSM_KEY_BACKUP=false) and cannot be backed up', { ckr });
    }
    if (ckr === 'CKR_WRAPPED_KEY_INVALID' || ckr === 'CKR_WRAPPED_KEY_LEN_RANGE' || ckr === 'CKR_UNWRAPPING_KEY_HANDLE_INVALID' || ckr === 'CKR_ENCRYPTED_DATA_INVALID') {
      return new DomainError('CiphertextInvalid', 'the wrapped HSM key in the backup does not unwrap with this token', { ckr });
    }
    if (ckr === 'CKR_MECHANISM_INVALID' || ckr === 'CKR_MECHANISM_PARAM_INVALID') return new DomainError('NotSupported', `the PKCS#11 token does not support ${operation} with AES key wrap with padding`, { ckr });
    return new DomainError('HsmFailure', `PKCS#11 ${operation} failed (${ckr})`, { ckr });
  };
}

function findOne(lib: Pkcs11, session: Buffer, template: Template): Buffer | null {
  lib.C_FindObjectsInit(session, template);
  let found: Buffer[];
  try {
    found = lib.C_FindObjects(session, 2);
  } finally {
    lib.C_FindObjectsFinal(session);
  }
  if (found.length > 1) throw new DomainError('HsmFailure', 'more than one token object matches', {});
  return found[0] ?? null;
}

/**
 * HSM keys in and out of key backups without ever being plaintext outside the token: the
 * key object is wrapped (C_WrapKey, AES key wrap with padding) by the token's backup
 * wrapping key — an AES-256 token object with CKA_WRAP/CKA_UNWRAP only, sensitive and never
 * extractable, created on first use under `wrapKeyLabel` — and unwrapped (C_UnwrapKey) into a
 * new token object on restore. So only a deployment holding that token can restore an HSM
 * key, on top of the backup blob itself being sealed under the root.
 */
export class TokenBackupAdapter {
  constructor(
    private readonly sessions: TokenSessions,
    private readonly wrapKeyLabel: string,
    private readonly backupable: boolean,
  ) {}

  /** The key object (private key, or AES key) with this CKA_ID wrapped by the backup wrapping key. */
  wrap(objectId: string, shape: TokenKeyShape): Buffer {
    return this.sessions.run((lib, session) => {
      const wrapKey = this.wrappingKey(lib, session);
      const cls = shape.family === 'oct' ? pkcs11js.CKO_SECRET_KEY : pkcs11js.CKO_PRIVATE_KEY;
      const key = findOne(lib, session, [
        { type: pkcs11js.CKA_CLASS, value: cls },
        { type: pkcs11js.CKA_ID, value: Buffer.from(objectId, 'utf8') },
      ]);
      if (!key) throw new DomainError('HsmObjectNotFound', `no key object with id '${objectId}' in the token`, { objectId });
      return Buffer.from(lib.C_WrapKey(session, MECHANISM, wrapKey, key, Buffer.alloc(MAX_WRAPPED_BYTES)));
    }, failure('key backup'));
  }

  /** Unwraps a backed-up key into new token objects under `objectId` (the private/AES key, and the public key of a pair). */
  unwrap(objectId: string, shape: TokenKeyShape, wrapped: Buffer): void {
    const id = Buffer.from(objectId, 'utf8');
    const common: Template = [
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_ID, value: id },
      { type: pkcs11js.CKA_LABEL, value: objectId },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      ...privateKeyPolicy(this.backupable),
    ];
    const template: Template =
      shape.family === 'oct'
        ? [
            ...common,
            { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
            { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
            { type: pkcs11js.CKA_ENCRYPT, value: true },
            { type: pkcs11js.CKA_DECRYPT, value: true },
            { type: pkcs11js.CKA_WRAP, value: true },
            { type: pkcs11js.CKA_UNWRAP, value: true },
            { type: pkcs11js.CKA_SIGN, value: false },
            { type: pkcs11js.CKA_VERIFY, value: false },
            { type: pkcs11js.CKA_DERIVE, value: false },
          ]
        : [
            ...common,
            { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
            { type: pkcs11js.CKA_KEY_TYPE, value: shape.family === 'RSA' ? pkcs11js.CKK_RSA : pkcs11js.CKK_EC },
            { type: pkcs11js.CKA_SIGN, value: true },
            ...(shape.family === 'RSA' ? [{ type: pkcs11js.CKA_DECRYPT, value: true }] : [{ type: pkcs11js.CKA_DERIVE, value: false }]),
            { type: pkcs11js.CKA_UNWRAP, value: false },
          ];
    this.sessions.run((lib, session) => {
      const wrapKey = this.wrappingKey(lib, session);
      TokenSessions.createAllOrNone(lib, session, [
        () => lib.C_UnwrapKey(session, MECHANISM, wrapKey, wrapped, template),
        ...(shape.family === 'oct' ? [] : [() => lib.C_CreateObject(session, publicKeyTemplate(objectId, shape.publicKey))]),
      ]);
    }, failure('key restore'));
  }

  /** The backup wrapping key, created on first use (one process creates it; the token serialises object creation). */
  private wrappingKey(lib: Pkcs11, session: Buffer): Buffer {
    const label = Buffer.from(this.wrapKeyLabel, 'utf8');
    const match: Template = [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
      { type: pkcs11js.CKA_ID, value: label },
    ];
    const found = findOne(lib, session, match);
    if (found) return found;
    return lib.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, [
      ...match,
      { type: pkcs11js.CKA_LABEL, value: this.wrapKeyLabel },
      { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
      { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
      { type: pkcs11js.CKA_TOKEN, value: true },
      { type: pkcs11js.CKA_PRIVATE, value: true },
      { type: pkcs11js.CKA_SENSITIVE, value: true },
      { type: pkcs11js.CKA_EXTRACTABLE, value: false },
      { type: pkcs11js.CKA_WRAP, value: true },
      { type: pkcs11js.CKA_UNWRAP, value: true },
      { type: pkcs11js.CKA_ENCRYPT, value: false },
      { type: pkcs11js.CKA_DECRYPT, value: false },
      { type: pkcs11js.CKA_SIGN, value: false },
      { type: pkcs11js.CKA_VERIFY, value: false },
      { type: pkcs11js.CKA_DERIVE, value: false },
    ]);
  }
}
