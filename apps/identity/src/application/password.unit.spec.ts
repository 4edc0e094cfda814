import { describe, expect, it } from '@jest/globals';
import { generatePassword, hashPassword, verifyPassword } from './password.js';

describe('user passwords', () => {
  it('are generated as four groups of five unambiguous characters, each one new', () => {
    const seen = new Set(Array.from({ length: 50 }, () => generatePassword()));
    expect(seen.size).toBe(50);
    for (const p of seen) expect(p).toMatch(/^[a-km-zA-HJ-NP-Z2-9]{5}(-[a-km-zA-HJ-NP-Z2-9]{5}){3}$/);
  });

  it('are stored as argon2id hashes that verify the password and nothing else', async () => {
    const password = generatePassword();
    const hash = await hashPassword(password);
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(hash).not.toContain(password);
    expect([await verifyPassword(password, hash), await verifyPassword(`${password}x`, hash), await verifyPassword(password, 'not-a-hash')]).toEqual([true, false, false]);
  });

  it('an unknown user (no hash) fails like a wrong password', async () => {
    expect(await verifyPassword('anything', undefined)).toBe(false);
  });
});
