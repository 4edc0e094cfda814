import { constants } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import tls from 'node:tls';
import { join } from 'node:path';

export type TlsMaterial = { readonly cert: Buffer; readonly key: Buffer; readonly ca: Buffer; readonly caFile: string };

export type TlsFiles = { readonly certFile: string; readonly keyFile: string; readonly caFile: string };

/** The development CA layout written by `npm run stack:up` under `.keyledger/tls`. */
export function devTlsFiles(home: string): TlsFiles {
  const dir = join(home, 'tls');
  return { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), caFile: join(dir, 'ca.crt') };
}

export function loadTls(files: TlsFiles): TlsMaterial {
  for (const [name, file] of Object.entries(files)) {
    if (!existsSync(file)) {
      throw new Error(`TLS ${name} not found at ${file}: run "npm run stack:up" to create the development CA, or set TLS_CERT_FILE/TLS_KEY_FILE/TLS_CA_FILE`);
    }
  }
  return { cert: readFileSync(files.certFile), key: readFileSync(files.keyFile), ca: readFileSync(files.caFile), caFile: files.caFile };
}

/**
 * The TLS posture of every endpoint (HTTPS and gRPC): TLS 1.2 and 1.3 only, forward-secret
 * suites only (TLS 1.3's, and ECDHE with AEAD for 1.2: no RSA key exchange, no CBC, no DHE), no
 * compression, no renegotiation. The README's "TLS" section; `test/e2e/tls-posture.e2e.spec.ts`
 * checks it with `openssl s_client` on every port.
 */
export const TLS_CIPHERS = [
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'TLS_AES_128_GCM_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

/** OpenSSL options of every server context: no renegotiation (RFC 5746 aside, none is needed), no compression (CRIME). */
export const TLS_SECURE_OPTIONS = constants.SSL_OP_NO_RENEGOTIATION | constants.SSL_OP_NO_COMPRESSION;

/** What a Node HTTPS server takes to hold the posture. */
export const tlsServerOptions = (): { minVersion: 'TLSv1.2'; maxVersion: 'TLSv1.3'; ciphers: string; secureOptions: number; honorCipherOrder: boolean } => ({
  minVersion: 'TLSv1.2',
  maxVersion: 'TLSv1.3',
  ciphers: TLS_CIPHERS,
  secureOptions: TLS_SECURE_OPTIONS,
  honorCipherOrder: true,
});

/**
 * Makes the posture the process's default, for the servers that take no TLS options of ours
 * (grpc-js builds its contexts from Node's defaults): protocol range and suites, and
 * renegotiation closing the connection at the first attempt (Node's client-renegotiation limit 0).
 */
export function applyTlsPosture(): void {
  tls.DEFAULT_MIN_VERSION = 'TLSv1.2';
  tls.DEFAULT_MAX_VERSION = 'TLSv1.3';
  (tls as { DEFAULT_CIPHERS: string }).DEFAULT_CIPHERS = TLS_CIPHERS;
  (tls as { CLIENT_RENEG_LIMIT: number }).CLIENT_RENEG_LIMIT = 0;
}
