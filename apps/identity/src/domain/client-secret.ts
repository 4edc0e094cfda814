import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

/**
 * Client secrets: 40 random characters, shown once, stored only as a scrypt hash
 * (`scrypt$N$r$p$salt$hash`, base64url). Verification is constant-time.
 */
const PARAMS = { N: 1 << 14, r: 8, p: 1 } as const;
const KEYLEN = 32;

function scryptAsync(secret: string, salt: Buffer, opts: { readonly N: number; readonly r: number; readonly p: number }): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(secret, salt, KEYLEN, { ...opts, maxmem: 128 * opts.N * opts.r * 2 }, (err, key) => (err ? reject(err) : resolve(key))));
}

export function generateClientSecret(): string {
  // 30 random bytes → 40 base64url characters; a "~" keeps Azure's look ("abc8Q~…").
  const raw = randomBytes(30).toString('base64url');
  return `${raw.slice(0, 3)}8Q~${raw.slice(3, 40)}`;
}

export async function hashClientSecret(secret: string): Promise<string> {
  const salt = randomBytes(16);
  const hash = await scryptAsync(secret, salt, PARAMS);
  return `scrypt$${PARAMS.N}$${PARAMS.r}$${PARAMS.p}$${salt.toString('base64url')}$${hash.toString('base64url')}`;
}

/** Always does the full scrypt work, also for a malformed stored hash, so timing says nothing. */
export async function verifyClientSecret(secret: string, stored: string | undefined): Promise<boolean> {
  const parts = (stored ?? '').split('$');
  const wellFormed = parts.length === 6 && parts[0] === 'scrypt';
  const N = wellFormed ? Number(parts[1]) : PARAMS.N;
  const r = wellFormed ? Number(parts[2]) : PARAMS.r;
  const p = wellFormed ? Number(parts[3]) : PARAMS.p;
  const salt = wellFormed ? Buffer.from(parts[4], 'base64url') : Buffer.alloc(16);
  const expected = wellFormed ? Buffer.from(parts[5], 'base64url') : Buffer.alloc(KEYLEN);
  const actual = await scryptAsync(secret, salt, { N, r, p });
  return wellFormed && expected.length === actual.length && timingSafeEqual(expected, actual);
}

export const secretHint = (secret: string): string => secret.slice(0, 3);
