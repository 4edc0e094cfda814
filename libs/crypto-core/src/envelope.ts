/**
 * Self-describing, identity-bound AES-256-GCM ciphertext ("envelope"), in the spirit of
 * OpenBao's barrier (`internal/vault/barrier/aes_gcm.go`: version byte + term + nonce,
 * storage path as AAD), adapted to Keyledger's key hierarchy.
 *
 * Layout, format 0x01:
 *
 *   offset 0        format version      1 byte  (0x01)
 *   offset 1        key id length L     1 byte  (1..255)
 *   offset 2        key id              L bytes (UTF-8; which key sealed this)
 *   offset 2+L      nonce               12 bytes (random per seal)
 *   offset 14+L     ciphertext          n bytes
 *   last 16         GCM tag             16 bytes
 *
 * AAD = header (format, L, key id) || context, where the context is a canonical,
 * length-prefixed encoding of what the ciphertext belongs to (see `encodeContext`):
 * for stored values the object's identity {tenant, vault, collection, name, version}.
 * Copying a ciphertext to another object, editing the key id, or flipping any bit makes
 * `open` fail with `CiphertextInvalid`; it never returns unauthenticated bytes.
 *
 * Nonces are random 96-bit values: keep well under 2^32 seals per key (NIST SP 800-38D).
 * In this hierarchy each data key seals one object version, each vault KEK wraps one data
 * key per object version, and the root wraps one KEK per vault version.
 */
import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto';
import { asBuffer, u32be, zeroize } from './byte-encoding.util.js';
import { badParameter, cryptoError, CryptoErrorCode } from './crypto.errors.js';

export const ENVELOPE_FORMAT_V1 = 0x01;
export const ENVELOPE_NONCE_BYTES = 12;
export const ENVELOPE_TAG_BYTES = 16;
const MAX_KEY_ID_BYTES = 255;

/** Where a stored value lives. Fields are bound byte-for-byte: pass canonical (e.g. lower-cased) names. */
export interface ObjectIdentity {
  readonly tenant: string;
  readonly vault: string;
  readonly collection: string;
  readonly name: string;
  readonly version: string;
}

/** Purpose labels keep the contexts of different layers of the hierarchy disjoint. */
export const ContextPurpose = {
  ObjectValue: 'keyledger/object-value/v1',
  DataKey: 'keyledger/data-key/v1',
  VaultKek: 'keyledger/vault-kek/v1',
} as const;
export type ContextPurpose = (typeof ContextPurpose)[keyof typeof ContextPurpose];

/** 256-bit AES key as raw bytes or a secret KeyObject. */
export type EnvelopeKey = Uint8Array | KeyObject;

