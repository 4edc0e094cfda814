import { describe, expect, it } from '@jest/globals';
import { DomainError } from '#libs/eventstore';
import { assertKeyName, assertKeyVersion, auditableAlgorithm, parseKeyOperation, parseRandomBytesCount } from './key-operation.rules.js';

const b64u = (n: number, fill = 7): string => Buffer.alloc(n, fill).toString('base64url');

function refusal(fn: () => unknown): DomainError {
  try {
    fn();
  } catch (e) {
    if (e instanceof DomainError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
}

describe('key operation request rules', () => {
  it('parses sign, verify and encrypt bodies', () => {
    expect(parseKeyOperation('sign', { alg: 'ES384', value: b64u(48) })).toEqual({ algorithm: 'ES384', value: Buffer.alloc(48, 7) });
    const v = parseKeyOperation('verify', { alg: 'RS256', digest: b64u(32), value: b64u(256, 1) });
    expect(v.value).toEqual(Buffer.alloc(32, 7));
    expect(v.signature).toEqual(Buffer.alloc(256, 1));
    const e = parseKeyOperation('encrypt', { alg: 'A256GCM', value: 'aGk', iv: b64u(12), aad: b64u(3), extra: 'ignored' });
    expect(e).toEqual({ algorithm: 'A256GCM', value: Buffer.from('hi'), iv: Buffer.alloc(12, 7), aad: Buffer.alloc(3, 7) });
    expect(parseKeyOperation('wrapKey', { alg: 'RSA-OAEP-256', value: b64u(32) }).algorithm).toBe('RSA-OAEP-256');
  });

  it('refuses a digest of the wrong length with Azure’s message', () => {
    expect(refusal(() => parseKeyOperation('sign', { alg: 'ES256', value: b64u(50) })).message).toBe("Invalid length of 'value': 50 bytes. ES256 requires 32 bytes, encoded with base64url.");
    expect(refusal(() => parseKeyOperation('verify', { alg: 'PS512', digest: b64u(32), value: b64u(10) })).message).toContain("Invalid length of 'digest': 32 bytes. PS512 requires 64 bytes");
  });

  it('refuses bad base64url, missing fields and unknown algorithms', () => {
    expect(refusal(() => parseKeyOperation('sign', { alg: 'ES256', value: 'a+b/c' })).message).toBe("Content of 'value' is not base64url.\r\nProperty 'value' is required.\r\n");
    expect(refusal(() => parseKeyOperation('encrypt', { value: 'aGk' })).message).toBe("Property 'alg' is required.\r\n");
    expect(refusal(() => parseKeyOperation('sign', { alg: 'XX999', value: b64u(32) })).message).toMatch(/^Invalid algorithm 'XX999' for the sign operation/);
    expect(refusal(() => parseKeyOperation('encrypt', { alg: 'RS256', value: 'aGk' })).code).toBe('BadParameter');
    expect(refusal(() => parseKeyOperation('wrapKey', { alg: 'A256GCM', value: b64u(32) })).code).toBe('BadParameter');
    expect(refusal(() => parseKeyOperation('sign', { alg: 'RSNULL', value: b64u(32) })).message).toContain('RSNULL is not supported');
    expect(refusal(() => parseKeyOperation('decrypt', ['x'])).code).toBe('BadParameter');
    expect(refusal(() => parseKeyOperation('encrypt', { alg: 'RSA-OAEP', value: 'a\u0000' })).message).toContain("Content of 'value' is not base64url.");
    expect(refusal(() => parseKeyOperation('encrypt', { alg: 'RSA-OAEP', value: 'abcde' })).message).toContain('is not base64url');
  });

  it('refuses values above the limit', () => {
    expect(refusal(() => parseKeyOperation('encrypt', { alg: 'RSA-OAEP', value: b64u(65_537) })).message).toContain("Invalid length of 'value': 65537 bytes");
  });

  it('checks names, versions, algorithm names for the record and the random byte count', () => {
    expect(assertKeyName('key-1')).toBe('key-1');
    expect(() => assertKeyName('under_score')).toThrow(DomainError);
    expect(assertKeyVersion('')).toBe('');
    expect(assertKeyVersion('ABCDEF0123456789ABCDEF0123456789')).toBe('abcdef0123456789abcdef0123456789');
    expect(() => assertKeyVersion('v1')).toThrow(DomainError);
    expect(auditableAlgorithm('PS384')).toBe('PS384');
    expect(auditableAlgorithm('<script>')).toBeUndefined();
    expect(parseRandomBytesCount({ count: 128 })).toBe(128);
    for (const count of [-1, 0, 129, 1.5, '10']) {
      expect(refusal(() => parseRandomBytesCount({ count })).message).toBe('GetRandomBytesRequest: count cannot be greater than 128 or less than 1');
    }
  });
});
