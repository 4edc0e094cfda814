/**
 * The TLS posture of every endpoint, probed with `openssl s_client` as an outsider would: TLS 1.2
 * and 1.3 only, forward-secret suites only, no compression, no renegotiation; the crypto
 * service's mutual TLS refuses a client certificate from another CA (and none at all).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stackEnv } from '../support/stack-env.js';

const TLS_DIR = join(stackEnv.home, 'tls');
const OWN_CLIENT = ['-cert', join(TLS_DIR, 'server.crt'), '-key', join(TLS_DIR, 'server.key')];

/** [name, port, client certificate the endpoint needs]. */
const ENDPOINTS: ReadonlyArray<readonly [string, number, readonly string[]]> = [
  ['vault REST', 8443, []],
  ['audit API', 8444, []],
  ['identity', 9443, []],
  ['crypto health', 9444, []],
  ['vault gRPC', 8445, []],
  ['crypto gRPC (mTLS)', 9445, OWN_CLIENT],
];

function sClient(port: number, args: readonly string[], input = ''): string {
  const res = spawnSync('openssl', ['s_client', '-connect', `127.0.0.1:${port}`, '-servername', 'localhost', '-CAfile', join(TLS_DIR, 'ca.crt'), ...args], { input, encoding: 'utf8', timeout: 15_000 });
  return `${res.stdout}\n${res.stderr}`;
}

/** The negotiated protocol and suite, or undefined when the handshake failed. */
function negotiated(out: string): { protocol: string; cipher: string } | undefined {
  const m = /New, (TLSv[\d.]+), Cipher is (\S+)/.exec(out);
  return m && m[2] !== '(NONE)' ? { protocol: m[1]!, cipher: m[2]! } : undefined;
}

describe('TLS posture of every HTTPS and gRPC endpoint (openssl s_client)', () => {
  describe.each(ENDPOINTS)('%s on port %i', (_name, port, client) => {
    it('offers TLS 1.2 and 1.3 and nothing older', () => {
      expect(negotiated(sClient(port, ['-tls1_3', ...client]))?.protocol).toBe('TLSv1.3');
      expect(negotiated(sClient(port, ['-tls1_2', ...client]))?.protocol).toBe('TLSv1.2');
      // SECLEVEL=0 lets this openssl offer the old protocols: the refusal is the server's.
      for (const old of ['-tls1', '-tls1_1']) expect(negotiated(sClient(port, [old, '-cipher', 'DEFAULT:@SECLEVEL=0', ...client]))).toBeUndefined();
    });

    it('negotiates forward-secret suites only, without compression', () => {
      const out = sClient(port, ['-tls1_2', ...client]);
      expect(negotiated(out)?.cipher).toMatch(/^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|CHACHA20-POLY1305)$/);
      expect(out).toContain('Compression: NONE');
      // Static RSA key exchange (no forward secrecy), CBC and finite-field DHE are refused.
      for (const suite of ['AES128-GCM-SHA256', 'AES256-SHA256', 'ECDHE-ECDSA-AES128-SHA256', 'DHE-RSA-AES128-GCM-SHA256']) {
        expect(negotiated(sClient(port, ['-tls1_2', '-cipher', suite, ...client]))).toBeUndefined();
      }
    });

    it('refuses renegotiation', () => {
      const out = sClient(port, ['-tls1_2', ...client], 'R\n');
      expect(negotiated(out)).toBeDefined();
      const after = out.slice(out.indexOf('RENEGOTIATING'));
      expect(out).toContain('RENEGOTIATING');
      expect(after).toMatch(/error|alert|errno|closed/i);
    });
  });

  describe('mutual TLS of the crypto service', () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'keyledger-foreign-ca-'));
      const run = (args: string[]): void => {
        const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
      };
      run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=Foreign CA']);
      run(['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'client.key', '-out', 'client.csr', '-subj', '/CN=localhost']);
      run(['x509', '-req', '-in', 'client.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'client.crt', '-days', '1']);
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    it('accepts a client certificate from the deployment CA', () => {
      expect(negotiated(sClient(9445, ['-tls1_2', ...OWN_CLIENT]))).toBeDefined();
    });

    it('refuses a client certificate from another CA, and a client without one', () => {
      const foreign = sClient(9445, ['-tls1_2', '-cert', join(dir, 'client.crt'), '-key', join(dir, 'client.key')]);
      expect(negotiated(foreign)).toBeUndefined();
      expect(foreign).toMatch(/alert (unknown ca|certificate unknown|bad certificate|handshake failure)/);
      expect(negotiated(sClient(9445, ['-tls1_2']))).toBeUndefined();
    });
  });
});
