import { createCipheriv, createDecipheriv, createPrivateKey, constants, privateDecrypt, publicEncrypt, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto';

/**
 * The wrapping of released key material (secure key release), as Azure's `enc` values name it
 * (PKCS#11 CKM_RSA_AES_KEY_WRAP):
 *   blob = RSA-OAEP(target public key, ephemeral AES-256 key) || AES-KWP(ephemeral key, material)
 * RSA-OAEP uses SHA-1 (MGF1-SHA-1) for CKM_RSA_AES_KEY_WRAP, SHA-256 for RSA_AES_KEY_WRAP_256 and
 * SHA-384 for RSA_AES_KEY_WRAP_384; AES-KWP is RFC 5649 (OpenSSL `id-aes256-wrap-pad`). The
 * material is the PKCS#8 DER of an RSA or EC private key, the raw bytes of an oct key.
 * The ephemeral key is zeroed after use.
 */
export type ReleaseEncryption = 'CKM_RSA_AES_KEY_WRAP' | 'RSA_AES_KEY_WRAP_256' | 'RSA_AES_KEY_WRAP_384';

export const RELEASE_ENCRYPTIONS: readonly ReleaseEncryption[] = ['CKM_RSA_AES_KEY_WRAP', 'RSA_AES_KEY_WRAP_256', 'RSA_AES_KEY_WRAP_384'];

export const isReleaseEncryption = (v: string): v is ReleaseEncryption => (RELEASE_ENCRYPTIONS as readonly string[]).includes(v);

const OAEP_HASH: Record<ReleaseEncryption, string> = { CKM_RSA_AES_KEY_WRAP: 'sha1', RSA_AES_KEY_WRAP_256: 'sha256', RSA_AES_KEY_WRAP_384: 'sha384' };

/** RFC 5649's alternative initial value (the 4-byte constant; OpenSSL appends the length). */
const KWP_IV = Buffer.from('a65959a6', 'hex');

/** A private JWK (software key material) as the bytes a release carries: PKCS#8 DER, or raw for oct. */
export function releaseMaterialOf(jwk: { readonly kty: string; readonly k?: string } & Record<string, unknown>): Buffer {
  if (jwk.kty === 'oct') {
    if (typeof jwk.k !== 'string') throw new Error('oct key without k');
    return Buffer.from(jwk.k, 'base64url');
  }
  return createPrivateKey({ key: jwk as JsonWebKey, format: 'jwk' }).export({ type: 'pkcs8', format: 'der' });
}

/** Wraps `material` for the holder of the RSA private key matching `target`. */
export function wrapForRelease(material: Buffer, target: KeyObject, enc: ReleaseEncryption): Buffer {
  if (target.asymmetricKeyType !== 'rsa') throw new Error('the release target key must be an RSA public key');
  const ephemeral = randomBytes(32);
  try {
    const wrappedKey = publicEncrypt({ key: target, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP_HASH[enc] }, ephemeral);
    const cipher = createCipheriv('id-aes256-wrap-pad', ephemeral, KWP_IV);
    const wrappedMaterial = Buffer.concat([cipher.update(material), cipher.final()]);
    return Buffer.concat([wrappedKey, wrappedMaterial]);
  } finally {
    ephemeral.fill(0);
  }
}

/** The inverse (for tests and for release clients): the material, given the target's private key. */
export function unwrapRelease(blob: Buffer, targetPrivate: KeyObject, enc: ReleaseEncryption): Buffer {
  const modulusBytes = Math.ceil((targetPrivate.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
  if (modulusBytes === 0 || blob.length <= modulusBytes) throw new Error('the release blob is too short for this key');
  const ephemeral = privateDecrypt({ key: targetPrivate, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: OAEP_HASH[enc] }, blob.subarray(0, modulusBytes));
  try {
    const decipher = createDecipheriv('id-aes256-wrap-pad', ephemeral, KWP_IV);
    return Buffer.concat([decipher.update(blob.subarray(modulusBytes)), decipher.final()]);
  } finally {
    ephemeral.fill(0);
  }
}
