import { describe, expect, it } from '@jest/globals';
import grpc from '@grpc/grpc-js';
import { toCryptoError } from './crypto.client.js';
import { CRYPTO_ERROR_STATUS, CryptoError, CryptoErrorCode, GrpcStatus, grpcStatusName } from './crypto.errors.js';

function serviceError(code: number, details: string, trailer?: string): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  if (trailer !== undefined) metadata.set('keyledger-error-code', trailer);
  return Object.assign(new Error(details), { code, details, metadata });
}

describe('CryptoError mapping', () => {
  it('takes the stable code from the trailer', () => {
    const e = toCryptoError(serviceError(GrpcStatus.NOT_FOUND, 'the key does not exist', 'KeyNotFound'));
    expect(e).toBeInstanceOf(CryptoError);
    expect(e).toMatchObject({ code: 'KeyNotFound', grpcStatus: 5, message: 'the key does not exist' });
    expect(e.retryable).toBe(false);
  });

  it('without a known trailer: Internal for INTERNAL/UNKNOWN, Unavailable otherwise (transport)', () => {
    expect(toCryptoError(serviceError(GrpcStatus.UNAVAILABLE, 'No connection established')).code).toBe('Unavailable');
    expect(toCryptoError(serviceError(GrpcStatus.DEADLINE_EXCEEDED, 'Deadline exceeded')).code).toBe('Unavailable');
    expect(toCryptoError(serviceError(GrpcStatus.INTERNAL, 'boom', 'SomethingNew')).code).toBe('Internal');
    expect(toCryptoError(serviceError(GrpcStatus.UNAVAILABLE, 'sealed', 'Sealed')).retryable).toBe(true);
  });

  it('every code has a status; status names round-trip', () => {
    for (const code of Object.values(CryptoErrorCode)) expect(typeof CRYPTO_ERROR_STATUS[code]).toBe('number');
    expect(grpcStatusName(9)).toBe('FAILED_PRECONDITION');
    expect(grpcStatusName(99)).toBe('UNKNOWN');
  });
});
