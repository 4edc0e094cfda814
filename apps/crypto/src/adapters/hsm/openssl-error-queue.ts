import { randomBytes } from 'node:crypto';

/**
 * SoftHSM2 (and other OpenSSL-based PKCS#11 modules) loaded into Node resolve OpenSSL against
 * Node's own copy and share its per-thread error queue. A token call that fails inside OpenSSL
 * (an ECDSA or PSS verification that answers "invalid", a GCM tag mismatch) leaves an error
 * there, and the next TLS read on the event loop then reports it as a connection error —
 * killing an unrelated gRPC or HTTPS connection. Every synchronous Node crypto job clears the
 * queue on return (ClearErrorOnReturn); a one-byte `randomBytes` is the cheapest such job.
 *
 * crypto-core's `Pkcs11Token` (and everything built on it: `HsmKeyPair`, `Pkcs11RootKey`)
 * fences each of its own module calls the same way. This helper is for the calls this app
 * makes on its own pkcs11js instance (`TokenSessions`).
 */
export function clearOpenSslErrors(): void {
  randomBytes(1);
}
