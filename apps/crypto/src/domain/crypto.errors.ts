import { DomainError } from '#libs/kernel';

/**
 * The crypto service's stable error codes (crypto.proto "ERROR CODES"); the gRPC adapter
 * maps each to its status and the `keyledger-error-code` trailer. Messages name sizes,
 * algorithms and ids only: never key material, plaintext, digests or PINs.
 */
export const ErrorCode = {
  Sealed: 'Sealed',
  AuditUnavailable: 'AuditUnavailable',
  KeyNotFound: 'KeyNotFound',
  /** The key exists (restore onto a live or deleted name) or is deleted (a new version while deleted). */
  KeyConflict: 'KeyConflict',
  DataKeyNotFound: 'DataKeyNotFound',
  BadParameter: 'BadParameter',
  KeyOperationNotAllowed: 'KeyOperationNotAllowed',
  KeyDisabled: 'KeyDisabled',
  KeyExpired: 'KeyExpired',
  KeyNotYetValid: 'KeyNotYetValid',
  CiphertextInvalid: 'CiphertextInvalid',
  NotSupported: 'NotSupported',
  Internal: 'Internal',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export function serviceError(code: ErrorCode, message: string, details: Readonly<Record<string, string | number | boolean>> = {}): DomainError {
  return new DomainError(code, message, details);
}

export const badParameter = (message: string, details: Readonly<Record<string, string | number | boolean>> = {}): DomainError =>
  serviceError(ErrorCode.BadParameter, message, details);

/** crypto-core's codes (libs/crypto-core index.ts table) as the service's wire codes. */
const CORE_CODES: Readonly<Record<string, ErrorCode>> = {
  BadParameter: ErrorCode.BadParameter,
  UnsupportedAlgorithm: ErrorCode.BadParameter,
  AlgorithmNotAllowedForKey: ErrorCode.KeyOperationNotAllowed,
  NotSupported: ErrorCode.NotSupported,
  CiphertextInvalid: ErrorCode.CiphertextInvalid,
  RootUnavailable: ErrorCode.Sealed,
  HsmObjectNotFound: ErrorCode.Internal,
  HsmFailure: ErrorCode.Internal,
};

const OWN_CODES = new Set<string>(Object.values(ErrorCode));

export type ClassifiedError = { readonly code: ErrorCode; readonly message: string; readonly expected: boolean };

/**
 * What a failure means on the wire. DomainErrors with a known code keep their (safe)
 * message; anything else becomes `Internal` with a generic message (the original goes to
 * the log only).
 */
export function classifyError(err: unknown): ClassifiedError {
  if (err instanceof DomainError) {
    const code = OWN_CODES.has(err.code) ? (err.code as ErrorCode) : CORE_CODES[err.code];
    if (code && code !== ErrorCode.Internal) return { code, message: err.message, expected: true };
    return { code: ErrorCode.Internal, message: 'internal error in the crypto service', expected: false };
  }
  if (typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 'AuditUnavailable') {
    return { code: ErrorCode.AuditUnavailable, message: 'the audit record could not be made durable; no result is returned', expected: true };
  }
  return { code: ErrorCode.Internal, message: 'internal error in the crypto service', expected: false };
}

/** Whether this failure means the root (token) went away: the service seals itself. */
export function isRootLoss(err: unknown): boolean {
  return err instanceof DomainError && err.code === 'RootUnavailable';
}

/** The gRPC status (by name) each code travels with; also the audit record's resultSignature. */
export const STATUS_OF: Readonly<Record<ErrorCode, 'UNAVAILABLE' | 'NOT_FOUND' | 'ALREADY_EXISTS' | 'INVALID_ARGUMENT' | 'FAILED_PRECONDITION' | 'UNIMPLEMENTED' | 'INTERNAL'>> = {
  Sealed: 'UNAVAILABLE',
  AuditUnavailable: 'UNAVAILABLE',
  KeyNotFound: 'NOT_FOUND',
  KeyConflict: 'ALREADY_EXISTS',
  DataKeyNotFound: 'NOT_FOUND',
  BadParameter: 'INVALID_ARGUMENT',
  KeyOperationNotAllowed: 'FAILED_PRECONDITION',
  KeyDisabled: 'FAILED_PRECONDITION',
  KeyExpired: 'FAILED_PRECONDITION',
  KeyNotYetValid: 'FAILED_PRECONDITION',
  CiphertextInvalid: 'INVALID_ARGUMENT',
  NotSupported: 'UNIMPLEMENTED',
  Internal: 'INTERNAL',
};

/** The refusal returned when the audit record cannot be made durable. */
export class AuditUnavailable extends DomainError {
  constructor() {
    super(ErrorCode.AuditUnavailable, 'the audit record could not be made durable; no result is returned');
  }
}
