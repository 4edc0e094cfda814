/**
 * Azure "Bring Your Own Key" transfer blobs (.byok files), per Azure's BYOK specification:
 *
 *   {
 *     "schema_version": "1.0.0",
 *     "header": { "kid": "<KEK key id>", "alg": "dir", "enc": "CKM_RSA_AES_KEY_WRAP" },
 *     "ciphertext": "BASE64URL(RSA-OAEP-SHA1(KEK, aesKey) || AES-KWP(aesKey, targetKey))",
 *     "generator": "<BYOK tool and source HSM, informational>"
 *   }
 *
 * i.e. the PKCS#11 CKM_RSA_AES_KEY_WRAP mechanism: an ephemeral AES key encrypted with the
 * KEK (an RSA key with key_ops ["import"]) using RSA-OAEP with SHA-1 (MGF1-SHA-1, empty label);
 * the target key wrapped with that AES key using AES key wrap with padding (RFC 5649,
 * CKM_AES_KEY_WRAP_PAD). The target plaintext is PKCS#8 DER for RSA and EC keys, raw bytes
 * for oct keys. In the REST import call the blob arrives as the JWK's `key_hsm` field.
 */
import { constants, createPrivateKey, createSecretKey, KeyObject, publicEncrypt, randomBytes } from 'node:crypto';
import { keyUnwrapPad, keyWrapPad } from './aes-modes.js';
import { curveFromJwkCrv, curveFromNodeName, OCT_KEY_SIZES, type KeyFamily } from './algorithms.js';
import { asBuffer, fromBase64Url, toBase64Url, zeroize } from './byte-encoding.util.js';
import { badParameter, cryptoError, CryptoErrorCode, isDomainError } from './crypto.errors.js';
import { loadSoftwareKey, publicKeyObjectFromJwk, type PrivateJwk, type RsaPublicJwk, type SoftwareKey } from './software-key.js';
import { EC_PRIVATE_MEMBERS, jwkMembers, RSA_PRIVATE_MEMBERS } from './jwk-members.js';

export const BYOK_SCHEMA_VERSION = '1.0.0';
export const BYOK_ENC = 'CKM_RSA_AES_KEY_WRAP';

export interface ByokTransferBlob {
  readonly kid: string;
  readonly ciphertext: Buffer;
  readonly generator?: string;
}

/** The KEK side of the transfer: whatever can do RSA-OAEP (SHA-1) decryption with the KEK's private key. */
export interface ByokKeyExchangeKey {
  readonly modulusBytes: number;
  decryptOaepSha1(ciphertext: Buffer): Buffer | Promise<Buffer>;
}

/** A software RSA key as the KEK. (For an HSM KEK use `HsmKeyPair.decrypt('RSA-OAEP', …)`.) */
export function softwareKeyExchangeKey(kek: SoftwareKey): ByokKeyExchangeKey {
  if (kek.kty !== 'RSA') throw badParameter('KeyType', 'a BYOK key exchange key must be an RSA key');
  return { modulusBytes: Math.ceil(kek.sizeBits / 8), decryptOaepSha1: (c) => kek.unwrapKey('RSA-OAEP', c) };
}

