/**
 * ECDSA over a caller-supplied digest (Azure's ES256/ES256K/ES384/ES512 semantics).
 * Checked against @noble/curves in ecdsa-digest.differential.unit.spec.ts (both directions, every curve).
 *
 * Node cannot do this directly: `crypto.sign(null, data, ecKey)` hashes `data` with SHA-256
 * first (OpenSSL's default digest for EC keys), and WebCrypto always hashes. So:
 *
 * Signing (FIPS 186-5 §6.4.1 with e = bits2int(digest)):
 *   - the per-signature nonce k and R = k·G come from OpenSSL (an ephemeral ECDH key pair:
 *     CSPRNG scalar, constant-time fixed-base multiplication);
 *   - r = x(R) mod n; s = k⁻¹(e + r·d) mod n is computed with BigInt, *blinded* by a fresh
 *     random b: s = (k·b)⁻¹ · (b·e + (b·r)·d). The variable-time inversion only ever sees the
 *     uniformly random k·b, so its timing says nothing about k or d.
 *
 * Verification (public data only) reuses OpenSSL's verifier: with a fixed message m' whose
 * hash is e', and t = (e − e')·r⁻¹ mod n, the signature (r, s) is valid for digest e under Q
 * iff it is valid for m' under Q' = Q + t·G (the u₁·G terms match: (e' + r·t)/s = e/s).
 * t·G comes from OpenSSL; the single point addition is done here on public values.
 *
 * Output is raw r‖s (IEEE P1363), each ⌈bits(n)/8⌉ bytes, as Azure returns.
 */
import { createECDH, createHash, createPublicKey, verify as nodeVerify, type ECDH, type KeyObject } from 'node:crypto';
import { bigIntToBytes, bytesToBigInt, mod, modInverse, randomScalar, zeroize } from './byte-encoding.util.js';
import { NODE_CURVE, NODE_JWK_CRV, type CurveName } from './algorithms.js';

export interface CurveParams {
  readonly name: CurveName;
  readonly p: bigint;
  readonly a: bigint;
  readonly b: bigint;
  readonly n: bigint;
  /** Bytes of a field element / scalar / each half of a signature. */
  readonly byteLength: number;
  readonly orderBits: number;
  /** Hash used for the fixed verification message (digest bits ≤ order bits: no truncation). */
  readonly verifyHash: 'sha256' | 'sha384' | 'sha512';
}

// Domain parameters (SEC 2 / FIPS 186-5), checked against `openssl ecparam -param_enc explicit`.
const P256_P = 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn;
const P384_P = 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn;
const P521_P = (1n << 521n) - 1n;

export const CURVE_PARAMS: Readonly<Record<CurveName, CurveParams>> = {
  'P-256': {
    name: 'P-256',
    p: P256_P,
    a: P256_P - 3n,
    b: 0x5ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604bn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    byteLength: 32,
    orderBits: 256,
    verifyHash: 'sha256',
  },
  'P-256K': {
    name: 'P-256K',
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffefffffc2fn,
    a: 0n,
    b: 7n,
    n: 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n,
    byteLength: 32,
    orderBits: 256,
    verifyHash: 'sha256',
  },
  'P-384': {
    name: 'P-384',
    p: P384_P,
    a: P384_P - 3n,
    b: 0xb3312fa7e23ee7e4988e056be3f82d19181d9c6efe8141120314088f5013875ac656398d8a2ed19d2a85c8edd3ec2aefn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    byteLength: 48,
    orderBits: 384,
    verifyHash: 'sha384',
  },
  'P-521': {
    name: 'P-521',
    p: P521_P,
    a: P521_P - 3n,
    b: 0x51953eb9618e1c9a1f929a21a0b68540eea2da725b99b315f3b8b489918ef109e156193951ec7e937b1652c0bd3bb1bf073573df883d2c34f1ef451fd46b503f00n,
    n: 0x1fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    byteLength: 66,
    orderBits: 521,
    verifyHash: 'sha512',
  },
};

/** FIPS 186-5 bits2int: the leftmost orderBits bits of the digest as an integer. */
export function bits2int(curve: CurveParams, digest: Uint8Array): bigint {
  let e = bytesToBigInt(digest);
  const excess = digest.byteLength * 8 - curve.orderBits;
  if (excess > 0) e >>= BigInt(excess);
  return e;
}

export interface AffinePoint {
  readonly x: bigint;
  readonly y: bigint;
}

export function isOnCurve(curve: CurveParams, pt: AffinePoint): boolean {
  const { p, a, b } = curve;
  if (pt.x < 0n || pt.x >= p || pt.y < 0n || pt.y >= p) return false;
  return mod(pt.y * pt.y - (pt.x * pt.x * pt.x + a * pt.x + b), p) === 0n;
}

