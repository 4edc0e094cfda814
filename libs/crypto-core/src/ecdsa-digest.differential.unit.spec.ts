/**
 * Differential check of crypto-core's ECDSA over a caller-supplied digest (ecdsa-digest.ts:
 * OpenSSL nonce and scalar multiplications, blinded BigInt signing equation, verification
 * through OpenSSL's verifier with a shifted public key) against an independent, audited
 * implementation, @noble/curves — a test-only dependency, far too slow for the service path.
 *
 * For every curve and many random keys and digests (and the edge digests): our signatures
 * verify under noble; noble's signatures (low-S and their high-S twins) verify under ours;
 * a signature over another digest or under another key does not, in either direction.
 */
import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { p256, p384, p521 } from '@noble/curves/nist.js';
import { secp256k1 } from '@noble/curves/secp256k1.js';
import type { CurveName } from './algorithms.js';
import { bytesToBigInt } from './byte-encoding.util.js';
import { CURVE_PARAMS, ecdsaSignDigest, ecdsaVerifyDigest, type AffinePoint } from './ecdsa-digest.js';

type NobleCurve = typeof p256;

const CURVES: readonly { name: CurveName; noble: NobleCurve; digestBytes: number }[] = [
  { name: 'P-256', noble: p256, digestBytes: 32 },
  { name: 'P-256K', noble: secp256k1 as unknown as NobleCurve, digestBytes: 32 },
  { name: 'P-384', noble: p384, digestBytes: 48 },
  { name: 'P-521', noble: p521, digestBytes: 64 },
];

const ROUNDS = Number(process.env.ECDSA_DIFFERENTIAL_ROUNDS ?? 60);
const NOBLE = { prehash: false, lowS: false } as const;

function keyPair(noble: NobleCurve, name: CurveName): { secret: Uint8Array; d: bigint; q: AffinePoint; publicKey: Uint8Array } {
  const secret = noble.utils.randomSecretKey();
  const publicKey = noble.getPublicKey(secret, false);
  const L = CURVE_PARAMS[name].byteLength;
  return { secret, d: bytesToBigInt(secret), q: { x: bytesToBigInt(publicKey.subarray(1, 1 + L)), y: bytesToBigInt(publicKey.subarray(1 + L)) }, publicKey };
}

function highSTwin(sig: Uint8Array, name: CurveName): Buffer {
  const { n, byteLength: L } = CURVE_PARAMS[name];
  const s = bytesToBigInt(sig.subarray(L));
  return Buffer.concat([Buffer.from(sig.subarray(0, L)), Buffer.from((n - s).toString(16).padStart(2 * L, '0'), 'hex')]);
}

describe('ECDSA over a digest: crypto-core against @noble/curves', () => {
  for (const { name, noble, digestBytes } of CURVES) {
    it(`${name}: ${ROUNDS} random keys and digests agree in both directions`, () => {
      const curve = CURVE_PARAMS[name];
      const edge = [Buffer.alloc(digestBytes), Buffer.alloc(digestBytes, 0xff), Buffer.from(curve.n.toString(16).padStart(digestBytes * 2, '0').slice(0, digestBytes * 2), 'hex')];
      for (let i = 0; i < ROUNDS; i++) {
        const key = keyPair(noble, name);
        const other = keyPair(noble, name);
        const digest = i < edge.length ? edge[i]! : randomBytes(digestBytes);
        const otherDigest = randomBytes(digestBytes);

        const ours = ecdsaSignDigest(curve, key.d, digest);
        expect(ours.length).toBe(2 * curve.byteLength);
        expect(noble.verify(ours, digest, key.publicKey, NOBLE)).toBe(true);
        expect(noble.verify(ours, otherDigest, key.publicKey, NOBLE)).toBe(false);
        expect(noble.verify(ours, digest, other.publicKey, NOBLE)).toBe(false);

        const theirs = noble.sign(digest, key.secret, { prehash: false, lowS: true, extraEntropy: true });
        expect(ecdsaVerifyDigest(curve, key.q, digest, theirs)).toBe(true);
        expect(ecdsaVerifyDigest(curve, key.q, digest, highSTwin(theirs, name))).toBe(true);
        expect(ecdsaVerifyDigest(curve, key.q, otherDigest, theirs)).toBe(false);
        expect(ecdsaVerifyDigest(curve, other.q, digest, theirs)).toBe(false);
        expect(ecdsaVerifyDigest(curve, key.q, digest, ours)).toBe(true);
      }
    });
  }
});
