import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { CertificateClient } from '@azure/keyvault-certificates';
import {
  accessToken,
  auditRecords,
  CA,
  closeDb,
  createVault,
  credential,
  db,
  dropVault,
  failure,
  HOME,
  installLocalhostDns,
  raw,
  RecordingHttpClient,
  suffix,
  VAULT_RESOURCE,
  vaultUrl,
} from './vault-e2e.support.js';

jest.setTimeout(60_000);

/**
 * Certificate issuers and contacts through the official JS CertificateClient: Azure's shapes,
 * the password never answered nor stored, logged or audited in clear, Azure's errors, and one
 * audit record per request with Azure's operation names.
 */
describe('certificate issuers and contacts (CertificateClient 4.10)', () => {
  let vault: string;
  let recorder: RecordingHttpClient;
  let client: CertificateClient;
  const password = `issuer-pw-${suffix()}`;

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-issuers');
    recorder = new RecordingHttpClient();
    client = new CertificateClient(vaultUrl(vault), credential(), { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 }, httpClient: recorder });
  });

  afterAll(async () => {
    await dropVault(vault);
    await closeDb();
  });

  it('creates, reads, updates, lists and deletes an issuer; the password is never returned', async () => {
    const created = await client.createIssuer('corp-digicert', 'DigiCert', {
      accountId: 'keyvaultuser',
      password,
      organizationId: 'org-42',
      administratorContacts: [{ firstName: 'John', lastName: 'Doe', email: 'admin@example.com', phone: '4255555555' }],
    });
    expect(created).toMatchObject({ provider: 'DigiCert', accountId: 'keyvaultuser', enabled: true, organizationId: 'org-42' });
    expect(created.id).toBe(`${vaultUrl(vault)}/certificates/issuers/corp-digicert`);
    expect(created.password).toBeUndefined();
    expect(created.administratorContacts).toEqual([{ firstName: 'John', lastName: 'Doe', email: 'admin@example.com', phone: '4255555555' }]);
    expect(created.createdOn).toBeInstanceOf(Date);

    const got = await client.getIssuer('corp-digicert');
    expect(got.password).toBeUndefined();
    expect(got.accountId).toBe('keyvaultuser');

    const updated = await client.updateIssuer('corp-digicert', { accountId: 'keyvaultuser2' });
    expect(updated).toMatchObject({ provider: 'DigiCert', accountId: 'keyvaultuser2', organizationId: 'org-42' });
    expect(updated.password).toBeUndefined();

    // The wire shape, as Azure answers it: credentials without pwd, org_details, attributes.
    const token = await accessToken(VAULT_RESOURCE);
    const wire = await raw(`${vaultUrl(vault)}/certificates/issuers/corp-digicert?api-version=7.5`, { headers: { authorization: `Bearer ${token}` } });
    expect(wire.status).toBe(200);
    expect(wire.json).toMatchObject({ provider: 'DigiCert', credentials: { account_id: 'keyvaultuser2' }, org_details: { id: 'org-42', zip: 0, admin_details: [{ first_name: 'John', last_name: 'Doe', email: 'admin@example.com', phone: '4255555555' }] }, attributes: { enabled: true } });
    expect(wire.text).not.toContain(password);
    expect(wire.text).not.toContain('pwd');

    await client.createIssuer('globalsign-1', 'GlobalSign');
    await client.createIssuer('test-1', 'Test');
    const names: string[] = [];
    for await (const p of client.listPropertiesOfIssuers()) {
      expect(p.id).toMatch(new RegExp(`^${vaultUrl(vault)}/certificates/issuers/`));
      names.push(`${p.id!.split('/').pop()}:${p.provider}`);
    }
    expect(names).toEqual(['corp-digicert:DigiCert', 'globalsign-1:GlobalSign', 'test-1:Test']);
    // Paging: maxresults=2, then the nextLink verbatim.
    const first = await raw(`${vaultUrl(vault)}/certificates/issuers?api-version=7.5&maxresults=2`, { headers: { authorization: `Bearer ${token}` } });
    const page1 = first.json as { value: { id: string; provider: string }[]; nextLink: string };
    expect(page1.value).toEqual([
      { id: `${vaultUrl(vault)}/certificates/issuers/corp-digicert`, provider: 'DigiCert' },
      { id: `${vaultUrl(vault)}/certificates/issuers/globalsign-1`, provider: 'GlobalSign' },
    ]);
    const page2 = (await raw(page1.nextLink, { headers: { authorization: `Bearer ${token}` } })).json as { value: { id: string }[]; nextLink: string | null };
    expect(page2.value.map((i) => i.id.split('/').pop())).toEqual(['test-1']);
    expect(page2.nextLink).toBeNull();

    const deleted = await client.deleteIssuer('corp-digicert');
    expect(deleted).toMatchObject({ provider: 'DigiCert', accountId: 'keyvaultuser2' });
    const gone = await failure(client.getIssuer('corp-digicert'));
    expect([gone.statusCode, gone.code, gone.message]).toEqual([404, 'CertificateIssuerNotFound', 'Issuer not found']);
    const patchGone = await failure(client.updateIssuer('corp-digicert', { accountId: 'x' }));
    expect([patchGone.statusCode, patchGone.code]).toEqual([404, 'CertificateIssuerNotFound']);
  });

  it('refuses bad input with Azure envelopes and writes nothing', async () => {
    const token = await accessToken(VAULT_RESOURCE);
    const put = (name: string, body: unknown) =>
      raw(`${vaultUrl(vault)}/certificates/issuers/${name}?api-version=7.5`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify(body) });
    for (const [name, body] of [
      ['no-provider', { credentials: { account_id: 'a' } }],
      ['bad-creds', { provider: 'Test', credentials: 'x' }],
      ['bad-admins', { provider: 'Test', org_details: { admin_details: {} } }],
      ['Keyledger', { provider: 'Test' }],
      ['bad_name', { provider: 'Test' }],
    ] as const) {
      const r = await put(name, body);
      expect([name, r.status, (r.json as { error: { code: string } }).error.code]).toEqual([name, 400, 'BadParameter']);
    }
    const rows = await db().query(`SELECT 1 FROM vault.certificate_issuers i JOIN vault.vaults v ON v.vault_id = i.vault_id WHERE v.name_key = $1 AND i.name_key IN ('no-provider', 'bad-creds', 'bad-admins', 'keyledger')`, [vault]);
    expect(rows.rowCount).toBe(0);
    const contacts = await raw(`${vaultUrl(vault)}/certificates/contacts?api-version=7.5`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ contacts: [{ name: 'no email' }] }) });
    expect([contacts.status, (contacts.json as { error: { code: string } }).error.code]).toEqual([400, 'BadParameter']);
  });

  it('sets, gets and deletes the contacts, then ContactsNotFound', async () => {
    const contacts = [
      { email: 'a@example.com', name: 'a', phone: '111111111111' },
      { email: 'b@example.com', name: 'b', phone: '222222222222' },
    ];
    expect(await client.setContacts(contacts)).toEqual(contacts);
    expect(await client.getContacts()).toEqual(contacts);
    // The SDK reads the DELETE answer's `contactList` (the generated model's name) from the wire
    // body, which Azure spells `contacts`: it returns [] against Azure too. The wire body is checked raw below.
    await client.deleteContacts();
    const gone = await failure(client.getContacts());
    expect([gone.statusCode, gone.code, gone.message]).toEqual([404, 'ContactsNotFound', 'Contacts not found']);

    await client.setContacts(contacts);
    const token = await accessToken(VAULT_RESOURCE);
    const del = await raw(`${vaultUrl(vault)}/certificates/contacts?api-version=7.5`, { method: 'DELETE', headers: { authorization: `Bearer ${token}` } });
    expect([del.status, del.json]).toEqual([200, { id: `${vaultUrl(vault)}/certificates/contacts`, contacts }]);
  });

  it('leaves one audit record per request with Azure operation names, and the password nowhere in clear', async () => {
    recorder.take();
    await client.createIssuer('audited', 'Test', { accountId: 'a', password });
    await client.getIssuer('audited');
    await client.updateIssuer('audited', { password: `${password}-2` });
    await client.deleteIssuer('audited');
    await failure(client.getIssuer('audited'));
    const exchanges = recorder.take();
    const records = await auditRecords(exchanges.map((e) => e.requestId));
    expect(exchanges.map((e) => records.filter((r) => r.id === e.requestId).map((r) => `${r.operationName}:${r.resultSignature}`))).toEqual([
      ['CertificateIssuerSet:200'],
      ['CertificateIssuerGet:200'],
      ['CertificateIssuerUpdate:200'],
      ['CertificateIssuerDelete:200'],
      ['CertificateIssuerGet:404'],
    ]);
    expect(records.every((r) => r.properties.objectName === 'audited')).toBe(true);

    const outbox = await db().query<{ n: string }>(`SELECT count(*)::text AS n FROM vault.outbox WHERE payload::text LIKE $1`, [`%${password}%`]);
    expect(outbox.rows[0]!.n).toBe('0');
    const stored = await db().query<{ n: string }>(`SELECT count(*)::text AS n FROM vault.certificate_issuers WHERE row_to_json(certificate_issuers)::text LIKE $1`, [`%${password}%`]);
    expect(stored.rows[0]!.n).toBe('0');
    const log = readFileSync(join(HOME, 'logs', 'vault.log'), 'utf8');
    expect(log).not.toContain(password);
  });
});
