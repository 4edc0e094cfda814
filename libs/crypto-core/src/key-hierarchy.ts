/**
 * Key hierarchy: root key -> per-vault key-encryption key (KEK) -> per-object data key ->
 * stored value. Every layer is an envelope (see `envelope.ts`) whose AAD binds where it
 * belongs:
 *
 *   root.wrap(KEK, ctx(VaultKek, [tenant, vault, kekId]))        envelope key id = root.id
 *   kek  seals data key, ctx(DataKey, [tenant, vault, collection, name, version])
 *                                                                 envelope key id = kek.id
 *   data key seals the value, ctx(ObjectValue, same identity)     envelope key id = dataKeyId
 *
 * Purging an object = destroying its wrapped data key (crypto-shredding).
 */
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { asBuffer, toBase64Url, zeroize } from './byte-encoding.util.js';
import { badParameter, cryptoError, CryptoErrorCode } from './crypto.errors.js';
import {
  assertObjectIdentity,
  ContextPurpose,
  encodeContext,
  encodeObjectIdentity,
  openWithContext,
  sealWithContext,
  type ObjectIdentity,
} from './envelope.js';

/** The top of the hierarchy. Implementations: `DevRootKey` (software) and `Pkcs11RootKey` (HSM). */
export interface RootKey {
  /** Stable identifier written into every envelope the root produces (≤ 255 bytes UTF-8). */
  readonly id: string;
  /** Encrypts `plain` with the root key, binding `aad`; returns a self-describing envelope. */
  wrap(plain: Uint8Array, aad: Uint8Array): Promise<Buffer>;
  /** Reverses `wrap`; fails with `CiphertextInvalid` if the envelope, aad or root differ. */
  unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Buffer>;
}

/**
 * HKDF-SHA256 parameters for the development root. Fixed forever: changing them changes the
 * root and orphans every KEK wrapped under it.
 */
export const DEV_ROOT_HKDF = {
  hash: 'sha256',
  salt: 'keyledger/dev-root-key/salt/v1',
  info: 'keyledger/dev-root-key/aes-256-gcm/v1',
  length: 32,
} as const;
const DEV_ROOT_MIN_SECRET_BYTES = 16;

/**
 * Development-only root key derived from an unseal secret with HKDF-SHA256
 * (salt and info: `DEV_ROOT_HKDF`). Its id is `dev-` + 16 hex chars of
 * HMAC-SHA256(root, "keyledger/root-key-id/v1"): a key check value that identifies the root
 * without revealing it.
 */
export class DevRootKey implements RootKey {
  readonly id: string;
  #key: Buffer | null;

  private constructor(key: Buffer) {
    this.#key = key;
    this.id = 'dev-' + createHmac('sha256', key).update('keyledger/root-key-id/v1').digest('hex').slice(0, 16);
  }

  /** `unsealSecret`: at least 16 bytes (a string is taken as UTF-8). */
  static fromUnsealSecret(unsealSecret: Uint8Array | string): DevRootKey {
    const ikm = typeof unsealSecret === 'string' ? Buffer.from(unsealSecret, 'utf8') : Buffer.from(unsealSecret);
    try {
      if (ikm.length < DEV_ROOT_MIN_SECRET_BYTES) {
        throw badParameter('UnsealSecret', `the unseal secret must be at least ${DEV_ROOT_MIN_SECRET_BYTES} bytes`);
      }
      const derived = Buffer.from(hkdfSync(DEV_ROOT_HKDF.hash, ikm, DEV_ROOT_HKDF.salt, DEV_ROOT_HKDF.info, DEV_ROOT_HKDF.length));
      return new DevRootKey(derived);
    } finally {
      zeroize(ikm);
    }
  }

  #material(): Buffer {
    if (!this.#key) throw cryptoError(CryptoErrorCode.RootUnavailable, 'the development root key has been destroyed (sealed)');
    return this.#key;
  }

