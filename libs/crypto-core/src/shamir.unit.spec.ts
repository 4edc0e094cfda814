import { randomBytes } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import { combineShares, gfInv, gfMul, splitSecret } from './shamir.js';

/** All k-element subsets of xs. */
function subsets<T>(xs: readonly T[], k: number): T[][] {
  if (k === 0) return [[]];
  if (xs.length < k) return [];
  const [head, ...rest] = xs;
  return [...subsets(rest, k - 1).map((s) => [head!, ...s]), ...subsets(rest, k)];
}

describe('GF(2^8) arithmetic (the AES field, 0x11b)', () => {
  it('multiplies as FIPS-197 §4.2 does: {57}·{83} = {c1}, {57}·{13} = {fe}', () => {
    expect(gfMul(0x57, 0x83)).toBe(0xc1);
    expect(gfMul(0x57, 0x13)).toBe(0xfe);
  });

  it('is commutative, has 1 as identity and 0 as absorbing element', () => {
    for (let a = 0; a < 256; a += 7) {
      for (let b = 0; b < 256; b += 11) expect(gfMul(a, b)).toBe(gfMul(b, a));
      expect(gfMul(a, 1)).toBe(a);
      expect(gfMul(a, 0)).toBe(0);
    }
  });

  it('inverts every non-zero element: a · a⁻¹ = 1 for all 255 of them', () => {
    for (let a = 1; a < 256; a++) expect(gfMul(a, gfInv(a))).toBe(1);
  });
});

describe('Shamir secret sharing', () => {
  const secret = randomBytes(32);

  it('recovers the secret from every subset of exactly the threshold, for 2-of-3 and 3-of-5', () => {
    for (const [n, k] of [[3, 2], [5, 3]] as const) {
      const shares = splitSecret(secret, n, k);
      expect(shares.map((s) => s.x)).toEqual(Array.from({ length: n }, (_, i) => i + 1));
      for (const subset of subsets(shares, k)) expect(combineShares(subset).equals(secret)).toBe(true);
    }
  });

  it('recovers it from more shares than the threshold, in any order', () => {
    const shares = splitSecret(secret, 5, 3);
    expect(combineShares([shares[4]!, shares[0]!, shares[2]!, shares[3]!]).equals(secret)).toBe(true);
    expect(combineShares(shares).equals(secret)).toBe(true);
  });

  it('fewer shares than the threshold give a different value (no error: the caller checks the result)', () => {
    const shares = splitSecret(secret, 5, 3);
    expect(combineShares([shares[0]!, shares[1]!]).equals(secret)).toBe(false);
  });

  it('a share does not equal the secret and shares of two splits of one secret differ (fresh coefficients)', () => {
    const a = splitSecret(secret, 3, 2);
    const b = splitSecret(secret, 3, 2);
    for (const s of a) expect(s.y.equals(secret)).toBe(false);
    expect(a[0]!.y.equals(b[0]!.y)).toBe(false);
  });

  it('evaluates the polynomial it is given: with fixed coefficients the shares are the textbook values', () => {
    // f(x) = s + 1·x over GF(2^8): f(1) = s ^ 1, f(2) = s ^ 2, f(3) = s ^ 3.
    const shares = splitSecret(Buffer.from([0x42]), 3, 2, (n) => Buffer.alloc(n, 1));
    expect(shares.map((s) => s.y[0])).toEqual([0x43, 0x40, 0x41]);
    expect(combineShares([shares[1]!, shares[2]!])).toEqual(Buffer.from([0x42]));
  });

  it('refuses impossible parameters and inconsistent shares', () => {
    expect(() => splitSecret(secret, 3, 1)).toThrow(/threshold/);
    expect(() => splitSecret(secret, 2, 3)).toThrow(/share count/);
    expect(() => splitSecret(secret, 256, 2)).toThrow(/share count/);
    expect(() => splitSecret(Buffer.alloc(0), 3, 2)).toThrow(/empty/);
    const shares = splitSecret(secret, 3, 2);
    expect(() => combineShares([shares[0]!])).toThrow(/two shares/);
    expect(() => combineShares([shares[0]!, shares[0]!])).toThrow(/same index/);
    expect(() => combineShares([shares[0]!, { x: 2, y: Buffer.alloc(5) }])).toThrow(/length/);
    expect(() => combineShares([shares[0]!, { x: 0, y: shares[1]!.y }])).toThrow(/index/);
  });
});
