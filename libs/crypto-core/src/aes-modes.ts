/**
 * AES modes with Azure's byte formats: GCM (12-byte iv, 16-byte tag returned separately),
 * CBC without padding, CBC with PKCS#7 padding (16-byte iv), RFC 3394 key wrap and
 * RFC 5649 key wrap with padding.
 */
import { createCipheriv, createDecipheriv, randomBytes, type CipherGCM, type CipherGCMTypes, type DecipherGCM, type KeyObject } from 'node:crypto';
import { zeroize } from './byte-encoding.util.js';
import { badParameter, cryptoError, CryptoErrorCode } from './crypto.errors.js';

export const GCM_IV_BYTES = 12;
export const GCM_TAG_BYTES = 16;
export const CBC_IV_BYTES = 16;
/** RFC 3394 §2.2.3.1 default IV and RFC 5649 §3 alternative IV (32-bit prefix). */
const KW_IV = Buffer.from('a6a6a6a6a6a6a6a6', 'hex');
const KWP_IV = Buffer.from('a65959a6', 'hex');

type AesBits = 128 | 192 | 256;

function gcmName(bits: AesBits): CipherGCMTypes {
  return `aes-${bits}-gcm`;
}

function cipherName(bits: AesBits, mode: 'cbc' | 'wrap' | 'wrap-pad'): string {
  switch (mode) {
    case 'cbc':
      return `aes-${bits}-cbc`;
    case 'wrap':
      return `id-aes${bits}-wrap`;
    case 'wrap-pad':
      return `id-aes${bits}-wrap-pad`;
  }
}

function invalidCiphertext(reason: string): Error {
  return cryptoError(CryptoErrorCode.CiphertextInvalid, 'decryption failed: the ciphertext, iv, tag or aad is not valid for this key', { reason });
}

function concatAndWipe(a: Buffer, b: Buffer): Buffer {
  if (b.length === 0) return a;
  const out = Buffer.concat([a, b]);
  zeroize(a, b);
  return out;
}

export interface GcmResult {
  readonly ciphertext: Buffer;
  readonly iv: Buffer;
  readonly authenticationTag: Buffer;
}

export function gcmEncrypt(key: KeyObject, bits: AesBits, plaintext: Uint8Array, iv?: Uint8Array, aad?: Uint8Array): GcmResult {
  const nonce = iv ? Buffer.from(iv) : randomBytes(GCM_IV_BYTES);
  if (nonce.length !== GCM_IV_BYTES) throw badParameter('IvLength', `AES-GCM needs a ${GCM_IV_BYTES}-byte iv`);
  const cipher: CipherGCM = createCipheriv(gcmName(bits), key, nonce, { authTagLength: GCM_TAG_BYTES });
  if (aad && aad.byteLength > 0) cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { ciphertext, iv: nonce, authenticationTag: cipher.getAuthTag() };
}

export function gcmDecrypt(key: KeyObject, bits: AesBits, ciphertext: Uint8Array, iv: Uint8Array | undefined, tag: Uint8Array | undefined, aad?: Uint8Array): Buffer {
  if (!iv || iv.byteLength !== GCM_IV_BYTES) throw badParameter('IvLength', `AES-GCM needs a ${GCM_IV_BYTES}-byte iv`);
  if (!tag || tag.byteLength !== GCM_TAG_BYTES) throw badParameter('TagLength', `AES-GCM needs a ${GCM_TAG_BYTES}-byte authentication tag`);
  const decipher: DecipherGCM = createDecipheriv(gcmName(bits), key, iv, { authTagLength: GCM_TAG_BYTES });
  if (aad && aad.byteLength > 0) decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  const body = decipher.update(ciphertext);
  try {
    return concatAndWipe(body, decipher.final());
  } catch {
    zeroize(body);
    throw invalidCiphertext('Authentication');
  }
}

export interface CbcResult {
  readonly ciphertext: Buffer;
  readonly iv: Buffer;
}

