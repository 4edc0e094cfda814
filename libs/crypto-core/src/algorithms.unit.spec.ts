import { describe, expect, it } from '@jest/globals';
import { checkEncryption, checkKeyWrap, checkSignature, ENCRYPTION_ALGORITHMS, KEY_WRAP_ALGORITHMS, SIGNATURE_ALGORITHMS } from './algorithms.js';
import { DomainError } from './crypto.errors.js';

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof DomainError) return e.code;
    throw e;
  }
  return 'ok';
}

describe('Azure algorithm names and key compatibility', () => {
  it('uses exactly Azure names', () => {
    expect([...SIGNATURE_ALGORITHMS]).toEqual(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES256K', 'ES384', 'ES512', 'HS256', 'HS384', 'HS512']);
    expect([...ENCRYPTION_ALGORITHMS]).toContain('RSA-OAEP-256');
    expect([...ENCRYPTION_ALGORITHMS]).toContain('A256CBCPAD');
    expect([...KEY_WRAP_ALGORITHMS]).toEqual(['RSA-OAEP', 'RSA-OAEP-256', 'RSA1_5', 'A128KW', 'A192KW', 'A256KW', 'CKM_AES_KEY_WRAP', 'CKM_AES_KEY_WRAP_PAD']);
  });

  it('treats -HSM key types like their software family', () => {
    expect(codeOf(() => checkSignature('PS512', { kty: 'RSA-HSM', sizeBits: 4096 }, 64))).toBe('ok');
    expect(codeOf(() => checkSignature('ES256K', { kty: 'EC-HSM', crv: 'P-256K', sizeBits: 256 }, 32))).toBe('ok');
    expect(codeOf(() => checkEncryption('A192GCM', { kty: 'oct-HSM', sizeBits: 192 }))).toBe('ok');
    expect(codeOf(() => checkKeyWrap('CKM_AES_KEY_WRAP_PAD', { kty: 'oct', sizeBits: 128 }))).toBe('ok');
  });

  it('digest length per algorithm: 32 / 48 / 64 bytes (ES512 takes a SHA-512 digest)', () => {
    expect(codeOf(() => checkSignature('ES512', { kty: 'EC', crv: 'P-521', sizeBits: 521 }, 64))).toBe('ok');
    expect(codeOf(() => checkSignature('ES512', { kty: 'EC', crv: 'P-521', sizeBits: 521 }, 66))).toBe('BadParameter');
    expect(codeOf(() => checkSignature('HS384', { kty: 'oct', sizeBits: 256 }, 32))).toBe('BadParameter');
  });

  it('checks the algorithm before the digest: a mismatch wins over a wrong length', () => {
    expect(codeOf(() => checkSignature('ES384', { kty: 'EC', crv: 'P-256', sizeBits: 256 }, 32))).toBe('AlgorithmNotAllowedForKey');
    expect(codeOf(() => checkSignature('none', { kty: 'RSA', sizeBits: 2048 }, 32))).toBe('UnsupportedAlgorithm');
  });
});
