import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpsJwksSource } from './jwks.source.js';
import { AUDIENCE, issuerFor, jwks, mint, OID, signingKey, TENANT, type SigningKey } from './token-minter.fixture.js';
import { TokenVerifier } from './token.verifier.js';

/**
 * The HTTPS JWKS fetch against a real loopback TLS server whose certificate is signed by a
 * throwaway CA (made with the openssl CLI), the way services trust the development CA.
 */

let dir: string;
let ca: Buffer;
let server: Server;
let base: string;
let key: SigningKey;
const hits: string[] = [];

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'keyledger-auth-tls-'));
  writeFileSync(join(dir, 'srv.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-subj', '/CN=keyledger-test-ca', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=localhost');
  openssl('x509', '-req', '-in', 'srv.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.crt', '-days', '2', '-extfile', 'srv.ext');
  ca = readFileSync(join(dir, 'ca.crt'));
  key = await signingKey('ES256', 'tls-test-key');

  server = createServer({ cert: readFileSync(join(dir, 'srv.crt')), key: readFileSync(join(dir, 'srv.key')) }, (req, res) => {
    hits.push(req.url ?? '');
    switch (req.url) {
      case '/jwks':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(jwks(key)));
        return;
      case '/missing':
        res.writeHead(404).end('{}');
        return;
      case '/redirect':
        res.writeHead(302, { location: '/jwks' }).end();
        return;
      case '/huge':
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [], pad: 'x'.repeat(300_000) }));
        return;
      case '/html':
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html></html>');
        return;
      case '/hang':
        return; // never answers
      default:
        res.writeHead(500).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  rmSync(dir, { recursive: true, force: true });
});

describe('HttpsJwksSource', () => {
  it('fetches the JWKS over HTTPS trusting the given CA', async () => {
    const doc = (await new HttpsJwksSource({ url: `${base}/jwks`, ca }).fetchJwks()) as { keys: { kid: string }[] };
    expect(doc.keys.map((k) => k.kid)).toEqual(['tls-test-key']);
  });

  it('refuses a server certificate it does not trust', async () => {
    await expect(new HttpsJwksSource({ url: `${base}/jwks` }).fetchJwks()).rejects.toThrow(/certificate/);
  });

  it.each([
    ['a non-200 answer', '/missing'],
    ['a redirect', '/redirect'],
    ['a body over the size cap', '/huge'],
    ['a body that is not JSON', '/html'],
  ])('rejects %s', async (_name, path) => {
    await expect(new HttpsJwksSource({ url: `${base}${path}`, ca }).fetchJwks()).rejects.toThrow();
  });

  it('gives up after the deadline', async () => {
    await expect(new HttpsJwksSource({ url: `${base}/hang`, ca, timeoutMs: 300 }).fetchJwks()).rejects.toThrow(/timed out/);
  });

  it('only accepts https URLs', () => {
    expect(() => new HttpsJwksSource({ url: 'http://localhost/jwks' })).toThrow(/https/);
    expect(() => new HttpsJwksSource({ url: 'not a url' })).toThrow();
  });

  it('backs a TokenVerifier end to end', async () => {
    const before = hits.filter((h) => h === '/jwks').length;
    const verifier = new TokenVerifier({
      jwks: new HttpsJwksSource({ url: `${base}/jwks`, ca }),
      issuer: (tid) => issuerFor(tid),
      audiences: [AUDIENCE],
      tenants: [TENANT],
    });
    const now = Math.floor(Date.now() / 1000);
    const token = await mint(key, { iss: issuerFor(TENANT), aud: AUDIENCE, tid: TENANT, oid: OID, iat: now, nbf: now, exp: now + 600 });
    await expect(verifier.verify(token)).resolves.toMatchObject({ objectId: OID, tenantId: TENANT });
    await expect(verifier.verify(token)).resolves.toMatchObject({ objectId: OID });
    expect(hits.filter((h) => h === '/jwks').length - before).toBe(1);
  });
});
