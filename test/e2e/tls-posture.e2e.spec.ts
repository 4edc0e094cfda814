/**
 * The TLS posture of every endpoint, probed with `openssl s_client` as an outsider would: TLS 1.2
 * and 1.3 only, forward-secret suites only, no compression, no renegotiation; the crypto
 * service's mutual TLS refuses a client certificate from another CA (and none at all).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import tls from 'node:tls';
import { CryptoClient, CryptoError } from '#libs/crypto-client';
import { stackEnv } from '../support/stack-env.js';

const TLS_DIR = join(stackEnv.home, 'tls');
const OWN_CLIENT = ['-cert', join(TLS_DIR, 'server.crt'), '-key', join(TLS_DIR, 'server.key')];

/** [name, port, client certificate the endpoint needs, HTTP/2 (gRPC)]. */
const ENDPOINTS: ReadonlyArray<readonly [string, number, readonly string[], boolean]> = [
  ['vault REST', 8443, [], false],
  ['audit API', 8444, [], false],
  ['identity', 9443, [], false],
  ['crypto health', 9444, [], false],
  ['vault gRPC', 8445, [], true],
  ['crypto gRPC (mTLS)', 9445, OWN_CLIENT, true],
];

/**
 * Asks for a TLS 1.2 renegotiation right after the handshake: 'renegotiated' if the server
 * went along, 'refused' if it failed or closed the connection, 'unanswered' if it ignored it.
 */
function renegotiate(port: number, mtls: boolean, h2: boolean): Promise<'renegotiated' | 'refused' | 'unanswered'> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: '127.0.0.1',
      port,
      servername: 'localhost',
      ca: readFileSync(join(TLS_DIR, 'ca.crt')),
      maxVersion: 'TLSv1.2',
      ...(h2 ? { ALPNProtocols: ['h2'] } : {}),
      ...(mtls ? { cert: readFileSync(join(TLS_DIR, 'server.crt')), key: readFileSync(join(TLS_DIR, 'server.key')) } : {}),
    });
    const done = (outcome: 'renegotiated' | 'refused' | 'unanswered'): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(outcome);
    };
    const timer = setTimeout(() => done('unanswered'), 5_000);
    socket.once('secureConnect', () => {
      const started = socket.renegotiate({ rejectUnauthorized: true }, (err) => done(err ? 'refused' : 'renegotiated'));
      if (!started) done('refused');
    });
    socket.once('error', () => done('refused'));
    socket.once('close', () => done('refused'));
  });
}

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
  describe.each(ENDPOINTS)('%s on port %i', (_name, port, client, h2) => {
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

    it('refuses renegotiation', async () => {
      expect(await renegotiate(port, client.length > 0, h2)).not.toBe('renegotiated');
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

    /** A call to crypto with this client certificate: the gRPC status it ends with (14 UNAVAILABLE: the connection was refused). */
    const callWith = async (cert: Buffer, key: Buffer): Promise<number> => {
      const client = new CryptoClient({ address: 'localhost:9445', tls: { ca: readFileSync(join(TLS_DIR, 'ca.crt')), cert, key }, deadlineMs: 10_000 });
      try {
        await client.getKey({ ctx: { tenantId: 'tls-probe' }, ref: { tenant: 'tls-probe', vault: 'tls-probe', collection: 'keys', name: 'none', version: '' } });
        return 0;
      } catch (err) {
        return err instanceof CryptoError ? err.grpcStatus : -1;
      } finally {
        client.close();
      }
    };

    it('serves a client with a certificate from the deployment CA', async () => {
      expect(negotiated(sClient(9445, ['-tls1_2', ...OWN_CLIENT]))).toBeDefined();
      expect(await callWith(readFileSync(join(TLS_DIR, 'server.crt')), readFileSync(join(TLS_DIR, 'server.key')))).not.toBe(14);
    });

    it('refuses a client certificate from another CA: the connection closes before any call', async () => {
      expect(await callWith(readFileSync(join(dir, 'client.crt')), readFileSync(join(dir, 'client.key')))).toBe(14);
    });
  });
});
