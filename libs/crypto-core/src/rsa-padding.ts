/**
 * RSA signature encodings over a caller-supplied digest (RFC 8017):
 * - EMSA-PKCS1-v1_5: the DigestInfo prefix is prepended here; the type-1 padding is applied by
 *   OpenSSL (`privateEncrypt` with RSA_PKCS1_PADDING) or the token (CKM_RSA_PKCS).
 * - EMSA-PSS with MGF1 using the same hash and salt length = hash length, encoded here and
 *   exponentiated raw (`privateEncrypt` with RSA_NO_PADDING), because Node's `crypto.sign`
 *   always hashes its input.
 */
import { createHash, randomBytes } from 'node:crypto';
import { constantTimeEqual, zeroize } from './byte-encoding.util.js';

type DigestHash = 'sha256' | 'sha384' | 'sha512';
type MgfHash = DigestHash | 'sha1';

const HASH_BYTES: Readonly<Record<DigestHash, number>> = { sha256: 32, sha384: 48, sha512: 64 };

/** DER of DigestInfo { AlgorithmIdentifier { oid, NULL }, OCTET STRING (digest follows) } (RFC 8017 §9.2 note 1). */
const DIGEST_INFO_PREFIX: Readonly<Record<DigestHash, Buffer>> = {
  sha256: Buffer.from('3031300d060960864801650304020105000420', 'hex'),
  sha384: Buffer.from('3041300d060960864801650304020205000430', 'hex'),
  sha512: Buffer.from('3051300d060960864801650304020305000440', 'hex'),
};

export function digestInfo(hash: DigestHash, digest: Uint8Array): Buffer {
  return Buffer.concat([DIGEST_INFO_PREFIX[hash], digest]);
}

function mgf1(hash: MgfHash, seed: Uint8Array, length: number): Buffer {
  const out = Buffer.alloc(length);
  const counter = Buffer.alloc(4);
  let offset = 0;
  for (let i = 0; offset < length; i++) {
    counter.writeUInt32BE(i, 0);
    const block = createHash(hash).update(seed).update(counter).digest();
    offset += block.copy(out, offset);
  }
  return out;
}

/**
 * EMSA-PSS-ENCODE(mHash, emBits = modBits - 1) with sLen = hLen, left-padded with zero bytes to
 * the modulus length so it can be fed to a raw RSA private operation.
 */
export function pssEncode(hash: DigestHash, digest: Uint8Array, modulusBits: number): Buffer {
  const hLen = HASH_BYTES[hash];
  const sLen = hLen;
  const emBits = modulusBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const k = Math.ceil(modulusBits / 8);
  if (digest.byteLength !== hLen) throw new RangeError('digest length');
  if (emLen < hLen + sLen + 2) throw new RangeError('modulus too small for PSS');
  const salt = randomBytes(sLen);
  const h = createHash(hash).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  const db = Buffer.alloc(emLen - hLen - 1);
  db[emLen - sLen - hLen - 2] = 0x01;
  salt.copy(db, emLen - sLen - hLen - 1);
  const mask = mgf1(hash, h, db.length);
  for (let i = 0; i < db.length; i++) db[i] ^= mask[i];
  db[0] &= 0xff >>> (8 * emLen - emBits);
  const em = Buffer.alloc(k);
  db.copy(em, k - emLen);
  h.copy(em, k - emLen + db.length);
  em[k - 1] = 0xbc;
  return em;
}

/** EMSA-PSS-VERIFY with sLen = hLen. `em` is the k-byte result of the public RSA operation. */
export function pssVerify(hash: DigestHash, digest: Uint8Array, em: Uint8Array, modulusBits: number): boolean {
  const hLen = HASH_BYTES[hash];
  const sLen = hLen;
  const emBits = modulusBits - 1;
  const emLen = Math.ceil(emBits / 8);
  const k = Math.ceil(modulusBits / 8);
  if (digest.byteLength !== hLen || em.byteLength !== k || emLen < hLen + sLen + 2) return false;
  for (let i = 0; i < k - emLen; i++) if (em[i] !== 0) return false;
  const enc = Buffer.from(em.subarray(k - emLen));
  if (enc[emLen - 1] !== 0xbc) return false;
  const maskedDb = enc.subarray(0, emLen - hLen - 1);
  const h = enc.subarray(emLen - hLen - 1, emLen - 1);
  const topMask = 0xff << (8 - (8 * emLen - emBits)) & 0xff;
  if ((maskedDb[0] & topMask) !== 0) return false;
  const mask = mgf1(hash, h, maskedDb.length);
  const db = Buffer.alloc(maskedDb.length);
  for (let i = 0; i < db.length; i++) db[i] = maskedDb[i] ^ mask[i];
  db[0] &= 0xff >>> (8 * emLen - emBits);
  const psLen = emLen - hLen - sLen - 2;
  for (let i = 0; i < psLen; i++) if (db[i] !== 0) return false;
  if (db[psLen] !== 0x01) return false;
  const salt = db.subarray(db.length - sLen);
  const h2 = createHash(hash).update(Buffer.alloc(8)).update(digest).update(salt).digest();
  return constantTimeEqual(h, h2);
}

/**
 * EME-OAEP decoding (RFC 8017 §7.1.2 step 3, empty label, MGF1 with the same hash) of the
 * k-byte result of a raw RSA private operation. Used only where a token lacks OAEP with
 * SHA-256 natively. All checks are evaluated without early exit and reported as one failure
 * (returns null), so the error does not tell which check failed (Manger's attack).
 */
export function oaepDecode(hash: 'sha1' | 'sha256', em: Uint8Array, k: number): Buffer | null {
  const hLen = hash === 'sha1' ? 20 : 32;
  if (em.byteLength !== k || k < 2 * hLen + 2) return null;
  const buf = Buffer.from(em);
  const maskedSeed = buf.subarray(1, 1 + hLen);
  const maskedDb = buf.subarray(1 + hLen);
  const seedMask = mgf1(hash, maskedDb, hLen);
  const seed = Buffer.alloc(hLen);
  for (let i = 0; i < hLen; i++) seed[i] = maskedSeed[i] ^ seedMask[i];
  const dbMask = mgf1(hash, seed, k - hLen - 1);
  const db = Buffer.alloc(k - hLen - 1);
  for (let i = 0; i < db.length; i++) db[i] = maskedDb[i] ^ dbMask[i];
  const lHash = createHash(hash).digest();
  let bad = buf[0];
  for (let i = 0; i < hLen; i++) bad |= db[i] ^ lHash[i];
  // Find the 0x01 separator after the zero padding without data-dependent branches.
  let found = 0; // becomes 1 at the separator
  let index = 0;
  let invalidPadding = 0;
  for (let i = hLen; i < db.length; i++) {
    const b = db[i];
    const isZero = ((b | -b) >>> 31) ^ 1; // 1 if b == 0
    const isOne = (((b ^ 1) | -(b ^ 1)) >>> 31) ^ 1; // 1 if b == 1
    const notFoundYet = found ^ 1;
    index |= i & -(notFoundYet & isOne);
    invalidPadding |= notFoundYet & (isZero ^ 1) & (isOne ^ 1);
    found |= isOne;
  }
  bad |= invalidPadding | (found ^ 1);
  zeroize(seed, seedMask);
  if (bad !== 0) {
    zeroize(db);
    return null;
  }
  const out = Buffer.from(db.subarray(index + 1));
  zeroize(db, buf);
  return out;
}
