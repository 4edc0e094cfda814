import { describe, expect, it } from '@jest/globals';
import { createSecretKey, randomBytes } from 'node:crypto';
import { DomainError } from './crypto.errors.js';
import { encodeObjectIdentity, open, parseEnvelope, peekKeyId, seal, type ObjectIdentity } from './envelope.js';

const identity: ObjectIdentity = { tenant: 't1', vault: 'v1', collection: 'secrets', name: 'db-password', version: '0a1b2c' };

function errorOf(fn: () => unknown): { code: string; message: string; details: Readonly<Record<string, unknown>> } {
  try {
    fn();
  } catch (e) {
    if (e instanceof DomainError) return { code: e.code, message: e.message, details: e.details };
    throw e;
  }
  throw new Error('expected a DomainError, nothing was thrown');
}

describe('envelope', () => {
  const key = randomBytes(32);
  const plaintext = Buffer.from('correct horse battery staple');

  it('round-trips and is self-describing (format byte, key id, 12-byte nonce, ciphertext, 16-byte tag)', () => {
    const ct = seal(key, 'dk-1', plaintext, identity);
    expect(ct[0]).toBe(0x01);
    expect(ct[1]).toBe(4);
    expect(ct.subarray(2, 6).toString()).toBe('dk-1');
    expect(ct.length).toBe(2 + 4 + 12 + plaintext.length + 16);
    expect(peekKeyId(ct)).toBe('dk-1');
    expect(open(key, ct, identity)).toEqual(plaintext);
    expect(open(createSecretKey(key), ct, identity, { expectedKeyId: 'dk-1' })).toEqual(plaintext);
    const parsed = parseEnvelope(ct);
    expect(parsed.nonce.length).toBe(12);
    expect(parsed.tag.length).toBe(16);
  });

  it('uses a fresh nonce per seal', () => {
    const a = seal(key, 'dk-1', plaintext, identity);
    const b = seal(key, 'dk-1', plaintext, identity);
    expect(a.equals(b)).toBe(false);
  });

  it('fails with CiphertextInvalid when moved to another identity (any field)', () => {
    const ct = seal(key, 'dk-1', plaintext, identity);
    for (const field of ['tenant', 'vault', 'collection', 'name', 'version'] as const) {
      const other = { ...identity, [field]: identity[field] + 'x' };
      expect(errorOf(() => open(key, ct, other)).code).toBe('CiphertextInvalid');
    }
  });

  it('length-prefixes identity fields so that shifting bytes between fields is detected', () => {
    const a: ObjectIdentity = { ...identity, name: 'ab', version: 'c' };
    const b: ObjectIdentity = { ...identity, name: 'a', version: 'bc' };
    expect(encodeObjectIdentity(a).equals(encodeObjectIdentity(b))).toBe(false);
    const ct = seal(key, 'k', plaintext, a);
    expect(errorOf(() => open(key, ct, b)).code).toBe('CiphertextInvalid');
  });

  it('fails with CiphertextInvalid for every single flipped bit', () => {
    const ct = seal(key, 'dk-1', Buffer.from('short'), identity);
    for (let i = 0; i < ct.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const tampered = Buffer.from(ct);
        tampered[i]! ^= 1 << bit;
        expect(errorOf(() => open(key, tampered, identity)).code).toBe('CiphertextInvalid');
      }
    }
  });

  it('fails for a wrong key id: expected id differs, or the header id was rewritten', () => {
    const ct = seal(key, 'dk-1', plaintext, identity);
    const e = errorOf(() => open(key, ct, identity, { expectedKeyId: 'dk-2' }));
    expect(e.code).toBe('CiphertextInvalid');
    expect(e.details['reason']).toBe('KeyIdMismatch');
    const rewritten = Buffer.from(ct);
    rewritten.write('dk-2', 2, 'utf8');
    expect(peekKeyId(rewritten)).toBe('dk-2');
    expect(errorOf(() => open(key, rewritten, identity)).code).toBe('CiphertextInvalid');
  });

  it('fails for a wrong key, a truncated envelope, or an unknown format', () => {
    const ct = seal(key, 'dk-1', plaintext, identity);
    expect(errorOf(() => open(randomBytes(32), ct, identity)).code).toBe('CiphertextInvalid');
    expect(errorOf(() => open(key, ct.subarray(0, 20), identity)).code).toBe('CiphertextInvalid');
    expect(errorOf(() => open(key, Buffer.alloc(0), identity)).code).toBe('CiphertextInvalid');
    const v2 = Buffer.from(ct);
    v2[0] = 0x02;
    expect(errorOf(() => open(key, v2, identity)).details['reason']).toBe('UnknownFormat');
  });

  it('rejects non-256-bit keys, empty key ids and incomplete identities as BadParameter', () => {
    expect(errorOf(() => seal(randomBytes(16), 'k', plaintext, identity)).code).toBe('BadParameter');
    expect(errorOf(() => seal(key, '', plaintext, identity)).code).toBe('BadParameter');
    expect(errorOf(() => seal(key, 'k'.repeat(256), plaintext, identity)).code).toBe('BadParameter');
    expect(errorOf(() => seal(key, 'k', plaintext, { ...identity, name: '' })).code).toBe('BadParameter');
  });

  it('never puts plaintext or key bytes into error messages', () => {
    const secret = Buffer.from('TOP-SECRET-VALUE');
    const ct = seal(key, 'dk-1', secret, identity);
    const e = errorOf(() => open(key, ct, { ...identity, version: 'other' }));
    expect(e.message).not.toContain('TOP-SECRET');
    expect(e.message).not.toContain(key.toString('hex'));
    expect(JSON.stringify(e.details)).not.toContain('TOP-SECRET');
  });
});
