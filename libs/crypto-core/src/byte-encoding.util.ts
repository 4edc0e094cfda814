import { randomBytes, timingSafeEqual } from 'node:crypto';
import { badParameter } from './crypto.errors.js';

const BASE64URL = /^[A-Za-z0-9_-]*={0,2}$/;

/** Strict base64url decoding (Node's decoder silently skips invalid characters; this refuses them). */
export function fromBase64Url(value: string, field: string): Buffer {
  if (typeof value !== 'string' || !BASE64URL.test(value) || value.replace(/=+$/, '').length % 4 === 1) {
    throw badParameter('Encoding', `${field} is not valid base64url`, { field });
  }
  return Buffer.from(value, 'base64url');
}

export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

/** A Buffer view over any Uint8Array, without copying. */
export function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Overwrites each buffer with zeros. JavaScript strings and BigInts cannot be wiped; Buffers can. */
export function zeroize(...buffers: (Uint8Array | undefined | null)[]): void {
  for (const b of buffers) if (b) b.fill(0);
}

/** Constant-time equality for equal-length inputs; different lengths compare unequal. */
export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  return timingSafeEqual(a, b);
}

export function bytesToBigInt(bytes: Uint8Array): bigint {
  if (bytes.byteLength === 0) return 0n;
  return BigInt('0x' + asBuffer(bytes).toString('hex'));
}

/** Big-endian, left-padded to `length` bytes. */
export function bigIntToBytes(value: bigint, length: number): Buffer {
  const hex = value.toString(16);
  if (hex.length > length * 2) throw new RangeError('integer does not fit');
  return Buffer.from(hex.padStart(length * 2, '0'), 'hex');
}

/** Uniformly distributed integer in [1, max - 1] (bias below 2^-64). */
export function randomScalar(max: bigint, byteLength: number): bigint {
  const r = randomBytes(byteLength + 8);
  const v = (bytesToBigInt(r) % (max - 1n)) + 1n;
  zeroize(r);
  return v;
}

export function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

/** Modular inverse by the extended Euclidean algorithm. Variable time: use only on public or blinded values. */
export function modInverse(a: bigint, m: bigint): bigint {
  let oldR = mod(a, m);
  let r = m;
  let oldS = 1n;
  let s = 0n;
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  if (oldR !== 1n) throw new RangeError('not invertible');
  return mod(oldS, m);
}

export function u32be(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(n, 0);
  return b;
}
