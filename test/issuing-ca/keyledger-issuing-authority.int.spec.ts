/**
 * The `Keyledger` issuer end to end below HTTP: a real crypto service (SoftHSM2 token, gRPC with
 * mutual TLS) holds the tenant's CA key, the vault's table holds its certificate, and openssl —
 * an independent implementation — verifies every chain the authority issues.
 */
import { spawnSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { REPO_ROOT } from '#libs/platform';
import { testDb, type TestDb } from '#libs/testing';
import { certificatePem } from '#libs/x509';
import { startTestCrypto, type TestCrypto } from '../../apps/crypto/src/testing/crypto.harness.js';
import { CertificateIssuersRepository } from '../../apps/vault/src/adapters/persistence/certificate-issuers.repository.js';
import { CA_KEY_NAME, CA_KEY_VAULT, KeyledgerIssuingAuthority } from '../../apps/vault/src/application/certificate-issuers/keyledger-issuing-authority.js';
import type { IssuanceRequest } from '../../apps/vault/src/application/certificates/issuing-authority.port.js';

jest.setTimeout(120_000);

const dir = mkdtempSync(join(tmpdir(), 'keyledger-issuing-ca-'));
function openssl(...args: string[]): string {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  return r.stdout;
}

const spkiOf = (kind: 'rsa' | 'ec'): Uint8Array => {
  const pair = kind === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return new Uint8Array(pair.publicKey.export({ format: 'der', type: 'spki' }));
};

describe('KeyledgerIssuingAuthority (crypto service with SoftHSM2, PostgreSQL, openssl)', () => {
  let crypto: TestCrypto;
  let t: TestDb;
  let repo: CertificateIssuersRepository;
  let tenant: string;

  beforeAll(async () => {
    crypto = await startTestCrypto({ root: 'pkcs11' });
    tenant = crypto.ctx().tenantId;
    t = await testDb('t_issuing_ca');
    await t.db.migrate(join(REPO_ROOT, 'apps', 'vault', 'migrations'));
    repo = new CertificateIssuersRepository(t.db);
  });

  afterAll(async () => {
    await t?.drop();
    await crypto?.close();
  });

  const request = (spki: Uint8Array, extra: Partial<IssuanceRequest> = {}): IssuanceRequest => ({
    tenantId: tenant,
    vaultName: 'dev',
    certificateName: 'api',
    subjectPublicKeyInfo: spki,
    subject: 'CN=api.internal, O=Contoso',
    subjectAlternativeNames: { dnsNames: ['api.internal', 'api.dev.internal'], emails: ['ops@contoso.test'] },
    keyUsage: ['digitalSignature', 'keyEncipherment'],
    extendedKeyUsage: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'],
    validityInMonths: 12,
    ...extra,
  });

  it('creates the tenant CA on first use: key in the token (HSM, not exportable), self-signed CA certificate', async () => {
    const authority = new KeyledgerIssuingAuthority(crypto.client, repo);
    const ca = await authority.caCertificate(tenant);
    writeFileSync(join(dir, 'ca.pem'), certificatePem(ca));
    const text = openssl('x509', '-in', 'ca.pem', '-noout', '-text');
    expect(text).toContain(`Subject: CN = Keyledger ${tenant} Issuing CA, O = Keyledger`);
    expect(text).toContain(`Issuer: CN = Keyledger ${tenant} Issuing CA, O = Keyledger`);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Certificate Sign, CRL Sign/);
    expect(text).toContain('Public-Key: (3072 bit)');
    expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption');
    expect(openssl('verify', '-CAfile', 'ca.pem', 'ca.pem')).toContain('ca.pem: OK');

    const stored = (await repo.issuingCa(tenant))!;
    expect(Buffer.from(stored.certificate).equals(Buffer.from(ca))).toBe(true);
    const { key } = await crypto.client.getKey({ ctx: crypto.ctx('KeyGet'), ref: { tenant, vault: CA_KEY_VAULT, collection: 'keys', name: CA_KEY_NAME, version: stored.keyVersion } });
    expect(key.hsm).toBe(true);
    expect(key.key.kty).toBe('RSA-HSM');
    expect(key.attributes.exportable).toBe(false);
  });

  it('is stable across restarts and between processes creating it at once', async () => {
    const first = await new KeyledgerIssuingAuthority(crypto.client, repo).caCertificate(tenant);
    const again = await new KeyledgerIssuingAuthority(crypto.client, repo).caCertificate(tenant);
    expect(Buffer.from(again).equals(Buffer.from(first))).toBe(true);

    // A second tenant whose CA two "processes" create concurrently: one certificate holds, one key.
    const other = `${tenant}-b`;
    const [a, b] = await Promise.all([new KeyledgerIssuingAuthority(crypto.client, repo).caCertificate(other), new KeyledgerIssuingAuthority(crypto.client, repo).caCertificate(other)]);
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    expect(Buffer.from(a).equals(Buffer.from(first))).toBe(false);
  });

  it('issues leaves for RSA and EC keys that openssl verifies against the CA file, with the asked subject, SANs, usages and validity', async () => {
    const authority = new KeyledgerIssuingAuthority(crypto.client, repo);
    const ca = await authority.caCertificate(tenant);
    writeFileSync(join(dir, 'ca.pem'), certificatePem(ca));
    for (const kind of ['rsa', 'ec'] as const) {
      const chain = await authority.issue(request(spkiOf(kind), { validityInMonths: 13 }));
      expect(chain.certificates).toHaveLength(2);
      expect(Buffer.from(chain.certificates[1]!).equals(Buffer.from(ca))).toBe(true);
      writeFileSync(join(dir, `leaf-${kind}.pem`), certificatePem(chain.certificates[0]!));
      expect(openssl('verify', '-CAfile', 'ca.pem', `leaf-${kind}.pem`)).toContain(`leaf-${kind}.pem: OK`);
      const text = openssl('x509', '-in', `leaf-${kind}.pem`, '-noout', '-text');
      expect(text).toContain('Subject: CN = api.internal, O = Contoso');
      expect(text).toContain(`Issuer: CN = Keyledger ${tenant} Issuing CA, O = Keyledger`);
      expect(text).toContain('DNS:api.internal, DNS:api.dev.internal, email:ops@contoso.test');
      expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);
      expect(text).toContain('TLS Web Server Authentication, TLS Web Client Authentication');
      expect(text).toContain('Signature Algorithm: sha256WithRSAEncryption');
      const dates = openssl('x509', '-in', `leaf-${kind}.pem`, '-noout', '-startdate', '-enddate');
      const start = new Date(/notBefore=(.*)/.exec(dates)![1]!);
      const end = new Date(/notAfter=(.*)/.exec(dates)![1]!);
      const months = (end.getUTCFullYear() - start.getUTCFullYear()) * 12 + end.getUTCMonth() - start.getUTCMonth();
      expect(months).toBe(13);
    }
    // Another tenant's CA does not verify this tenant's leaves.
    writeFileSync(join(dir, 'other-ca.pem'), certificatePem(await authority.caCertificate(`${tenant}-b`)));
    const r = spawnSync('openssl', ['verify', '-CAfile', 'other-ca.pem', 'leaf-rsa.pem'], { cwd: dir, encoding: 'utf8' });
    expect(r.status).not.toBe(0);
  });

  it('refuses a subject with neither CN nor SANs', async () => {
    const authority = new KeyledgerIssuingAuthority(crypto.client, repo);
    await authority.caCertificate(tenant);
    await expect(authority.issue(request(spkiOf('ec'), { subject: 'O=Contoso', subjectAlternativeNames: {} }))).rejects.toMatchObject({ name: 'X509Error', code: 'InvalidSubject' });
  });
});
