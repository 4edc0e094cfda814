/**
 * Errors with a stable code. Domain and library code throws them; only adapters map a code to
 * an HTTP status, an AAD error or a gRPC status — domain code never does.
 *
 * The code is the contract (`SecretNotFound`, `BadParameter`, `Conflict`, ...): callers and
 * error tables switch on `code`, never on the message. The subclasses say what kind of failure
 * a code is, for a transport's table to fall back on when it does not know the code; they
 * are all `DomainError`s, so `instanceof DomainError` and `.code` keep working everywhere.
 *
 * Messages and details never carry secret values, key material, plaintext or tokens.
 */
export type DomainErrorDetails = Readonly<Record<string, string | number | boolean>>;

export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: DomainErrorDetails = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

/** The input is malformed or out of range (Azure: 400 `BadParameter`). */
export class InvalidInputError extends DomainError {
  constructor(message: string, details: DomainErrorDetails = {}, code = 'BadParameter') {
    super(code, message, details);
    this.name = 'InvalidInputError';
  }
}

/** The object the command is about does not exist (Azure: 404 `<Kind>NotFound`). */
export class NotFoundError extends DomainError {
  constructor(code: string, message: string, details: DomainErrorDetails = {}) {
    super(code, message, details);
    this.name = 'NotFoundError';
  }
}

/** The object's state forbids the command (Azure: 409 `Conflict`, `<Kind>Exists`, ...). */
export class ConflictError extends DomainError {
  constructor(code: string, message: string, details: DomainErrorDetails = {}) {
    super(code, message, details);
    this.name = 'ConflictError';
  }
}

/** A dependency the operation needs is down; retrying later may succeed (503). */
export class UnavailableError extends DomainError {
  constructor(code: string, message: string, details: DomainErrorDetails = {}) {
    super(code, message, details);
    this.name = 'UnavailableError';
  }
}

/** True for a DomainError, and (when given) one with that code. */
export function isDomainError(err: unknown, code?: string): err is DomainError {
  return err instanceof DomainError && (code === undefined || err.code === code);
}
