import { describe, expect, it } from '@jest/globals';
import { CryptoError, CryptoErrorCode, GrpcStatus } from '#libs/crypto-client';
import { HttpProblem } from './azure-errors.js';
import { keyOperationProblem } from './key-operations.routes.js';

const KID = 'https://dev.vault.localhost:8443/keys/k1/0123456789abcdef0123456789abcdef';
const problem = (code: CryptoErrorCode, message: string, op: Parameters<typeof keyOperationProblem>[1] = 'sign', alg = 'ES256'): HttpProblem => {
  const p = keyOperationProblem(new CryptoError(code, GrpcStatus.FAILED_PRECONDITION, message), op, alg, KID);
  if (!(p instanceof HttpProblem)) throw new Error('not mapped');
  return p;
};
const wire = (p: HttpProblem) => [p.status, p.code, p.inner];

describe('crypto refusals of key operations in Azure’s words', () => {
  it('maps key policy refusals to 403 Forbidden with Azure’s inner codes', () => {
    const ops = problem(CryptoErrorCode.KeyOperationNotAllowed, "the key's key_ops do not include sign");
    expect(wire(ops)).toEqual([403, 'Forbidden', 'KeyOperationForbidden']);
    expect(ops.message).toBe('Operation sign is not permitted on this key.');
    expect(wire(problem(CryptoErrorCode.KeyDisabled, 'the key is disabled', 'decrypt'))).toEqual([403, 'Forbidden', 'KeyDisabled']);
    expect(problem(CryptoErrorCode.KeyDisabled, 'the key is disabled', 'decrypt').message).toBe('Operation decrypt is not allowed on a disabled key.');
    expect(wire(problem(CryptoErrorCode.KeyExpired, 'the key has expired (exp)'))).toEqual([403, 'Forbidden', 'KeyExpired']);
    expect(wire(problem(CryptoErrorCode.KeyNotYetValid, 'the key is not yet valid (nbf)'))).toEqual([403, 'Forbidden', 'KeyNotYetValid']);
  });

  it('maps an algorithm that does not fit the key to 400 BadParameter naming the key', () => {
    const p = problem(CryptoErrorCode.KeyOperationNotAllowed, 'algorithm ES256 cannot be used with this key: it needs a EC key, not RSA');
    expect(wire(p)).toEqual([400, 'BadParameter', undefined]);
    expect(p.message).toBe(`Key and signing algorithm are incompatible. Key ${KID} cannot be used with algorithm 'ES256': it needs a EC key, not RSA.`);
    expect(problem(CryptoErrorCode.KeyOperationNotAllowed, 'algorithm RSA-OAEP needs an RSA key', 'encrypt', 'RSA-OAEP').message).toMatch(/^Key and encryption algorithm are incompatible\..*: it needs an RSA key\.$/);
  });

  it('maps the rest: 404 KeyNotFound, 400 for bad input and ciphertext, 400 NotSupported, 503 when crypto is away', () => {
    expect(wire(problem(CryptoErrorCode.KeyNotFound, 'the key does not exist'))).toEqual([404, 'KeyNotFound', undefined]);
    expect(wire(problem(CryptoErrorCode.BadParameter, 'RSA-OAEP with this key takes at most 214 bytes', 'encrypt'))).toEqual([400, 'BadParameter', undefined]);
    expect(wire(problem(CryptoErrorCode.CiphertextInvalid, 'decryption failed', 'unwrapKey'))).toEqual([400, 'BadParameter', undefined]);
    expect(wire(problem(CryptoErrorCode.NotSupported, 'RSA1_5 decryption is not available', 'decrypt', 'RSA1_5'))).toEqual([400, 'BadParameter', 'NotSupported']);
    for (const code of [CryptoErrorCode.Sealed, CryptoErrorCode.AuditUnavailable, CryptoErrorCode.Unavailable]) expect(wire(problem(code, 'x'))).toEqual([503, 'ServiceUnavailable', undefined]);
    const other = new Error('not a crypto error');
    expect(keyOperationProblem(other, 'sign', 'ES256', KID)).toBe(other);
  });
});