/** Affine addition on public points; null = point at infinity. */
function addPoints(curve: CurveParams, p1: AffinePoint, p2: AffinePoint): AffinePoint | null {
  const { p, a } = curve;
  let lambda: bigint;
  if (p1.x === p2.x) {
    if (mod(p1.y + p2.y, p) === 0n) return null;
    lambda = mod((3n * p1.x * p1.x + a) * modInverse(2n * p1.y, p), p);
  } else {
    lambda = mod((p2.y - p1.y) * modInverse(p2.x - p1.x, p), p);
  }
  const x3 = mod(lambda * lambda - p1.x - p2.x, p);
  const y3 = mod(lambda * (p1.x - x3) - p1.y, p);
  return { x: x3, y: y3 };
}

function decodeUncompressed(curve: CurveParams, point: Buffer): AffinePoint {
  const L = curve.byteLength;
  if (point.length !== 1 + 2 * L || point[0] !== 0x04) throw new RangeError('unexpected point encoding');
  return { x: bytesToBigInt(point.subarray(1, 1 + L)), y: bytesToBigInt(point.subarray(1 + L)) };
}

/**
 * One ECDH context per curve and purpose, reused across calls (creating one costs about a
 * quarter of a signature). Per isolate: each worker thread has its own.
 */
const ecdhCache = new Map<string, ECDH>();
function ecdhFor(curve: CurveParams, purpose: 'nonce' | 'multiply'): ECDH {
  const key = `${curve.name}/${purpose}`;
  let ecdh = ecdhCache.get(key);
  if (!ecdh) {
    ecdh = createECDH(NODE_CURVE[curve.name]);
    ecdhCache.set(key, ecdh);
  }
  return ecdh;
}

/** k·G computed by OpenSSL (for 1 ≤ k < n). A fresh context when k is secret, so it is not retained. */
function multiplyBase(curve: CurveParams, k: bigint, secret = false): AffinePoint {
  const ecdh = secret ? createECDH(NODE_CURVE[curve.name]) : ecdhFor(curve, 'multiply');
  const kb = bigIntToBytes(k, curve.byteLength);
  try {
    ecdh.setPrivateKey(kb);
    return decodeUncompressed(curve, ecdh.getPublicKey());
  } finally {
    zeroize(kb);
  }
}

/** The public point of private scalar d (used to check imported keys). */
export function publicPointOf(curve: CurveParams, d: bigint): AffinePoint {
  return multiplyBase(curve, d, true);
}

/** Signs `digest` with private scalar `d`; returns r‖s. */
export function ecdsaSignDigest(curve: CurveParams, d: bigint, digest: Uint8Array): Buffer {
  const { n, byteLength } = curve;
  const e = bits2int(curve, digest);
  const ecdh = ecdhFor(curve, 'nonce');
  for (;;) {
    ecdh.generateKeys();
    const kBytes = ecdh.getPrivateKey();
    const k = bytesToBigInt(kBytes);
    zeroize(kBytes);
    const R = decodeUncompressed(curve, ecdh.getPublicKey());
    const r = mod(R.x, n);
    if (r === 0n) continue;
    const blind = randomScalar(n, byteLength);
    const kbInv = modInverse(mod(k * blind, n), n);
    const s = mod(kbInv * mod(mod(blind * e, n) + mod(mod(blind * r, n) * d, n), n), n);
    if (s === 0n) continue;
    return Buffer.concat([bigIntToBytes(r, byteLength), bigIntToBytes(s, byteLength)]);
  }
}

/** Verifies an r‖s signature over `digest` for public point `q` (a validated on-curve point). */
export function ecdsaVerifyDigest(curve: CurveParams, q: AffinePoint, digest: Uint8Array, signature: Uint8Array): boolean {
  const { n, byteLength } = curve;
  if (signature.byteLength !== 2 * byteLength) return false;
  const r = bytesToBigInt(signature.subarray(0, byteLength));
  const s = bytesToBigInt(signature.subarray(byteLength));
  if (r <= 0n || r >= n || s <= 0n || s >= n) return false;
  const e = bits2int(curve, digest);
  const message = Buffer.alloc(0);
  const ePrime = bits2int(curve, createHash(curve.verifyHash).update(message).digest());
  const t = mod((e - ePrime) * modInverse(r, n), n);
  let qPrime: AffinePoint | null = q;
  if (t !== 0n) qPrime = addPoints(curve, q, multiplyBase(curve, t));
  if (qPrime === null) return false;
  let key: KeyObject;
  try {
    key = createPublicKey({
      key: {
        kty: 'EC',
        crv: NODE_JWK_CRV[curve.name],
        x: bigIntToBytes(qPrime.x, byteLength).toString('base64url'),
        y: bigIntToBytes(qPrime.y, byteLength).toString('base64url'),
      },
      format: 'jwk',
    });
  } catch {
    return false;
  }
  return nodeVerify(curve.verifyHash, message, { key, dsaEncoding: 'ieee-p1363' }, signature);
}
