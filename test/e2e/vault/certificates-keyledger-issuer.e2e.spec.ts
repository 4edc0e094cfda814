import { execFile, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { CertificateClient } from '@azure/keyvault-certificates';
import { REPO_ROOT } from '#libs/platform';
import { certificatePem, parsePem } from '#libs/x509';
import { accessToken, CA, closeDb, createVault, credential, dropVault, failure, installLocalhostDns, raw, secretClient, suffix, VAULT_RESOURCE, vaultUrl } from './vault-e2e.support.js';

jest.setTimeout(120_000);

const FAST = { intervalInMs: 50 };
const dir = mkdtempSync(join(tmpdir(), 'keyledger-issuer-e2e-'));
const openssl = (...args: string[]): { status: number | null; out: string } => {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
};

/**
 * The README's promise: a TLS certificate for an internal service from the `Keyledger` issuer,
 * through the official CertificateClient, trusted with the one file `keyledger ca export` prints.
 */
describe('certificates from the Keyledger issuer (CertificateClient 4.10, openssl)', () => {
  let vault: string;
  let client: CertificateClient;

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-kl-issuer');
    client = new CertificateClient(vaultUrl(vault), credential(), { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 } });
    const { stdout } = await promisify(execFile)(process.execPath, [join(REPO_ROOT, 'bin', 'keyledger.mjs'), 'ca', 'export'], {
      env: { ...process.env, NODE_EXTRA_CA_CERTS: join(REPO_ROOT, '.keyledger', 'tls', 'ca.crt') },
    });
    writeFileSync(join(dir, 'keyledger-ca.pem'), stdout);
  });

  afterAll(async () => {
    await dropVault(vault);
    await closeDb();
  });

  it('beginCreateCertificate with issuer Keyledger completes at once; openssl verifies the chain against the exported CA', async () => {
    const name = `svc-${suffix()}`;
    const poller = await client.beginCreateCertificate(
      name,
      {
        issuerName: 'Keyledger',
        subject: 'CN=orders.internal, O=Contoso',
        subjectAlternativeNames: { dnsNames: ['orders.internal', 'orders.svc.cluster.local'] },
        keyUsage: ['digitalSignature', 'keyEncipherment'],
        validityInMonths: 6,
        contentType: 'application/x-pem-file',
      },
      FAST,
    );
    const cert = await poller.pollUntilDone();
    expect(cert.policy?.issuerName).toBe('Keyledger');
    expect((await client.getCertificateOperation(name)).getOperationState().certificateOperation?.status).toBe('completed');

    writeFileSync(join(dir, 'leaf.pem'), certificatePem(new Uint8Array(cert.cer!)));
    const verify = openssl('verify', '-CAfile', 'keyledger-ca.pem', 'leaf.pem');
    expect([verify.status, verify.out.trim()]).toEqual([0, 'leaf.pem: OK']);
    const text = openssl('x509', '-in', 'leaf.pem', '-noout', '-text').out;
    expect(text).toContain('Subject: CN = orders.internal, O = Contoso');
    expect(text).toMatch(/Issuer: CN = Keyledger [0-9a-f-]+ Issuing CA, O = Keyledger/);
    expect(text).toContain('DNS:orders.internal, DNS:orders.svc.cluster.local');
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature, Key Encipherment/);

    // The managed secret: the service's key and the whole chain (leaf, CA), as a TLS server needs them.
    const secret = await secretClient(vaultUrl(vault)).getSecret(name);
    expect(secret.properties.contentType).toBe('application/x-pem-file');
    const material = parsePem(secret.value!);
    expect(material.privateKey).toBeDefined();
    expect(material.chain).toHaveLength(2);
    writeFileSync(join(dir, 'bundle.pem'), secret.value!);
    writeFileSync(join(dir, 'chain-ca.pem'), certificatePem(material.chain[1]!));
    expect(Buffer.from(material.chain[0]!).equals(Buffer.from(cert.cer!))).toBe(true);
    expect(openssl('verify', '-CAfile', 'keyledger-ca.pem', 'chain-ca.pem').status).toBe(0);
    expect(openssl('verify', '-CAfile', 'keyledger-ca.pem', 'bundle.pem').status).toBe(0);
  });

  it('a configured DigiCert issuer can be named by a policy, but the certificate fails naming the provider; an unknown issuer is refused', async () => {
    await client.createIssuer('corp-digicert', 'DigiCert', { accountId: 'acct', password: 'never-used' });
    const name = `digi-${suffix()}`;
    // The create answers the operation already failed: the SDK's poller rejects with its error.
    const refused = await failure(client.beginCreateCertificate(name, { issuerName: 'corp-digicert', subject: 'CN=digi.internal' }, FAST));
    expect(refused.message).toBe('The issuer provider DigiCert cannot be reached from this vault.');
    // getCertificateOperation rejects the same way; the pending operation itself, on the wire:
    expect((await failure(client.getCertificateOperation(name))).message).toContain('DigiCert');
    const pending = await raw(`${vaultUrl(vault)}/certificates/${name}/pending?api-version=7.5`, { headers: { authorization: `Bearer ${await accessToken(VAULT_RESOURCE)}` } });
    expect(pending.status).toBe(200);
    expect(pending.json).toMatchObject({ status: 'failed', issuer: { name: 'corp-digicert' }, error: { message: 'The issuer provider DigiCert cannot be reached from this vault.' } });

    const unknown = await failure(client.beginCreateCertificate(`nope-${suffix()}`, { issuerName: 'no-such-issuer', subject: 'CN=x.internal' }, FAST));
    expect(unknown.statusCode).toBeGreaterThanOrEqual(400);
    expect(unknown.statusCode).toBeLessThan(500);
  });
});
