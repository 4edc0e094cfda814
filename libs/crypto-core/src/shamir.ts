import { randomBytes } from 'node:crypto';

/**
 * Shamir secret sharing over GF(2^8) (the AES field, reduction polynomial x^8+x^4+x^3+x+1,
 * 0x11b), byte by byte: each byte of the secret is the constant term of its own random
 * polynomial of degree `threshold - 1`; share `x` (1…255) holds the polynomial values at `x`.
 * Any `threshold` distinct shares give the secret back by Lagrange interpolation at 0; fewer
 * reveal nothing about it. Shares carry no integrity of their own: a caller that must detect a
 * wrong or altered share checks the combined secret against a commitment (Keyledger's security
 * domain does, with an HMAC of its id under the domain key).
 *
 * Arithmetic is table-free (no secret-indexed lookups): multiplication by shift-and-add and
 * inversion by exponentiation (a^254), so timing does not depend on secret bytes.
 */
export type SecretShare = { readonly x: number; readonly y: Buffer };

/** a·b in GF(2^8), constant-time in its operands. */
export function gfMul(a: number, b: number): number {
  let p = 0;
  let x = a & 0xff;
  let y = b & 0xff;
  for (let i = 0; i < 8; i++) {
    p ^= -(y & 1) & x;
    const hi = -((x >> 7) & 1) & 0x1b;
    x = ((x << 1) & 0xff) ^ hi;
    y >>= 1;
  }
  return p & 0xff;
}

/** a⁻¹ in GF(2^8) as a^254 (0 has no inverse: the callers never ask for it). */
export function gfInv(a: number): number {
  let result = 1;
  let base = a & 0xff;
  let e = 254;
  while (e > 0) {
    if (e & 1) result = gfMul(result, base);
    base = gfMul(base, base);
    e >>= 1;
  }
  return result;
}

const fail = (message: string): never => {
  throw new RangeError(message);
};

/**
 * Splits `secret` into `count` shares (x = 1…count) of which any `threshold` recover it.
 * 2 ≤ threshold ≤ count ≤ 255. `random` supplies the polynomial coefficients (tests may fix it).
 */
export function splitSecret(secret: Buffer, count: number, threshold: number, random: (n: number) => Buffer = randomBytes): SecretShare[] {
  if (secret.length === 0) fail('the secret is empty');
  if (!Number.isInteger(threshold) || threshold < 2) fail('the threshold must be an integer of at least 2');
  if (!Number.isInteger(count) || count < threshold || count > 255) fail('the share count must be an integer between the threshold and 255');
  const shares = Array.from({ length: count }, (_, i) => ({ x: i + 1, y: Buffer.alloc(secret.length) }));
  const coefficients = Buffer.alloc(threshold);
  for (let b = 0; b < secret.length; b++) {
    coefficients[0] = secret.readUInt8(b);
    const r = random(threshold - 1);
    if (r.length !== threshold - 1) fail('the random source returned the wrong length');
    r.copy(coefficients, 1);
    for (const share of shares) {
      // Horner: ((c[t-1]·x + c[t-2])·x + …)·x + c[0]
      let y = 0;
      for (let c = threshold - 1; c >= 0; c--) y = gfMul(y, share.x) ^ coefficients.readUInt8(c);
      share.y[b] = y;
    }
    r.fill(0);
  }
  coefficients.fill(0);
  return shares;
}

/**
 * The secret from `threshold` or more shares (all of one split, distinct x, equal lengths).
 * Fewer shares than the split's threshold give a wrong value, not an error: check the result.
 */
export function combineShares(shares: readonly SecretShare[]): Buffer {
  const [first] = shares;
  if (first === undefined || shares.length < 2) return fail('at least two shares are needed');
  const length = first.y.length;
  const xs = new Set<number>();
  for (const s of shares) {
    if (!Number.isInteger(s.x) || s.x < 1 || s.x > 255) fail('a share index is not between 1 and 255');
    if (xs.has(s.x)) fail('two shares have the same index');
    if (s.y.length !== length || length === 0) fail('the shares differ in length');
    xs.add(s.x);
  }
  // Lagrange basis at 0: l_i = Π_{j≠i} x_j / (x_j − x_i); in GF(2^8) subtraction is XOR.
  const basis = shares.map((si, i) => {
    let num = 1;
    let den = 1;
    shares.forEach((sj, j) => {
      if (i === j) return;
      num = gfMul(num, sj.x);
      den = gfMul(den, sj.x ^ si.x);
    });
    return gfMul(num, gfInv(den));
  });
  const out = Buffer.alloc(length);
  for (let b = 0; b < length; b++) {
    let v = 0;
    shares.forEach((s, i) => {
      v ^= gfMul(s.y.readUInt8(b), basis[i] ?? 0);
    });
    out[b] = v;
  }
  return out;
}
