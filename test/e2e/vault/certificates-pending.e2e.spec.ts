import { createPublicKey, createPrivateKey, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { CertificateClient, type CertificatePolicy } from '@azure/keyvault-certificates';
import { CryptoClient, type CallContext } from '#libs/crypto-client';
import { open as openEnvelope } from '#libs/crypto-core';
import { buildCertificate, csrPublicKey, parsePem, parsePkcs12, toPem, toPkcs12, x5t } from '#libs/x509';
import { testKey } from '../../../libs/x509/src/x509.fixtures.js';
import { accessToken, auditRecords, CA, closeDb, createVault, credential, db, dropVault, eventCount, eventually, failure, installLocalhostDns, raw, RecordingHttpClient, secretClient, suffix, VAULT_RESOURCE, vaultUrl } from './vault-e2e.support.js';

jest.setTimeout(120_000);

const FAST = { intervalInMs: 50 };
const tls = { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 } };
const SELF: CertificatePolicy = { issuerName: 'Self', subject: 'CN=pending.e2e.internal' };
const UNKNOWN: CertificatePolicy = { issuerName: 'Unknown', subject: 'CN=merge-later.e2e.internal' };

type Sealed = { version: string; sealedKey: string; sealedKeyId: string; csr: string };

/**
 * The pending operation of a certificate: issuance off the read path (a GET never appends), and
 * crypto-shredding of the private key an exportable pending operation keeps sealed in the event
 * log — checked against the running crypto service, the way the crypto e2e checks secret data
 * keys: the data key is asked for with the certificate version's identity, and answers
 * DataKeyNotFound once the certificate is purged, its operation cancelled or deleted, or issued.
 * Also `preserveCertOrder` (api-version 2025-07-01) through the JS CertificateClient.
 */
