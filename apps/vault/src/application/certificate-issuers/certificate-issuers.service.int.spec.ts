import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { open } from '#libs/crypto-core';
import { type EventStore } from '#libs/eventstore';
import { OperationAudit } from '#libs/gate';
import { DomainError } from '#libs/kernel';
import { REPO_ROOT } from '#libs/platform';
import { testDb, type TestDb } from '#libs/testing';
import { CertificateIssuersRepository } from '../../adapters/persistence/certificate-issuers.repository.js';
import { SecretsRepository } from '../../adapters/persistence/secrets.repository.js';
import { VaultsRepository, type VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import { VaultErrorCode } from '../../domain/vault.errors.js';
import { vaultEventRegistry } from '../../vault.module.js';
import { systemCaller, type Caller } from '../access/caller.js';
import { DataKeyCache } from '../keyring/data-key.cache.js';
import { InMemoryKeyring } from '../keyring/in-memory.keyring.fixture.js';
import { SecretsService } from '../secrets/secrets.service.js';
import { VaultsService } from '../vaults/vaults.service.js';
import { CertificateIssuersService } from './certificate-issuers.service.js';

const TENANT = '4eeb1e29-c100-4249-9b4c-7c16d469679f';

async function failure(p: Promise<unknown>): Promise<DomainError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof DomainError) return err;
    throw err;
  }
  throw new Error('expected the call to fail');
}

/**
 * Certificate issuers and contacts on real PostgreSQL (a schema of its own), with an
 * in-memory keyring standing in for the crypto service.
 */
