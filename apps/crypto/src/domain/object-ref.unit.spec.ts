import { describe, expect, it } from '@jest/globals';
import { DomainError } from '#libs/kernel';
import { canonicalRef, keyStreamId, resourceIdOf } from './object-ref.js';
import { classifyError, ErrorCode, STATUS_OF } from './crypto.errors.js';

const code = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    return e instanceof DomainError ? e.code : 'not-a-domain-error';
  }
  return undefined;
};

describe('object refs', () => {
  it('are lower-cased and validated', () => {
    expect(canonicalRef({ tenant: 'T1', vault: 'Dev', collection: 'Keys', name: 'My-Key', version: '' }, 'keys', 'optional')).toEqual({
      tenant: 't1',
      vault: 'dev',
      collection: 'keys',
      name: 'my-key',
      version: '',
    });
    expect(canonicalRef({ tenant: 't', vault: 'v', name: 'n' }, 'keys', 'optional').collection).toBe('keys');
    expect(code(() => canonicalRef({ tenant: 't', vault: 'v/x', collection: 'keys', name: 'n' }, 'keys', 'optional'))).toBe('BadParameter');
    expect(code(() => canonicalRef({ tenant: 't', vault: 'v', collection: 'secrets', name: 'n' }, 'keys', 'optional'))).toBe('BadParameter');
    expect(code(() => canonicalRef({ tenant: 't', vault: 'v', collection: 'secrets', name: 'n' }, 'any', 'required'))).toBe('BadParameter');
    expect(code(() => canonicalRef({ tenant: 't', vault: 'v', collection: 'keys', name: 'n', version: 'abc' }, 'keys', 'key-version'))).toBe('BadParameter');
    expect(code(() => canonicalRef(null, 'keys', 'optional'))).toBe('BadParameter');
  });

  it('name streams and audit resource ids', () => {
    const ref = canonicalRef({ tenant: 't', vault: 'v', collection: 'keys', name: 'k', version: 'a'.repeat(32) }, 'keys', 'key-version');
    expect(keyStreamId(ref)).toBe('key-t/v/k');
    expect(resourceIdOf(ref)).toBe(`/tenants/t/vaults/v/keys/k/${'a'.repeat(32)}`);
    expect(resourceIdOf(undefined)).toBe('/crypto');
  });
});

describe('error classification', () => {
  it('maps crypto-core codes to wire codes and hides unexpected errors', () => {
    expect(classifyError(new DomainError('UnsupportedAlgorithm', 'x'))).toMatchObject({ code: 'BadParameter', expected: true });
    expect(classifyError(new DomainError('AlgorithmNotAllowedForKey', 'x')).code).toBe('KeyOperationNotAllowed');
    expect(classifyError(new DomainError('RootUnavailable', 'token gone')).code).toBe('Sealed');
    expect(classifyError(new DomainError('HsmFailure', 'CKR_GENERAL_ERROR'))).toEqual({ code: 'Internal', message: 'internal error in the crypto service', expected: false });
    expect(classifyError(new Error('connection refused with secret=xyz'))).toMatchObject({ code: 'Internal', message: 'internal error in the crypto service' });
    expect(classifyError(Object.assign(new Error('db down'), { code: 'AuditUnavailable' })).code).toBe('AuditUnavailable');
  });

  it('every code has a gRPC status', () => {
    for (const c of Object.values(ErrorCode)) expect(STATUS_OF[c]).toMatch(/^[A-Z_]+$/);
  });
});
