import { randomUUID } from 'node:crypto';
import type { CurveName, EcPublicJwk, HsmKeyPair, KeyDescriptor, Pkcs11Token, RsaKeySize, RsaPublicJwk } from '#libs/crypto-core';
import type { KeyFamily } from '../../domain/key.model.js';
import type { TokenAesAdapter, TokenSecretKey } from './token-aes.adapter.js';

/** A key pair in the token (crypto-core fences each module call: OpenSSL errors never reach Node's TLS). */
export class TokenKey {
  constructor(private readonly pair: HsmKeyPair) {}

  get objectId(): string {
    return this.pair.objectId;
  }

  get descriptor(): KeyDescriptor {
    return this.pair.descriptor;
  }

  publicJwk(): RsaPublicJwk | EcPublicJwk {
    return this.pair.publicJwk();
  }

  sign(algorithm: string, digest: Uint8Array): Buffer {
    return this.pair.sign(algorithm, digest);
  }

  verify(algorithm: string, digest: Uint8Array, signature: Uint8Array): boolean {
    return this.pair.verify(algorithm, digest, signature);
  }

  decrypt(algorithm: string, ciphertext: Uint8Array): Buffer {
    return this.pair.decrypt(algorithm, ciphertext);
  }
}

/**
 * HSM key pairs in the PKCS#11 token: generated there as sensitive objects (extractable only
 * wrapped, for key backups, unless CRYPTO_HSM_KEY_BACKUP=false)
 * (CKA_ID = a fresh `kl-<uuid>`); every private operation runs in the token. Handles are
 * cached per object id for the life of the session (dropped when it closes).
 */
export class HsmKeysAdapter {
  private readonly handles = new Map<string, TokenKey>();
  private session: Pkcs11Token | null = null;

  /** `backupable`: pairs are generated CKA_EXTRACTABLE (still sensitive) so key backups can wrap them (token-backup.adapter.ts). */
  constructor(
    private readonly aes: TokenAesAdapter,
    private readonly backupable: boolean,
  ) {}

  static newObjectId(): string {
    return `kl-${randomUUID()}`;
  }

  generate(token: Pkcs11Token, objectId: string, family: Exclude<KeyFamily, 'oct'>, spec: { sizeBits?: number; crv?: CurveName }): TokenKey {
    this.bind(token);
    const pair =
      family === 'RSA'
        ? token.generateRsaKeyPair(objectId, (spec.sizeBits ?? 2048) as RsaKeySize, { extractableWrapped: this.backupable })
        : token.generateEcKeyPair(objectId, spec.crv ?? 'P-256', { extractableWrapped: this.backupable });
    const key = new TokenKey(pair);
    this.handles.set(objectId, key);
    return key;
  }

  find(token: Pkcs11Token, objectId: string): TokenKey {
    this.bind(token);
    let key = this.handles.get(objectId);
    if (!key) {
      key = new TokenKey(token.findKeyPair(objectId));
      this.handles.set(objectId, key);
    }
    return key;
  }

  /** Generates an AES key (oct-HSM) in the token. */
  generateSecret(token: Pkcs11Token, objectId: string, sizeBits: 128 | 192 | 256): TokenSecretKey {
    this.bind(token);
    return this.aes.generate(objectId, sizeBits);
  }

  /** An AES key (oct-HSM) of the token; the object is looked up by CKA_ID on each use. */
  secret(token: Pkcs11Token, objectId: string, sizeBits: number): TokenSecretKey {
    this.bind(token);
    return this.aes.key(objectId, sizeBits);
  }

  /** Destroys the token objects (crypto-shredding of an HSM key); returns how many objects. */
  destroy(token: Pkcs11Token, objectId: string): number {
    this.bind(token);
    this.handles.delete(objectId);
    return token.destroyObjects(objectId);
  }

  clear(): void {
    this.handles.clear();
    this.session = null;
  }

  /** Handles belong to one session: a new session (after a reseal) starts an empty cache. */
  private bind(token: Pkcs11Token): void {
    if (this.session !== token) {
      this.handles.clear();
      this.session = token;
    }
  }
}