describe('certificate pending operations: pure reads, crypto-shredding, preserveCertOrder', () => {
  let vault: string;
  let url: string;
  let tenant: string;
  let client: CertificateClient;
  let recorder: RecordingHttpClient;
  let crypto: CryptoClient;

  const ctx = (operationName: string): CallContext => ({ tenantId: tenant, objectId: 'oid-e2e', appId: 'app-e2e', callerIp: '198.51.100.9', correlationId: `e2e-${randomUUID()}`, requestUri: `${url}/certificates`, operationName });
  const ref = (name: string, version: string) => ({ tenant, vault, collection: 'certificates', name: name.toLowerCase(), version });

  /** The sealed key the operation's start recorded in the event log (what shredding must make unreadable). */
  async function sealedInLog(name: string): Promise<Sealed> {
    const res = await db().query<{ p: Sealed }>(
      `SELECT data->'pending' AS p FROM vault.events WHERE stream_id LIKE $1 AND type = 'CertificateOperationStarted' ORDER BY position DESC LIMIT 1`,
      [`cert-%-${name.toLowerCase()}`],
    );
    const p = res.rows[0]!.p;
    expect(p.sealedKey).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(p.sealedKeyId).toBeTruthy();
    return p;
  }

  /** Opens the sealed key as the vault would: the data key from crypto, then the envelope bound to the version. */
  async function openSealed(name: string, s: Sealed): Promise<Buffer> {
    const key = (await crypto.decryptDataKey({ ctx: ctx('CertificatePendingGet'), ref: ref(name, s.version), keyId: s.sealedKeyId })).plaintext;
    try {
      return openEnvelope(key, Buffer.from(s.sealedKey, 'base64'), ref(name, s.version), { expectedKeyId: s.sealedKeyId });
    } finally {
      key.fill(0);
    }
  }

  async function shredded(name: string, s: Sealed): Promise<void> {
    await expect(crypto.decryptDataKey({ ctx: ctx('CertificatePendingGet'), ref: ref(name, s.version), keyId: s.sealedKeyId })).rejects.toMatchObject({ code: 'DataKeyNotFound' });
  }

  async function pendingRaw(name: string, method = 'GET', body?: unknown) {
    return raw(`${url}/certificates/${name}/pending?api-version=7.5`, {
      method,
      headers: { authorization: `Bearer ${await accessToken(VAULT_RESOURCE)}`, 'content-type': 'application/json' },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  }

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-cert-pending');
    url = vaultUrl(vault);
    tenant = (await db().query<{ tenant_id: string }>(`SELECT tenant_id::text FROM vault.vaults WHERE name_key = $1`, [vault])).rows[0]!.tenant_id;
    recorder = new RecordingHttpClient();
    client = new CertificateClient(url, credential(), { ...tls, httpClient: recorder });
    crypto = CryptoClient.forDevCa({ address: process.env.CRYPTO_GRPC_ADDRESS ?? 'localhost:9445' });
  });

  afterAll(async () => {
    crypto?.close();
    await dropVault(vault);
    await closeDb();
  });

  it('Self: the poller completes, the issuance is the system principal\'s own audited change, and GETs of the operation and the certificate append nothing', async () => {
    const name = `pure-${suffix()}`;
    const cert = await (await client.beginCreateCertificate(name, SELF, FAST)).pollUntilDone();
    expect(cert.cer).toBeDefined();
    const exchanges = recorder.take();
    // One record per request, each the request's own operation (no GET turned into an issuance).
    const audit = await auditRecords(exchanges.map((e) => e.requestId));
    expect(audit).toHaveLength(exchanges.length);
    expect(audit.map((a) => a.operationName).sort()).toEqual(exchanges.map((e) => (e.method === 'POST' ? 'CertificateCreate' : e.url.includes('/pending') ? 'CertificatePendingGet' : 'CertificateGet')).sort());
    const issuance = await db().query<{ data: { operationName: string; identity: { oid?: string }; properties: { objectName?: string; objectVersion?: string } } }>(
      `SELECT payload->'data' AS data FROM vault.outbox WHERE topic = 'keyledger.audit.records.v1' AND payload->'data'->>'operationName' = 'CertificateIssue' AND payload->'data'->'properties'->>'objectName' = $1`,
      [name],
    );
    expect(issuance.rows.map((r) => r.data.identity.oid)).toEqual(['system']);

    const before = await eventCount(`cert-%-${name.toLowerCase()}`);
    for (let i = 0; i < 3; i++) {
      expect((await pendingRaw(name)).json).toMatchObject({ status: 'completed' });
      await client.getCertificate(name);
      await client.getCertificateVersion(name, cert.properties.version!);
    }
    expect(await eventCount(`cert-%-${name.toLowerCase()}`)).toBe(before);
  });

  it('Unknown: GETs of the waiting operation append nothing; purge shreds the sealed key, which opened to the CSR\'s key before', async () => {
    const name = `purge-${suffix()}`;
    await client.beginCreateCertificate(name, UNKNOWN, FAST);
    const sealed = await sealedInLog(name);
    // Before: the sealed key opens, and it is the private key of the CSR.
    const pkcs8 = await openSealed(name, sealed);
    const spki = createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' })).export({ format: 'der', type: 'spki' });
    expect(Buffer.from(spki).equals(Buffer.from(csrPublicKey(new Uint8Array(Buffer.from(sealed.csr, 'base64')))))).toBe(true);
    pkcs8.fill(0);

    const before = await eventCount(`cert-%-${name.toLowerCase()}`);
    for (let i = 0; i < 3; i++) {
      expect((await pendingRaw(name)).json).toMatchObject({ status: 'inProgress' });
      await client.getCertificate(name);
    }
    expect(await eventCount(`cert-%-${name.toLowerCase()}`)).toBe(before);

    await (await client.beginDeleteCertificate(name, FAST)).pollUntilDone();
    // Soft delete keeps it (recoverable); purge shreds it.
    expect((await openSealed(name, sealed)).length).toBeGreaterThan(0);
    await client.purgeDeletedCertificate(name);
    await shredded(name, sealed);
    // The envelope is still in the immutable log, and nothing can open it any more.
    expect((await sealedInLog(name)).sealedKey).toBe(sealed.sealedKey);
  });

  it('cancel and delete of a pending operation shred its sealed key; issuance and merge shred it once the key is in the managed secret', async () => {
    const cancelled = `cancel-${suffix()}`;
    await client.beginCreateCertificate(cancelled, UNKNOWN, FAST);
    const c = await sealedInLog(cancelled);
    expect((await pendingRaw(cancelled, 'PATCH', { cancellation_requested: true })).json).toMatchObject({ status: 'cancelled', cancellation_requested: true });
    await shredded(cancelled, c);

    const deleted = `delpending-${suffix()}`;
    await client.beginCreateCertificate(deleted, UNKNOWN, FAST);
    const d = await sealedInLog(deleted);
    expect((await pendingRaw(deleted, 'DELETE')).status).toBe(200);
    await shredded(deleted, d);

    const merged = `merged-${suffix()}`;
    await client.beginCreateCertificate(merged, UNKNOWN, FAST);
    const m = await sealedInLog(merged);
    const ca = testKey('EC');
    const caDer = await buildCertificate({ subjectPublicKeyInfo: ca.spki, subject: 'CN=E2E Pending CA', validityInMonths: 12, ca: { pathLength: 0 }, keyUsage: ['keyCertSign'] }, ca.signer);
    const leaf = await buildCertificate({ subjectPublicKeyInfo: csrPublicKey(new Uint8Array(Buffer.from(m.csr, 'base64'))), subject: 'CN=merge-later.e2e.internal', validityInMonths: 12, issuerCertificate: caDer }, ca.signer);
    await client.mergeCertificate(merged, [leaf, caDer]);
    await shredded(merged, m);
    expect(parsePkcs12(new Uint8Array(Buffer.from((await secretClient(url).getSecret(merged)).value!, 'base64'))).privateKey).not.toBeNull();

    const self = `selfshred-${suffix()}`;
    await (await client.beginCreateCertificate(self, SELF, FAST)).pollUntilDone();
    // The background issuance shreds right after recording CertificateIssued, which the poller may see first.
    const selfSealed = await sealedInLog(self);
    const gone = await eventually(async () => {
      try {
        await openSealed(self, selfSealed);
        return undefined;
      } catch (err) {
        return (err as { code?: string }).code;
      }
    });
    expect(gone).toBe('DataKeyNotFound');
    await shredded(self, selfSealed);
    expect(parsePkcs12(new Uint8Array(Buffer.from((await secretClient(url).getSecret(self)).value!, 'base64'))).privateKey).not.toBeNull();
  });

  it('preserveCertOrder: the managed secret keeps an imported or merged chain as given; without it the leaf comes first; a non-boolean is refused', async () => {
    const root = testKey('EC');
    const rootDer = await buildCertificate({ subjectPublicKeyInfo: root.spki, subject: 'CN=E2E Order Root', validityInMonths: 12, ca: { pathLength: 1 }, keyUsage: ['keyCertSign'] }, root.signer);
    const k = testKey('RSA');
    const leafDer = await buildCertificate({ subjectPublicKeyInfo: k.spki, subject: 'CN=order.e2e', validityInMonths: 12, issuerCertificate: rootDer }, root.signer);
    const given = [rootDer, leafDer];
    const pemPolicy = { contentType: 'application/x-pem-file' as const, issuerName: 'Unknown', subject: 'CN=order.e2e' };

    const kept = `order-kept-${suffix()}`;
    const imported = await client.importCertificate(kept, Buffer.from(toPem({ privateKey: k.pkcs8, chain: given })), { policy: pemPolicy, preserveCertificateOrder: true });
    expect(imported.properties.preserveCertificateOrder).toBe(true);
    expect(x5t(new Uint8Array(imported.cer!))).toBe(x5t(leafDer));
    expect(parsePem((await secretClient(url).getSecret(kept)).value!).given!.map(x5t)).toEqual(given.map(x5t));
    expect((await client.getCertificate(kept)).properties.preserveCertificateOrder).toBe(true);

    const reordered = `order-default-${suffix()}`;
    const plain = await client.importCertificate(reordered, Buffer.from(toPem({ privateKey: k.pkcs8, chain: given })), { policy: pemPolicy });
    expect(plain.properties.preserveCertificateOrder).toBeUndefined();
    expect(parsePem((await secretClient(url).getSecret(reordered)).value!).given!.map(x5t)).toEqual([x5t(leafDer), x5t(rootDer)]);

    // PKCS#12 as given: the key is paired with its certificate by public key (the leaf is not the first bag).
    const p12 = `order-p12-${suffix()}`;
    await client.importCertificate(p12, toPkcs12({ privateKey: k.pkcs8, chain: given }), { preserveCertificateOrder: true });
    const p12Back = parsePkcs12(new Uint8Array(Buffer.from((await secretClient(url).getSecret(p12)).value!, 'base64')));
    expect(p12Back.given!.map(x5t)).toEqual(given.map(x5t));
    expect(p12Back.chain.map(x5t)).toEqual([x5t(leafDer), x5t(rootDer)]);
    expect(p12Back.privateKey).not.toBeNull();

    // Merge with preserveCertOrder on the create (raw REST: the SDK's create does not send it): the chain CA-first is kept.
    const mergedName = `order-merge-${suffix()}`;
    const token = await accessToken(VAULT_RESOURCE);
    const created = await raw(`${url}/certificates/${mergedName}/create?api-version=2025-07-01`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ policy: { issuer: { name: 'Unknown' }, x509_props: { subject: 'CN=order-merge.e2e' }, secret_props: { contentType: 'application/x-pem-file' } }, preserveCertOrder: true }),
    });
    expect(created.status).toBe(202);
    expect(created.json).toMatchObject({ status: 'inProgress', preserveCertOrder: true });
    const csr = (created.json as { csr: string }).csr;
    const mergedLeaf = await buildCertificate({ subjectPublicKeyInfo: csrPublicKey(new Uint8Array(Buffer.from(csr, 'base64'))), subject: 'CN=order-merge.e2e', validityInMonths: 12, issuerCertificate: rootDer }, root.signer);
    const merged = await client.mergeCertificate(mergedName, [rootDer, mergedLeaf]);
    expect(x5t(new Uint8Array(merged.cer!))).toBe(x5t(mergedLeaf));
    expect(parsePem((await secretClient(url).getSecret(mergedName)).value!).given!.map(x5t)).toEqual([x5t(rootDer), x5t(mergedLeaf)]);
    // The flag is answered from 2025-07-01 on, not to older api-versions.
    const old = await raw(`${url}/certificates/${mergedName}?api-version=7.5`, { headers: { authorization: `Bearer ${token}` } });
    expect(old.json).not.toHaveProperty('preserveCertOrder');

    const before = await eventCount('%-order-bad-%');
    const bad = await raw(`${url}/certificates/order-bad-${suffix()}/create?api-version=2025-07-01`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ policy: { issuer: { name: 'Self' }, x509_props: { subject: 'CN=x' } }, preserveCertOrder: 'yes' }),
    });
    expect([bad.status, (bad.json as { error: { code: string } }).error.code]).toEqual([400, 'BadParameter']);
    expect(await eventCount('%-order-bad-%')).toBe(before);
    expect((await failure(client.getCertificate(`order-bad-none-${suffix()}`))).statusCode).toBe(404);
  });
});