describe('CertificateIssuersService on PostgreSQL', () => {
  let t: TestDb;
  let store: EventStore;
  let keyring: InMemoryKeyring;
  let repo: CertificateIssuersRepository;
  let issuers: CertificateIssuersService;
  let vault: VaultRecord;
  const caller: Caller = systemCaller(TENANT, 'test');

  beforeAll(async () => {
    t = await testDb('t_issuers');
    await t.db.migrate(join(REPO_ROOT, 'apps', 'vault', 'migrations'));
    store = t.eventStore(vaultEventRegistry(), { source: 'vault' });
    keyring = new InMemoryKeyring();
    const secrets = new SecretsService(store, new SecretsRepository(t.db), keyring, new DataKeyCache({ maxEntries: 10, ttlMs: 60_000 }));
    const vaults = new VaultsService(store, new VaultsRepository(t.db), secrets, 0);
    vault = await vaults.create({ name: 'int-issuers', tenantId: TENANT, retentionDays: 7, purgeProtection: false, tags: {} }, caller);
    repo = new CertificateIssuersRepository(t.db);
    issuers = new CertificateIssuersService(store, repo, keyring);
  });

  afterAll(async () => {
    keyring.close();
    await t.drop();
  });

  it('stores the password only sealed under a data key of its own, bound to the issuer, and never answers it', async () => {
    const password = `pw-${randomUUID()}`;
    const set = await issuers.set(vault, 'Corp-CA', { provider: 'DigiCert', accountId: 'acct', password, organization: { id: 'org-1', adminDetails: [{ first_name: 'Ada', email: 'ada@example.com' }] } }, caller);
    expect(set).toMatchObject({ name: 'Corp-CA', provider: 'DigiCert', accountId: 'acct', enabled: true });
    expect(JSON.stringify(set)).not.toContain(password);

    const row = (await repo.find(vault.vaultId, 'corp-ca'))!;
    expect(row.password).not.toBeNull();
    const dump = JSON.stringify(await t.db.query(`SELECT * FROM ${t.schema}.certificate_issuers`)) + JSON.stringify(await t.db.query(`SELECT payload FROM ${t.schema}.outbox`));
    expect(dump).not.toContain(password);
    const key = await keyring.decryptDataKey({ tenant: TENANT, vault: vault.nameKey, collection: 'certificates', name: 'keyledger.issuers', version: row.password!.keyRef }, row.password!.keyId, { tenantId: TENANT, objectId: 'system', appId: '', callerIp: '', correlationId: '', requestUri: '', operationName: '' });
    const identity = { tenant: TENANT, vault: vault.nameKey, collection: 'certificates', name: 'issuers/corp-ca', version: row.password!.keyRef };
    expect(open(key, Buffer.from(row.password!.ciphertext, 'base64'), identity).toString('utf8')).toBe(password);
    // Bound to the issuer: the same envelope does not open as another issuer's.
    expect(() => open(key, Buffer.from(row.password!.ciphertext, 'base64'), { ...identity, name: 'issuers/other' })).toThrow();
  });

  it('PATCH changes what it carries; a new password replaces the old one and shreds its key', async () => {
    const before = (await repo.find(vault.vaultId, 'corp-ca'))!;
    const updated = await issuers.update(vault, 'CORP-CA', { accountId: 'acct-2' }, caller);
    expect(updated).toMatchObject({ name: 'Corp-CA', provider: 'DigiCert', accountId: 'acct-2', organization: { id: 'org-1' } });
    expect((await repo.find(vault.vaultId, 'corp-ca'))!.password).toEqual(before.password);

    await issuers.update(vault, 'corp-ca', { password: 'another-password' }, caller);
    const after = (await repo.find(vault.vaultId, 'corp-ca'))!;
    expect(after.password!.keyId).not.toBe(before.password!.keyId);
    expect(keyring.destroyed).toContain(before.password!.keyId);
    expect((await failure(issuers.update(vault, 'nope', { accountId: 'x' }, caller))).code).toBe(VaultErrorCode.CertificateIssuerNotFound);
  });

  it('resolves built-in issuers, configured ones by provider, and unknown names as not found', async () => {
    await issuers.set(vault, 'globalsign-1', { provider: 'GlobalSign' }, caller);
    await issuers.set(vault, 'in-house', { provider: 'Keyledger' }, caller);
    expect(await issuers.resolve(vault.vaultId, 'Self')).toEqual({ kind: 'self' });
    expect(await issuers.resolve(vault.vaultId, 'unknown')).toEqual({ kind: 'unknown' });
    expect(await issuers.resolve(vault.vaultId, 'Keyledger')).toEqual({ kind: 'keyledger' });
    expect(await issuers.resolve(vault.vaultId, 'corp-ca')).toEqual({ kind: 'unreachable', provider: 'DigiCert' });
    expect(await issuers.resolve(vault.vaultId, 'GlobalSign-1')).toEqual({ kind: 'unreachable', provider: 'GlobalSign' });
    expect(await issuers.resolve(vault.vaultId, 'in-house')).toEqual({ kind: 'keyledger' });
    expect(await issuers.resolve(vault.vaultId, 'no-such-issuer')).toEqual({ kind: 'not-found' });
    expect((await failure(issuers.set(vault, 'keyledger', { provider: 'Test' }, caller))).code).toBe(VaultErrorCode.BadParameter);
  });

  it('lists in pages, deletes (shredding the password key), then answers not found', async () => {
    const first = await issuers.list(vault, undefined, 2);
    expect(first.items.map((i) => i.name)).toEqual(['Corp-CA', 'globalsign-1']);
    const second = await issuers.list(vault, first.next!, 2);
    expect(second.items.map((i) => i.name)).toEqual(['in-house']);
    expect(second.next).toBeNull();

    const keyId = (await repo.find(vault.vaultId, 'corp-ca'))!.password!.keyId;
    const deleted = await issuers.delete(vault, 'corp-ca', caller);
    expect(deleted.name).toBe('Corp-CA');
    expect(keyring.destroyed).toContain(keyId);
    expect((await failure(issuers.get(vault, 'corp-ca'))).code).toBe(VaultErrorCode.CertificateIssuerNotFound);
    expect((await failure(issuers.delete(vault, 'corp-ca', caller))).code).toBe(VaultErrorCode.CertificateIssuerNotFound);
    expect(await issuers.resolve(vault.vaultId, 'corp-ca')).toEqual({ kind: 'not-found' });
  });

  it('contacts: set, get, delete, then not found; each write commits its audit record with it', async () => {
    expect((await failure(issuers.getContacts(vault))).code).toBe(VaultErrorCode.ContactsNotFound);
    const audit = new OperationAudit('vault', { requestId: randomUUID(), correlationId: 'corr-c', callerIp: '127.0.0.1', method: 'PUT', requestUri: '/certificates/contacts', userAgent: 'test' }, performance.now(), () => TENANT);
    audit.operationName = 'CertificateContactsSet';
    const contacts = [{ email: 'a@example.com', name: 'a', phone: '1' }, { email: 'b@example.com' }];
    expect(await issuers.setContacts(vault, contacts, { ...caller, audit })).toEqual(contacts);
    expect(audit.written).toBe(true);
    const rows = await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.schema}.outbox WHERE topic = 'keyledger.audit.records.v1' AND payload->'data'->>'id' = $1`, [audit.requestId]);
    expect(rows[0]!.n).toBe('1');
    expect(await issuers.getContacts(vault)).toEqual(contacts);
    expect(await issuers.deleteContacts(vault, caller)).toEqual(contacts);
    expect((await failure(issuers.getContacts(vault))).code).toBe(VaultErrorCode.ContactsNotFound);
    expect((await failure(issuers.deleteContacts(vault, caller))).code).toBe(VaultErrorCode.ContactsNotFound);
  });
});
