/**
 * Stable error codes of the crypto service (the "ERROR CODES" list of crypto.proto), carried
 * in the `keyledger-error-code` trailer of a failed call. Callers branch on `code`, never on
 * the message.
 */
export const CryptoErrorCode = {
  /** The root key is not available (UNAVAILABLE): retry later. */
  Sealed: 'Sealed',
  /** The audit record could not be made durable (UNAVAILABLE); no result was produced. */
  AuditUnavailable: 'AuditUnavailable',
  /** No such key / key version, or it was destroyed (NOT_FOUND). */
  KeyNotFound: 'KeyNotFound',
  /** The key name is taken (restore onto a live or deleted key) or the key is deleted (ALREADY_EXISTS). */
  KeyConflict: 'KeyConflict',
  /** No such data key, or it was destroyed (NOT_FOUND). */
  DataKeyNotFound: 'DataKeyNotFound',
  /** Malformed input: digest length, unknown algorithm, bad JWK, oversized payload (INVALID_ARGUMENT). */
  BadParameter: 'BadParameter',
  /** key_ops lacks the operation, or the algorithm does not fit the key type (FAILED_PRECONDITION). */
  KeyOperationNotAllowed: 'KeyOperationNotAllowed',
  /** The key version is disabled (FAILED_PRECONDITION). */
  KeyDisabled: 'KeyDisabled',
  /** Past `expires` for encrypt/wrapKey/sign (FAILED_PRECONDITION). */
  KeyExpired: 'KeyExpired',
  /** Before `notBefore` for encrypt/wrapKey/sign (FAILED_PRECONDITION). */
  KeyNotYetValid: 'KeyNotYetValid',
  /** Authentication/unwrap/padding failed, or the ciphertext belongs to another object (INVALID_ARGUMENT). */
  CiphertextInvalid: 'CiphertextInvalid',
  /** Valid, but not available here, e.g. RSA1_5 decryption on Node 20 (UNIMPLEMENTED). */
  NotSupported: 'NotSupported',
  /** Anything else (INTERNAL); details are in the crypto service's log. */
  Internal: 'Internal',
  /** The call did not reach the service or carried no code (connection refused, deadline, TLS). */
  Unavailable: 'Unavailable',
} as const;
export type CryptoErrorCode = (typeof CryptoErrorCode)[keyof typeof CryptoErrorCode];

/** The trailer (gRPC metadata key) holding the code. */
export const CRYPTO_ERROR_TRAILER = 'keyledger-error-code';

/** gRPC status numbers (grpc.status) used by the crypto service. */
export const GrpcStatus = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcStatusName = keyof typeof GrpcStatus;

/** The gRPC status each code travels with. */
export const CRYPTO_ERROR_STATUS: Readonly<Record<CryptoErrorCode, number>> = {
  Sealed: GrpcStatus.UNAVAILABLE,
  AuditUnavailable: GrpcStatus.UNAVAILABLE,
  KeyNotFound: GrpcStatus.NOT_FOUND,
  KeyConflict: GrpcStatus.ALREADY_EXISTS,
  DataKeyNotFound: GrpcStatus.NOT_FOUND,
  BadParameter: GrpcStatus.INVALID_ARGUMENT,
  KeyOperationNotAllowed: GrpcStatus.FAILED_PRECONDITION,
  KeyDisabled: GrpcStatus.FAILED_PRECONDITION,
  KeyExpired: GrpcStatus.FAILED_PRECONDITION,
  KeyNotYetValid: GrpcStatus.FAILED_PRECONDITION,
  CiphertextInvalid: GrpcStatus.INVALID_ARGUMENT,
  NotSupported: GrpcStatus.UNIMPLEMENTED,
  Internal: GrpcStatus.INTERNAL,
  Unavailable: GrpcStatus.UNAVAILABLE,
};

export function grpcStatusName(status: number): GrpcStatusName | 'UNKNOWN' {
  for (const [name, value] of Object.entries(GrpcStatus)) if (value === status) return name as GrpcStatusName;
  return 'UNKNOWN';
}

const KNOWN_CODES = new Set<string>(Object.values(CryptoErrorCode));

export function isCryptoErrorCode(value: unknown): value is CryptoErrorCode {
  return typeof value === 'string' && KNOWN_CODES.has(value);
}

/** A failed crypto call: `code` is stable, `grpcStatus` the transport status, `message` safe to log. */
export class CryptoError extends Error {
  constructor(
    readonly code: CryptoErrorCode,
    readonly grpcStatus: number,
    message: string,
  ) {
    super(message);
    this.name = 'CryptoError';
  }

  /** UNAVAILABLE answers (Sealed, AuditUnavailable, transport): the same request may succeed later. */
  get retryable(): boolean {
    return this.grpcStatus === GrpcStatus.UNAVAILABLE;
  }
}
