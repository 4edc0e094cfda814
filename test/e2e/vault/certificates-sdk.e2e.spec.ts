import { createHash, verify as verifySignature, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { CertificateClient, type CertificatePolicy } from '@azure/keyvault-certificates';
import { CryptographyClient, KeyClient } from '@azure/keyvault-keys';
import { buildCertificate, csrPublicKey, parsePem, parsePkcs12, toPem, toPkcs12, x5t } from '#libs/x509';
import { testKey } from '../../../libs/x509/src/x509.fixtures.js';
import { accessToken, auditRecords, CA, closeDb, createVault, credential, dropVault, eventCount, failure, installLocalhostDns, RecordingHttpClient, raw, secretClient, suffix, VAULT_RESOURCE, vaultUrl } from './vault-e2e.support.js';

jest.setTimeout(120_000);

const FAST = { intervalInMs: 50 };
const tls = { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 } };
const SELF: CertificatePolicy = { issuerName: 'Self', subject: 'CN=api.e2e.internal', subjectAlternativeNames: { dnsNames: ['api.e2e.internal'] } };

describe('the Azure SDK CertificateClient on https://{vault}.vault.localhost:8443 (challenge resource verified)', () => {
  let vault: string;
  let url: string;
  let client: CertificateClient;
  let recorder: RecordingHttpClient;

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-certs');
    url = vaultUrl(vault);
    recorder = new RecordingHttpClient();
    client = new CertificateClient(url, credential(), { ...tls, httpClient: recorder });
  });

  afterAll(async () => {
    await dropVault(vault);
    await closeDb();
  });

  it('creates a Self certificate through the poller; get, versions, policy and update answer Azure\'s shapes; one audit record per request', async () => {
    const name = `self-${suffix()}`;
    const poller = await client.beginCreateCertificate(name, { ...SELF, keyUsage: ['digitalSignature', 'keyEncipherment'], validityInMonths: 6 }, FAST);
    const cert = await poller.pollUntilDone();
    const exchanges = recorder.take();
    expect(exchanges[0]!.status).toBe(401);
    expect(exchanges.slice(1).every((e) => e.status < 300)).toBe(true);
    expect(cert.name).toBe(name);
    expect(cert.properties.version).toMatch(/^[0-9a-f]{32}$/);
    expect(cert.keyId).toBe(`${url}/keys/${name}/${cert.properties.version}`);
    expect(cert.secretId).toBe(`${url}/secrets/${name}/${cert.properties.version}`);
    const x = new X509Certificate(Buffer.from(cert.cer!));
    expect(x.subject).toBe('CN=api.e2e.internal');
    expect(x.subjectAltName).toBe('DNS:api.e2e.internal');
    expect(x.verify(x.publicKey)).toBe(true);
    expect(Buffer.from(cert.properties.x509Thumbprint!).toString('base64url')).toBe(x5t(new Uint8Array(cert.cer!)));
    expect(cert.policy).toMatchObject({ issuerName: 'Self', subject: 'CN=api.e2e.internal', keyType: 'RSA', keySize: 2048, exportable: true, contentType: 'application/x-pkcs12', validityInMonths: 6 });
    const audit = await auditRecords(exchanges.map((e) => e.requestId));
    expect(audit.map((a) => a.operationName).sort()).toEqual(exchanges.map((e) => (e.method === 'POST' ? 'CertificateCreate' : e.url.includes('/pending') ? 'CertificatePendingGet' : 'CertificateGet')).sort());

    const versions: string[] = [];
    for await (const p of client.listPropertiesOfCertificateVersions(name)) versions.push(p.version!);
    expect(versions).toEqual([cert.properties.version]);
    const policy = await client.getCertificatePolicy(name);
    expect(policy.subject).toBe('CN=api.e2e.internal');
    const updatedPolicy = await client.updateCertificatePolicy(name, { ...policy, subject: 'CN=renamed.e2e.internal' });
    // The SDK's updateCertificatePolicy answers an empty policy (it never reads the response): read it back.
    expect(updatedPolicy.subject).toBeUndefined();
    expect((await client.getCertificatePolicy(name)).subject).toBe('CN=renamed.e2e.internal');
    const updated = await client.updateCertificateProperties(name, cert.properties.version!, { tags: { team: 'platform' }, enabled: false });
    expect(updated.properties.tags).toEqual({ team: 'platform' });
    expect(updated.properties.enabled).toBe(false);
    const names: string[] = [];
    for await (const p of client.listPropertiesOfCertificates()) names.push(p.name!);
    expect(names).toContain(name);
  });

  it('the managed secret is the PKCS#12 (or PEM) with the key, the managed key signs through CryptographyClient and verifies with the certificate', async () => {
    const name = `managed-${suffix()}`;
    const cert = await (await client.beginCreateCertificate(name, SELF, FAST)).pollUntilDone();
    const secrets = secretClient(url);
    const secret = await secrets.getSecret(name);
    expect(secret.properties.managed).toBe(true);
    expect(secret.properties.contentType).toBe('application/x-pkcs12');
    const p12 = parsePkcs12(new Uint8Array(Buffer.from(secret.value!, 'base64')));
    expect(p12.privateKey).not.toBeNull();
    expect(x5t(p12.chain[0]!)).toBe(x5t(new Uint8Array(cert.cer!)));

    // api-version 2026-04-01: outContentType converts the PKCS#12 to PEM (key, then the certificate).
    const converted = await raw(`${url}/secrets/${name}?api-version=2026-04-01&outContentType=application%2Fx-pem-file`, { headers: { authorization: `Bearer ${await accessToken(VAULT_RESOURCE)}` } });
    const asPem = converted.json as { value: string; contentType: string };
    expect([converted.status, asPem.contentType]).toEqual([200, 'application/x-pem-file']);
    expect(x5t(parsePem(asPem.value).chain[0]!)).toBe(x5t(new Uint8Array(cert.cer!)));

    const keys = new KeyClient(url, credential(), tls);
    const key = await keys.getKey(name);
    expect(key.properties.managed).toBe(true);
    const crypto = new CryptographyClient(cert.keyId!, credential(), tls);
    const digest = createHash('sha256').update('signed by the certificate key').digest();
    const signed = await crypto.sign('RS256', digest);
    const pub = new X509Certificate(Buffer.from(cert.cer!)).publicKey;
    expect(verifySignature('sha256', Buffer.from('signed by the certificate key'), pub, Buffer.from(signed.result))).toBe(true);

    // Direct writes and deletes of the managed key and secret are refused; nothing written.
    const before = await eventCount(`%${name.toLowerCase()}`);
    expect((await failure(secrets.setSecret(name, 'overwrite'))).statusCode).toBe(403);
    expect((await failure(secrets.beginDeleteSecret(name))).statusCode).toBe(403);
    expect((await failure(keys.beginDeleteKey(name))).statusCode).toBe(403);
    expect((await failure(keys.createRsaKey(name))).statusCode).toBe(403);
    expect(await eventCount(`%${name.toLowerCase()}`)).toBe(before);

    const pemName = `pem-${suffix()}`;
    const pemCert = await (await client.beginCreateCertificate(pemName, { ...SELF, contentType: 'application/x-pem-file', keyType: 'EC', keyCurveName: 'P-256' }, FAST)).pollUntilDone();
    const pemSecret = await secrets.getSecret(pemName);
    expect(pemSecret.properties.contentType).toBe('application/x-pem-file');
    expect(pemSecret.value).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const pem = parsePem(pemSecret.value!);
    expect(x5t(pem.chain[0]!)).toBe(x5t(new Uint8Array(pemCert.cer!)));
    const ecSigned = await new CryptographyClient(pemCert.keyId!, credential(), tls).sign('ES256', digest);
    expect(verifySignature('sha256', Buffer.from('signed by the certificate key'), { key: new X509Certificate(Buffer.from(pemCert.cer!)).publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(ecSigned.result))).toBe(true);
  });

  it('imports PKCS#12 (with password) and PEM; the key comes from the material', async () => {
    const k = testKey('RSA');
    const der = await buildCertificate({ subjectPublicKeyInfo: k.spki, subject: 'CN=imported.e2e', subjectAlternativeNames: { dnsNames: ['imported.e2e'] }, validityInMonths: 12 }, k.signer);
    const name = `import-${suffix()}`;
    const imported = await client.importCertificate(name, toPkcs12({ privateKey: k.pkcs8, chain: [der] }, 's3cret'), { password: 's3cret' });
    expect(x5t(new Uint8Array(imported.cer!))).toBe(x5t(der));
    expect(imported.policy).toMatchObject({ keyType: 'RSA', keySize: 2048, issuerName: 'Unknown' });

    const ek = testKey('EC');
    const ecDer = await buildCertificate({ subjectPublicKeyInfo: ek.spki, subject: 'CN=pem.e2e', validityInMonths: 3 }, ek.signer);
    const pemName = `import-pem-${suffix()}`;
    const pem = await client.importCertificate(pemName, Buffer.from(toPem({ privateKey: ek.pkcs8, chain: [ecDer] })), { policy: { contentType: 'application/x-pem-file', keyType: 'EC', keyCurveName: 'P-256', issuerName: 'Unknown', subject: 'CN=pem.e2e' } });
    expect(x5t(new Uint8Array(pem.cer!))).toBe(x5t(ecDer));
    const secret = await secretClient(url).getSecret(pemName);
    expect(secret.properties.contentType).toBe('application/x-pem-file');
    expect(Buffer.from(parsePem(secret.value!).privateKey!).equals(Buffer.from(ek.pkcs8))).toBe(true);
  });

  it('Unknown issuer: the pending operation holds the CSR; a foreign chain is refused, the chain the test CA signs is merged', async () => {
    const name = `unknown-${suffix()}`;
    await client.beginCreateCertificate(name, { issuerName: 'Unknown', subject: 'CN=merge.e2e' }, FAST);
    const op = await client.getCertificateOperation(name, FAST);
    const state = op.getOperationState().certificateOperation!;
    expect(state.status).toBe('inProgress');
    const pendingCert = await client.getCertificate(name);
    expect(pendingCert.properties.enabled).toBe(false);
    expect(pendingCert.cer).toBeUndefined();
    // The test's own CA signs the CSR's public key.
    const csrSpki = csrPublicKey(new Uint8Array(state.csr!));
    const ca = testKey('EC');
    const caDer = await buildCertificate({ subjectPublicKeyInfo: ca.spki, subject: 'CN=E2E Test CA', validityInMonths: 12, ca: { pathLength: 0 }, keyUsage: ['keyCertSign'] }, ca.signer);
    const leaf = await buildCertificate({ subjectPublicKeyInfo: csrSpki, subject: 'CN=merge.e2e', validityInMonths: 12, issuerCertificate: caDer }, ca.signer);
    const stranger = testKey('RSA');
    const foreign = await buildCertificate({ subjectPublicKeyInfo: stranger.spki, subject: 'CN=merge.e2e', validityInMonths: 12, issuerCertificate: caDer }, ca.signer);
    const before = await eventCount(`cert-%-${name.toLowerCase()}`);
    expect((await failure(client.mergeCertificate(name, [foreign, caDer]))).statusCode).toBe(400);
    expect(await eventCount(`cert-%-${name.toLowerCase()}`)).toBe(before);
    const merged = await client.mergeCertificate(name, [leaf, caDer]);
    expect(x5t(new Uint8Array(merged.cer!))).toBe(x5t(leaf));
    const secret = await secretClient(url).getSecret(name);
    const p12 = parsePkcs12(new Uint8Array(Buffer.from(secret.value!, 'base64')));
    expect(p12.chain.map(x5t)).toEqual([x5t(leaf), x5t(caDer)]);
    expect(p12.privateKey).not.toBeNull();
  });

  it('delete / get deleted / recover / purge pollers, and backup → delete → purge → restore', async () => {
    const name = `life-${suffix()}`;
    const cert = await (await client.beginCreateCertificate(name, SELF, FAST)).pollUntilDone();
    const deleted = await (await client.beginDeleteCertificate(name, FAST)).pollUntilDone();
    expect(deleted.recoveryId).toBe(`${url}/deletedcertificates/${name}`);
    expect((await client.getDeletedCertificate(name)).name).toBe(name);
    expect((await failure(client.getCertificate(name))).statusCode).toBe(404);
    expect((await failure(secretClient(url).getSecret(name))).statusCode).toBe(404);
    const recovered = await (await client.beginRecoverDeletedCertificate(name, FAST)).pollUntilDone();
    expect(recovered.properties.version).toBe(cert.properties.version);
    expect((await secretClient(url).getSecret(name)).properties.managed).toBe(true);

    const backup = await client.backupCertificate(name);
    await (await client.beginDeleteCertificate(name, FAST)).pollUntilDone();
    await client.purgeDeletedCertificate(name);
    expect((await failure(client.getDeletedCertificate(name))).statusCode).toBe(404);
    const restored = await client.restoreCertificateBackup(backup!);
    expect(restored.properties.version).toBe(cert.properties.version);
    expect(x5t(new Uint8Array(restored.cer!))).toBe(x5t(new Uint8Array(cert.cer!)));
    const signed = await new CryptographyClient(restored.keyId!, credential(), tls).sign('RS256', createHash('sha256').update('x').digest());
    expect(signed.result.length).toBe(256);
  });

  /** POST /certificates/{name}/import as Azure's REST API takes it; rejects like the SDK (statusCode, code). */
  async function rawImport(name: string, body: unknown): Promise<unknown> {
    const r = await raw(`${url}/certificates/${name}/import?api-version=7.5`, { method: 'POST', headers: { authorization: `Bearer ${await accessToken(VAULT_RESOURCE)}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (r.status >= 300) throw Object.assign(new Error('refused'), { statusCode: r.status, code: (r.json as { error?: { code?: string } }).error?.code });
    return r.json;
  }

  it('refuses bad input with 400 BadParameter and writes nothing', async () => {
    const k = testKey('RSA');
    const der = await buildCertificate({ subjectPublicKeyInfo: k.spki, subject: 'CN=bad.e2e', validityInMonths: 12 }, k.signer);
    const cases: [string, () => Promise<unknown>][] = [
      ['malformed PKCS#12', () => client.importCertificate(`bad-${suffix()}`, new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x03]))],
      ['wrong password', () => client.importCertificate(`bad-${suffix()}`, toPkcs12({ privateKey: k.pkcs8, chain: [der] }, 'right'), { password: 'wrong' })],
      ['PEM without key', () => client.importCertificate(`bad-${suffix()}`, Buffer.from(toPem({ privateKey: null, chain: [der] })), { policy: { contentType: 'application/x-pem-file', issuerName: 'Unknown', subject: 'CN=bad.e2e' } })],
      // The JS SDK sends importCertificate's policy unconverted (no key_props reach the service): raw REST for this one.
      ['key/policy mismatch', () => rawImport(`bad-${suffix()}`, { value: Buffer.from(toPkcs12({ privateKey: k.pkcs8, chain: [der] })).toString('base64'), policy: { key_props: { kty: 'EC', crv: 'P-256' } } })],
      ['validity 0', () => client.beginCreateCertificate(`bad-${suffix()}`, { ...SELF, validityInMonths: 0 })],
      ['validity 1201', () => client.beginCreateCertificate(`bad-${suffix()}`, { ...SELF, validityInMonths: 1201 })],
      ['no CN, no SANs', () => client.beginCreateCertificate(`bad-${suffix()}`, { issuerName: 'Self', subject: 'O=Contoso' })],
      ['unknown issuer', () => client.beginCreateCertificate(`bad-${suffix()}`, { issuerName: 'NoSuchIssuer', subject: 'CN=x' })],
    ];
    const before = await eventCount(`%-bad-%`);
    const outcomes: unknown[] = [];
    for (const [what, call] of cases) {
      try {
        await call();
        outcomes.push([what, 'accepted']);
      } catch (err) {
        const e = err as { statusCode?: number; code?: string };
        outcomes.push([what, e.statusCode, e.code]);
      }
    }
    expect(outcomes).toEqual(cases.map(([what]) => [what, 400, 'BadParameter']));
    expect(await eventCount(`%-bad-%`)).toBe(before);
  });
});