export function cbcEncrypt(key: KeyObject, bits: AesBits, plaintext: Uint8Array, pad: boolean, iv?: Uint8Array): CbcResult {
  const ivBuf = iv ? Buffer.from(iv) : randomBytes(CBC_IV_BYTES);
  if (ivBuf.length !== CBC_IV_BYTES) throw badParameter('IvLength', `AES-CBC needs a ${CBC_IV_BYTES}-byte iv`);
  if (!pad && plaintext.byteLength % 16 !== 0) {
    throw badParameter('InputLength', 'AES-CBC without padding needs a multiple of 16 bytes; use the CBCPAD algorithm');
  }
  const cipher = createCipheriv(cipherName(bits, 'cbc'), key, ivBuf);
  cipher.setAutoPadding(pad);
  return { ciphertext: Buffer.concat([cipher.update(plaintext), cipher.final()]), iv: ivBuf };
}

/**
 * CBC decryption. With padding this is unauthenticated PKCS#7 unpadding (a padding oracle
 * if errors are distinguishable): every failure yields the same `CiphertextInvalid`.
 */
export function cbcDecrypt(key: KeyObject, bits: AesBits, ciphertext: Uint8Array, pad: boolean, iv: Uint8Array | undefined): Buffer {
  if (!iv || iv.byteLength !== CBC_IV_BYTES) throw badParameter('IvLength', `AES-CBC needs a ${CBC_IV_BYTES}-byte iv`);
  if (ciphertext.byteLength % 16 !== 0 || (pad && ciphertext.byteLength === 0)) {
    throw badParameter('InputLength', 'AES-CBC ciphertext must be a non-empty multiple of 16 bytes');
  }
  const decipher = createDecipheriv(cipherName(bits, 'cbc'), key, iv);
  decipher.setAutoPadding(pad);
  const body = decipher.update(ciphertext);
  try {
    return concatAndWipe(body, decipher.final());
  } catch {
    zeroize(body);
    throw invalidCiphertext('Padding');
  }
}

/** RFC 3394 (A*KW, CKM_AES_KEY_WRAP): input a multiple of 8 bytes, at least 16. */
export function keyWrap(key: KeyObject, bits: AesBits, plain: Uint8Array): Buffer {
  if (plain.byteLength < 16 || plain.byteLength % 8 !== 0) {
    throw badParameter('InputLength', 'AES key wrap (RFC 3394) needs at least 16 bytes, a multiple of 8; use CKM_AES_KEY_WRAP_PAD otherwise');
  }
  const cipher = createCipheriv(cipherName(bits, 'wrap'), key, KW_IV);
  return Buffer.concat([cipher.update(plain), cipher.final()]);
}

export function keyUnwrap(key: KeyObject, bits: AesBits, wrapped: Uint8Array): Buffer {
  if (wrapped.byteLength < 24 || wrapped.byteLength % 8 !== 0) throw invalidCiphertext('Length');
  const decipher = createDecipheriv(cipherName(bits, 'wrap'), key, KW_IV);
  try {
    const body = decipher.update(wrapped);
    return concatAndWipe(body, decipher.final());
  } catch {
    throw invalidCiphertext('Integrity');
  }
}

/** RFC 5649 (CKM_AES_KEY_WRAP_PAD), for every non-empty input. */
export function keyWrapPad(key: KeyObject, bits: AesBits, plain: Uint8Array): Buffer {
  if (plain.byteLength === 0) throw badParameter('InputLength', 'nothing to wrap');
  const cipher = createCipheriv(cipherName(bits, 'wrap-pad'), key, KWP_IV);
  return Buffer.concat([cipher.update(plain), cipher.final()]);
}

export function keyUnwrapPad(key: KeyObject, bits: AesBits, wrapped: Uint8Array): Buffer {
  if (wrapped.byteLength < 16 || wrapped.byteLength % 8 !== 0) throw invalidCiphertext('Length');
  const decipher = createDecipheriv(cipherName(bits, 'wrap-pad'), key, KWP_IV);
  try {
    const body = decipher.update(wrapped);
    return concatAndWipe(body, decipher.final());
  } catch {
    throw invalidCiphertext('Integrity');
  }
}
