import { randomBytes } from 'node:crypto';

/**
 * SoftHSM2 (and other OpenSSL-based PKCS#11 modules) loaded into Node resolve OpenSSL against
 * Node's own copy and share its per-thread error queue. A token call that fails inside OpenSSL
 * (a PSS verification that answers "invalid", a GCM tag mismatch) leaves an error there, and
 * the next TLS read on the event loop then reports it as a connection error — killing an
 * unrelated gRPC or HTTPS connection. Every synchronous Node crypto job clears the queue on
 * return (ClearErrorOnReturn); a one-byte `randomBytes` is the cheapest such job.
 */
export function clearOpenSslErrors(): void {
  randomBytes(1);
}

/** Runs a synchronous token call (or the synchronous part of an async one) and clears the queue before anything else runs. */
export function tokenCall<T>(fn: () => T): T {
  try {
    return fn();
  } finally {
    clearOpenSslErrors();
  }
}