export interface ParsedEnvelope {
  readonly format: number;
  readonly keyId: string;
  /** format byte, key id length and key id: the first part of the AAD. */
  readonly header: Buffer;
  readonly nonce: Buffer;
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

/**
 * Canonical context encoding: u8 purpose length || purpose || u8 field count ||
 * for each field: u32be byte length || UTF-8 bytes. Unambiguous for any field contents.
 */
export function encodeContext(purpose: string, fields: readonly string[]): Buffer {
  const p = Buffer.from(purpose, 'utf8');
  if (p.length === 0 || p.length > 255 || fields.length > 255) throw badParameter('Context', 'context purpose or field count out of range');
  const parts: Buffer[] = [Buffer.from([p.length]), p, Buffer.from([fields.length])];
  for (const f of fields) {
    const b = Buffer.from(f, 'utf8');
    parts.push(u32be(b.length), b);
  }
  return Buffer.concat(parts);
}

export function assertObjectIdentity(identity: ObjectIdentity): void {
  for (const field of ['tenant', 'vault', 'collection', 'name', 'version'] as const) {
    const v: unknown = identity?.[field];
    if (typeof v !== 'string' || v.length === 0) {
      throw badParameter('Identity', `object identity field '${field}' must be a non-empty string`, { field });
    }
  }
}

/** The context bound into a stored value's ciphertext. */
export function encodeObjectIdentity(identity: ObjectIdentity, purpose: ContextPurpose = ContextPurpose.ObjectValue): Buffer {
  assertObjectIdentity(identity);
  return encodeContext(purpose, [identity.tenant, identity.vault, identity.collection, identity.name, identity.version]);
}

export function encodeEnvelopeHeader(keyId: string): Buffer {
  const id = Buffer.from(keyId ?? '', 'utf8');
  if (id.length === 0 || id.length > MAX_KEY_ID_BYTES) {
    throw badParameter('KeyId', `key id must be 1..${MAX_KEY_ID_BYTES} bytes of UTF-8`);
  }
  return Buffer.concat([Buffer.from([ENVELOPE_FORMAT_V1, id.length]), id]);
}

function invalid(reason: string): Error {
  return cryptoError(CryptoErrorCode.CiphertextInvalid, 'ciphertext is malformed or not valid for this key and object', { reason });
}

/** Splits an envelope into its parts without decrypting. Throws `CiphertextInvalid` if malformed. */
export function parseEnvelope(envelope: Uint8Array): ParsedEnvelope {
  const buf = asBuffer(envelope);
  if (buf.length < 2) throw invalid('Truncated');
  if (buf[0] !== ENVELOPE_FORMAT_V1) throw invalid('UnknownFormat');
  const idLen = buf[1];
  const headerLen = 2 + idLen;
  if (idLen === 0 || buf.length < headerLen + ENVELOPE_NONCE_BYTES + ENVELOPE_TAG_BYTES) throw invalid('Truncated');
  const idBytes = buf.subarray(2, headerLen);
  const keyId = idBytes.toString('utf8');
  if (!Buffer.from(keyId, 'utf8').equals(idBytes)) throw invalid('KeyIdEncoding');
  return {
    format: buf[0],
    keyId,
    header: buf.subarray(0, headerLen),
    nonce: buf.subarray(headerLen, headerLen + ENVELOPE_NONCE_BYTES),
    ciphertext: buf.subarray(headerLen + ENVELOPE_NONCE_BYTES, buf.length - ENVELOPE_TAG_BYTES),
    tag: buf.subarray(buf.length - ENVELOPE_TAG_BYTES),
  };
}

/** The id of the key that sealed this envelope (to look the key up before `open`). */
export function peekKeyId(envelope: Uint8Array): string {
  return parseEnvelope(envelope).keyId;
}

function assertAes256(key: EnvelopeKey): void {
  const size = key instanceof Uint8Array ? key.byteLength : key.type === 'secret' ? key.symmetricKeySize : undefined;
  if (size !== 32) throw badParameter('KeySize', 'envelope keys must be 256-bit AES keys');
}

/** AES-256-GCM seal under `keyId`, binding `context` (already canonical) as AAD. */
export function sealWithContext(key: EnvelopeKey, keyId: string, plaintext: Uint8Array, context: Uint8Array): Buffer {
  assertAes256(key);
  const header = encodeEnvelopeHeader(keyId);
  const nonce = randomBytes(ENVELOPE_NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: ENVELOPE_TAG_BYTES });
  cipher.setAAD(Buffer.concat([header, context]));
  const body = cipher.update(plaintext);
  const final = cipher.final();
  return Buffer.concat([header, nonce, body, final, cipher.getAuthTag()]);
}

export interface OpenOptions {
  /** If given, the envelope must name this key id (else `CiphertextInvalid`, reason `KeyIdMismatch`). */
  readonly expectedKeyId?: string;
}

/** Opens an envelope sealed with `sealWithContext`; the same context must be supplied. */
export function openWithContext(key: EnvelopeKey, envelope: Uint8Array, context: Uint8Array, options: OpenOptions = {}): Buffer {
  assertAes256(key);
  const parsed = parseEnvelope(envelope);
  if (options.expectedKeyId !== undefined && parsed.keyId !== options.expectedKeyId) throw invalid('KeyIdMismatch');
  const decipher = createDecipheriv('aes-256-gcm', key, parsed.nonce, { authTagLength: ENVELOPE_TAG_BYTES });
  decipher.setAAD(Buffer.concat([parsed.header, context]));
  decipher.setAuthTag(parsed.tag);
  const body = decipher.update(parsed.ciphertext);
  try {
    const final = decipher.final();
    if (final.length === 0) return body;
    const out = Buffer.concat([body, final]);
    zeroize(body, final);
    return out;
  } catch {
    zeroize(body);
    throw invalid('Authentication');
  }
}

/** Seals a stored value bound to its object identity. */
export function seal(key: EnvelopeKey, keyId: string, plaintext: Uint8Array, identity: ObjectIdentity): Buffer {
  return sealWithContext(key, keyId, plaintext, encodeObjectIdentity(identity));
}

/** Opens a stored value; fails with `CiphertextInvalid` unless key, key id, identity and every bit match. */
export function open(key: EnvelopeKey, envelope: Uint8Array, identity: ObjectIdentity, options: OpenOptions = {}): Buffer {
  return openWithContext(key, envelope, encodeObjectIdentity(identity), options);
}