function malformed(message: string): Error {
  return badParameter('MalformedByok', message);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses and validates a transfer blob (JSON bytes, JSON text, or the parsed object). Reads `kid` to find the KEK. */
export function parseByokBlob(blob: Uint8Array | string | object): ByokTransferBlob {
  let doc: unknown = blob;
  if (typeof blob === 'string' || blob instanceof Uint8Array) {
    const text = typeof blob === 'string' ? blob : asBuffer(blob).toString('utf8');
    try {
      doc = JSON.parse(text);
    } catch {
      throw malformed('the BYOK blob is not JSON');
    }
  }
  if (!isRecord(doc)) throw malformed('the BYOK blob must be a JSON object');
  if (doc['schema_version'] !== BYOK_SCHEMA_VERSION) throw malformed(`unsupported BYOK schema_version (expected ${BYOK_SCHEMA_VERSION})`);
  const header = doc['header'];
  if (!isRecord(header)) throw malformed('the BYOK blob has no header');
  if (header['alg'] !== 'dir') throw malformed("the BYOK header alg must be 'dir'");
  if (header['enc'] !== BYOK_ENC) throw malformed(`the BYOK header enc must be '${BYOK_ENC}'`);
  const kid = header['kid'];
  if (typeof kid !== 'string' || kid.length === 0) throw malformed('the BYOK header has no kid');
  const ct = doc['ciphertext'];
  if (typeof ct !== 'string' || ct.length === 0) throw malformed('the BYOK blob has no ciphertext');
  const generator = doc['generator'];
  const ciphertext = fromBase64Url(ct, 'ciphertext');
  return typeof generator === 'string' ? { kid, ciphertext, generator } : { kid, ciphertext };
}

/**
 * Whether a blob's `kid` names the given KEK: compares the `/keys/{name}/{version}` part,
 * name case-insensitively (hosts differ between the client-visible and internal origin).
 */
export function byokKidMatches(blobKid: string, kekKid: string): boolean {
  const part = (kid: string): string | null => {
    const m = /\/keys\/([^/?#]+)\/([^/?#]+)\/?(?:[?#].*)?$/.exec(kid);
    return m ? `${m[1].toLowerCase()}/${m[2].toLowerCase()}` : null;
  };
  const a = part(blobKid);
  return a !== null && a === part(kekKid);
}

/**
 * Unwraps the target key of a transfer blob with the KEK; returns it as a private JWK
 * (validated by loading it). `targetKty` is what the import request declared.
 */
export async function unwrapByokBlob(blob: ByokTransferBlob, kek: ByokKeyExchangeKey, targetKty: KeyFamily): Promise<PrivateJwk> {
  const k = kek.modulusBytes;
  if (blob.ciphertext.length < k + 16) throw cryptoError(CryptoErrorCode.CiphertextInvalid, 'the BYOK ciphertext is too short for this KEK', { reason: 'Length' });
  let aesKey: Buffer | undefined;
  let target: Buffer | undefined;
  try {
    try {
      aesKey = await kek.decryptOaepSha1(blob.ciphertext.subarray(0, k));
    } catch (e) {
      if (isDomainError(e) && e.code !== CryptoErrorCode.CiphertextInvalid) throw e;
      throw cryptoError(CryptoErrorCode.CiphertextInvalid, 'the BYOK wrapping key could not be decrypted with this KEK', { reason: 'KeyExchange' });
    }
    const bits = aesKey.length * 8;
    if (!(OCT_KEY_SIZES as readonly number[]).includes(bits)) {
      throw cryptoError(CryptoErrorCode.CiphertextInvalid, 'the BYOK wrapping key has an invalid length', { reason: 'KeyExchange' });
    }
    target = keyUnwrapPad(createSecretKey(aesKey), bits as 128 | 192 | 256, blob.ciphertext.subarray(k));
    const jwk = targetToJwk(target, targetKty);
    loadSoftwareKey(jwk).destroy();
    return jwk;
  } finally {
    zeroize(aesKey, target);
  }
}

function targetToJwk(target: Buffer, kty: KeyFamily): PrivateJwk {
  if (kty === 'oct') return { kty: 'oct', k: toBase64Url(target) };
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: target, format: 'der', type: 'pkcs8' });
  } catch {
    throw malformed('the BYOK target key is not a PKCS#8 private key');
  }
  const j = key.export({ format: 'jwk' });
  if (kty === 'RSA') {
    if (key.asymmetricKeyType !== 'rsa') throw malformed('the BYOK target key is not an RSA key');
    return { kty: 'RSA', ...jwkMembers(j, RSA_PRIVATE_MEMBERS) };
  }
  if (key.asymmetricKeyType !== 'ec') throw malformed('the BYOK target key is not an EC key');
  const named = key.asymmetricKeyDetails?.namedCurve;
  const crv = named ? curveFromNodeName(named) : curveFromJwkCrv(j.crv ?? '');
  return { kty: 'EC', crv, ...jwkMembers(j, EC_PRIVATE_MEMBERS) };
}

/**
 * Builds a transfer blob the way a vendor BYOK tool does (for tests and tooling):
 * random AES-256 key, RSA-OAEP-SHA1 under the KEK public key, AES-KWP of the target.
 */
export function createByokTransferBlob(target: PrivateJwk, kekPublic: RsaPublicJwk | KeyObject, kid: string, generator = 'keyledger crypto-core'): Buffer {
  const kekKey = kekPublic instanceof KeyObject ? kekPublic : publicKeyObjectFromJwk(kekPublic);
  let plain: Buffer;
  if (target.kty === 'oct') {
    plain = fromBase64Url(target.k, 'k');
  } else {
    const nodeJwk = target.kty === 'EC' ? { ...target, crv: target.crv === 'P-256K' ? 'secp256k1' : target.crv } : { ...target };
    plain = createPrivateKey({ key: nodeJwk, format: 'jwk' }).export({ format: 'der', type: 'pkcs8' });
  }
  const aesKey = randomBytes(32);
  try {
    const wrappedAes = publicEncrypt({ key: kekKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, aesKey);
    const wrappedTarget = keyWrapPad(createSecretKey(aesKey), 256, plain);
    const doc = {
      schema_version: BYOK_SCHEMA_VERSION,
      header: { kid, alg: 'dir', enc: BYOK_ENC },
      ciphertext: toBase64Url(Buffer.concat([wrappedAes, wrappedTarget])),
      generator,
    };
    return Buffer.from(JSON.stringify(doc), 'utf8');
  } finally {
    zeroize(aesKey, plain);
  }
}