  async wrap(plain: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    return sealWithContext(this.#material(), this.id, plain, aad);
  }

  async unwrap(wrapped: Uint8Array, aad: Uint8Array): Promise<Buffer> {
    return openWithContext(this.#material(), wrapped, aad, { expectedKeyId: this.id });
  }

  /** Zeroes the root key; further use fails with `RootUnavailable`. */
  destroy(): void {
    zeroize(this.#key);
    this.#key = null;
  }
}

export interface VaultRef {
  readonly tenant: string;
  readonly vault: string;
}

function assertVaultRef(ref: VaultRef): void {
  for (const field of ['tenant', 'vault'] as const) {
    const v: unknown = ref?.[field];
    if (typeof v !== 'string' || v.length === 0) throw badParameter('Identity', `vault field '${field}' must be a non-empty string`, { field });
  }
}

/** AAD binding a KEK to its vault and its own id. */
export function encodeVaultKekContext(ref: VaultRef, kekId: string): Buffer {
  assertVaultRef(ref);
  return encodeContext(ContextPurpose.VaultKek, [ref.tenant, ref.vault, kekId]);
}

function newId(prefix: string): string {
  return prefix + toBase64Url(randomBytes(12));
}

/** An unwrapped per-vault KEK held in memory. Call `destroy()` to zero it (e.g. on seal). */
export class VaultKek {
  #key: Buffer | null;

  constructor(
    readonly id: string,
    readonly vault: VaultRef,
    key: Buffer,
  ) {
    if (key.length !== 32) throw badParameter('KeySize', 'a vault KEK must be 256 bits');
    this.#key = key;
  }

  /** @internal raw key for envelope operations. */
  material(): Buffer {
    if (!this.#key) throw cryptoError(CryptoErrorCode.RootUnavailable, 'this vault KEK has been destroyed (sealed)', { kekId: this.id });
    return this.#key;
  }

  destroy(): void {
    zeroize(this.#key);
    this.#key = null;
  }
}

export interface WrappedVaultKek {
  readonly kekId: string;
  /** Envelope under the root (key id = root.id), AAD = vault + kek id. Store this. */
  readonly wrapped: Buffer;
}

/** Creates a random 256-bit KEK for a vault and wraps it with the root. */
export async function createVaultKek(root: RootKey, ref: VaultRef, kekId: string = newId('kek-')): Promise<WrappedVaultKek & { readonly kek: VaultKek }> {
  const context = encodeVaultKekContext(ref, kekId);
  const key = randomBytes(32);
  try {
    const wrapped = await root.wrap(key, context);
    return { kekId, wrapped, kek: new VaultKek(kekId, { tenant: ref.tenant, vault: ref.vault }, Buffer.from(key)) };
  } finally {
    zeroize(key);
  }
}

/** Unwraps a stored KEK with the root; fails with `CiphertextInvalid` if it belongs to another vault/id/root. */
export async function unwrapVaultKek(root: RootKey, ref: VaultRef, kekId: string, wrapped: Uint8Array): Promise<VaultKek> {
  const key = await root.unwrap(wrapped, encodeVaultKekContext(ref, kekId));
  if (key.length !== 32) {
    zeroize(key);
    throw cryptoError(CryptoErrorCode.CiphertextInvalid, 'unwrapped KEK has the wrong length');
  }
  return new VaultKek(kekId, { tenant: ref.tenant, vault: ref.vault }, key);
}

/** Like KMS GenerateDataKey: the plaintext key (use, then zero it) and its wrapped form (store it). */
export interface DataKey {
  readonly dataKeyId: string;
  readonly plaintext: Buffer;
  /** Envelope under the vault KEK (key id = kek.id), AAD = the object's identity. */
  readonly wrapped: Buffer;
}

function assertSameVault(kek: VaultKek, identity: ObjectIdentity): void {
  assertObjectIdentity(identity);
  if (identity.tenant !== kek.vault.tenant || identity.vault !== kek.vault.vault) {
    throw badParameter('Identity', 'the object does not belong to the vault of this KEK');
  }
}

/** Generates a random 256-bit data key for one object version, wrapped by the vault KEK. */
export function generateDataKey(kek: VaultKek, identity: ObjectIdentity, dataKeyId: string = newId('dk-')): DataKey {
  assertSameVault(kek, identity);
  const plaintext = randomBytes(32);
  const wrapped = sealWithContext(kek.material(), kek.id, plaintext, encodeObjectIdentity(identity, ContextPurpose.DataKey));
  return { dataKeyId, plaintext, wrapped };
}

/** Unwraps a data key; the caller zeroes the result after use. */
export function unwrapDataKey(kek: VaultKek, identity: ObjectIdentity, wrapped: Uint8Array): Buffer {
  assertSameVault(kek, identity);
  const key = openWithContext(kek.material(), asBuffer(wrapped), encodeObjectIdentity(identity, ContextPurpose.DataKey), {
    expectedKeyId: kek.id,
  });
  if (key.length !== 32) {
    zeroize(key);
    throw cryptoError(CryptoErrorCode.CiphertextInvalid, 'unwrapped data key has the wrong length');
  }
  return key;
}
