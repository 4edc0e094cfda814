import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DomainError } from '#libs/kernel';
import { type EventStore } from '#libs/eventstore';
import { REPO_ROOT } from '#libs/platform';
import { testDb, type TestDb } from '#libs/testing';
import { SecretsRepository } from '../../adapters/persistence/secrets.repository.js';
import { VaultsRepository, type VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import { VaultErrorCode } from '../../domain/vault.errors.js';
import { vaultEventRegistry } from '../../vault.module.js';
import { systemCaller, type Caller } from '../access/caller.js';
import { OperationAudit } from '#libs/gate';
import { DataKeyCache } from '../keyring/data-key.cache.js';
import { InMemoryKeyring } from '../keyring/in-memory.keyring.fixture.js';
import { AutoPurgeScheduler } from '../purge/auto-purge.scheduler.js';
import { VaultsService } from '../vaults/vaults.service.js';
import { SecretsService } from './secrets.service.js';
import pino from 'pino';
import { waitFor } from '#libs/testing';
import { allOf, secretCacheKey, SecretChangeListener } from '../../adapters/persistence/secret-change.listener.js';
import { SecretVersionCache } from './secret-version.cache.js';
import { SecretStateCache } from './secret-state.cache.js';

const TENANT = '4eeb1e29-c100-4249-9b4c-7c16d469679f';
const input = (value: string) => ({ value, contentType: null, tags: null, attributes: {} });

/**
 * The secrets application service on real PostgreSQL (a schema of its own) with an
 * in-memory keyring standing in for the crypto service.
 */
describe('SecretsService on PostgreSQL', () => {
  let t: TestDb;
  let store: EventStore;
  let keyring: InMemoryKeyring;
  let secretsRepo: SecretsRepository;
  let vaultsRepo: VaultsRepository;
  let secrets: SecretsService;
  let vaults: VaultsService;
  let vault: VaultRecord;
  const caller: Caller = systemCaller(TENANT, 'test');

  const service = (cache = new DataKeyCache({ maxEntries: 100, ttlMs: 60_000 })) => new SecretsService(store, secretsRepo, keyring, cache);

  beforeAll(async () => {
    t = await testDb('t_vault');
    await t.db.migrate(join(REPO_ROOT, 'apps', 'vault', 'migrations'));
    store = t.eventStore(vaultEventRegistry(), { source: 'vault' });
    keyring = new InMemoryKeyring();
    secretsRepo = new SecretsRepository(t.db);
    vaultsRepo = new VaultsRepository(t.db);
    secrets = service();
    vaults = new VaultsService(store, vaultsRepo, secrets, 0);
    vault = await vaults.create({ name: 'int-a', tenantId: TENANT, retentionDays: 7, purgeProtection: false, tags: {} }, caller);
  });

  afterAll(async () => {
    keyring.close();
    await t.drop();
  });

  it('stores only ciphertext: events, outbox and read model never hold the value', async () => {
    const value = `plain-${Date.now()}-value`;
    const set = await secrets.set(vault, 'db-password', input(value), caller);
    expect((await secrets.get(vault, 'db-password', null, caller)).value).toBe(value);
    expect((await secrets.get(vault, 'DB-PASSWORD', set.version, caller)).value).toBe(value);
    for (const table of ['events', 'outbox', 'secrets', 'secret_versions']) {
      const rows = await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.schema}.${table} x WHERE strpos(x::text, $1) > 0`, [value]);
      expect([table, rows[0]!.n]).toEqual([table, '0']);
    }
    const published = await t.db.query<{ payload: { data: Record<string, unknown> } }>(`SELECT payload FROM ${t.schema}.outbox WHERE payload->>'type' = 'SecretVersionCreated'`);
    expect(published.length).toBeGreaterThan(0);
    for (const p of published) expect(p.payload.data.ciphertext).toBeUndefined();
  });

  it('with the secret cache, two vault processes never serve a changed, disabled or deleted secret for long: own changes at once, the other process on its notification', async () => {
    const caches = [new SecretVersionCache({ maxEntries: 100, ttlMs: 60_000 }), new SecretVersionCache({ maxEntries: 100, ttlMs: 60_000 })];
    const listeners = caches.map((c) => new SecretChangeListener(t.db, c, pino({ level: 'silent' })));
    await Promise.all(listeners.map((l) => l.start()));
    try {
      const [a, b] = caches.map((c) => new SecretsService(store, secretsRepo, keyring, new DataKeyCache({ maxEntries: 100, ttlMs: 60_000 }), c)) as [SecretsService, SecretsService];
      await a.set(vault, 'shared', input('one'), caller);
      expect((await a.get(vault, 'shared', null, caller)).value).toBe('one');
      expect((await b.get(vault, 'shared', null, caller)).value).toBe('one');
      // Both hold it now (once the SET's own notification, which may arrive after a first read, has been heard).
      await waitFor(async () => ((await a.get(vault, 'shared', null, caller)).value === 'one' && (await b.get(vault, 'shared', null, caller)).value === 'one' && caches[0]!.size + caches[1]!.size === 2) || undefined, { timeoutMs: 5_000, what: 'both caches to hold it' });
      // A writes: A answers the new value at once, B once the commit's notification arrives.
      await a.set(vault, 'shared', input('two'), caller);
      expect((await a.get(vault, 'shared', null, caller)).value).toBe('two');
      await waitFor(async () => (await b.get(vault, 'shared', null, caller)).value === 'two', { timeoutMs: 5_000, what: 'B to see the new version' });
      // B disables it: A refuses it.
      const latest = await b.get(vault, 'shared', null, caller);
      await b.update(vault, 'shared', latest.version, { attributes: { enabled: false } }, caller);
      await waitFor(async () => (await a.get(vault, 'shared', null, caller).then(() => false, (e: unknown) => e instanceof DomainError && e.code === VaultErrorCode.SecretDisabled)) || undefined, { timeoutMs: 5_000, what: 'A to refuse the disabled secret' });
      // A deletes it: B answers not found.
      await a.delete(vault, 'shared', caller);
      await waitFor(async () => (await b.get(vault, 'shared', null, caller).then(() => false, (e: unknown) => e instanceof DomainError && e.code === VaultErrorCode.SecretNotFound)) || undefined, { timeoutMs: 5_000, what: 'B to answer not found' });
      // Gone for good (the scheduler test below counts this vault's due purges).
      expect(await a.purge(vault, 'shared', 'request', caller)).toBe(true);
    } finally {
      await Promise.all(listeners.map((l) => l.stop()));
    }
  });

  it('a SET decides on the state this process committed last (no state read), and a change made elsewhere is a conflict decided again on fresh state: update, disable, delete, purge', async () => {
    /** Counts the state reads a SET makes. */
    class CountingRepo extends SecretsRepository {
      loads = 0;
      override loadState(...args: Parameters<SecretsRepository['loadState']>): ReturnType<SecretsRepository['loadState']> {
        this.loads++;
        return super.loadState(...args);
      }
    }
    const repoA = new CountingRepo(t.db);
    // A hears nothing of B (no listener): its cached state goes stale, and only the append's version check can tell.
    const statesA = new SecretStateCache({ maxEntries: 100, ttlMs: 60_000 });
    const a = new SecretsService(store, repoA, keyring, new DataKeyCache({ maxEntries: 100, ttlMs: 60_000 }), undefined, statesA);
    const b = service();
    const key = secretCacheKey(vault.vaultId, 'stateful');
    const versions = async (): Promise<number> => (await secrets.listVersions(vault, 'stateful', undefined, 25)).items.length;

    await a.set(vault, 'stateful', input('a1'), caller);
    expect(repoA.loads).toBe(1);
    await a.set(vault, 'stateful', input('a2'), caller);
    await a.set(vault, 'stateful', input('a3'), caller);
    expect(repoA.loads).toBe(1); // decided on the cached state
    expect(statesA.get(key)?.streamVersion).toBe(3);

    // B writes a version and disables it: A's cached state is stale; its SET conflicts, is decided again, and lands.
    const b1 = await b.set(vault, 'stateful', input('b1'), caller);
    await b.update(vault, 'stateful', b1.version, { attributes: { enabled: false } }, caller);
    const a4 = await a.set(vault, 'stateful', input('a4'), caller);
    expect(repoA.loads).toBe(2);
    expect(statesA.get(key)?.streamVersion).toBe(6);
    expect((await b.get(vault, 'stateful', null, caller)).version).toBe(a4.version);
    expect(await versions()).toBe(5);

    // B deletes it: A's stale "active" state never writes a version into a deleted secret.
    await b.delete(vault, 'stateful', caller);
    await expect(a.set(vault, 'stateful', input('a5'), caller)).rejects.toMatchObject({ code: VaultErrorCode.SecretIsDeletedButRecoverable });
    expect(statesA.get(key)).toBeUndefined();

    // B purges it (its data key destroyed): A starts the name over under a new key.
    await b.recover(vault, 'stateful', caller);
    await a.set(vault, 'stateful', input('a6'), caller);
    const oldKey = statesA.get(key)!.state.dataKey!.keyId;
    await b.delete(vault, 'stateful', caller);
    expect(await b.purge(vault, 'stateful', 'request', caller)).toBe(true);
    expect(keyring.has(oldKey)).toBe(false);
    await a.set(vault, 'stateful', input('a7'), caller);
    const newKey = statesA.get(key)!.state.dataKey!.keyId;
    expect(newKey).not.toBe(oldKey);
    expect((await b.get(vault, 'stateful', null, caller)).value).toBe('a7');
    expect(await versions()).toBe(1);

    // Its own changes other than SET drop its entry at once.
    await a.delete(vault, 'stateful', caller);
    expect(statesA.get(key)).toBeUndefined();
    expect(await a.purge(vault, 'stateful', 'request', caller)).toBe(true);
  });

  it('with listeners, a change committed by another process drops the cached state at once; this process’s own notifications keep it', async () => {
    const states = [new SecretStateCache({ maxEntries: 100, ttlMs: 60_000 }), new SecretStateCache({ maxEntries: 100, ttlMs: 60_000 })];
    const gets = [new SecretVersionCache({ maxEntries: 100, ttlMs: 60_000 }), new SecretVersionCache({ maxEntries: 100, ttlMs: 60_000 })];
    /** What each process's listener has handled (after its caches did). */
    const heard: string[][] = [[], []];
    const probe = (i: number) => ({ invalidate: (key: string, version?: number) => void heard[i]!.push(`${key}@${version}`), invalidateAll: () => undefined, setListening: () => undefined });
    const listeners = [0, 1].map((i) => new SecretChangeListener(t.db, allOf([gets[i]!, states[i]!, probe(i)]), pino({ level: 'silent' })));
    await Promise.all(listeners.map((l) => l.start()));
    try {
      const [a, b] = [0, 1].map((i) => new SecretsService(store, secretsRepo, keyring, new DataKeyCache({ maxEntries: 100, ttlMs: 60_000 }), gets[i], states[i])) as [SecretsService, SecretsService];
      const key = secretCacheKey(vault.vaultId, 'heard');
      await a.set(vault, 'heard', input('one'), caller);
      await a.set(vault, 'heard', input('two'), caller);
      await waitFor(async () => heard[0]!.includes(`${key}@2`) || undefined, { timeoutMs: 5_000, what: 'A to hear its own commit' });
      expect(states[0]!.get(key)?.streamVersion).toBe(2);
      await b.set(vault, 'heard', input('three'), caller);
      await waitFor(async () => heard[0]!.includes(`${key}@3`) || undefined, { timeoutMs: 5_000, what: 'A to hear B’s commit' });
      expect(states[0]!.get(key)).toBeUndefined();
      expect(states[1]!.get(key)?.streamVersion).toBe(3);
      expect((await a.set(vault, 'heard', input('four'), caller)).value).toBe('four');
      expect(states[0]!.get(key)?.streamVersion).toBe(4);
      await a.delete(vault, 'heard', caller);
      await waitFor(async () => heard[1]!.includes(`${key}@5`) || undefined, { timeoutMs: 5_000, what: 'B to hear A’s delete' });
      expect(states[1]!.get(key)).toBeUndefined();
      expect(await a.purge(vault, 'heard', 'request', caller)).toBe(true);
    } finally {
      await Promise.all(listeners.map((l) => l.stop()));
    }
  });

  it('a GET after a SET sees it at once, and a cached data key spares the crypto round trip', async () => {
    const fresh = service();
    await fresh.set(vault, 'cached', input('v1'), caller);
    const before = keyring.calls.decrypt;
    for (let i = 0; i < 5; i++) expect((await fresh.get(vault, 'cached', null, caller)).value).toBe('v1');
    expect(keyring.calls.decrypt).toBe(before);
    const cold = service();
    expect((await cold.get(vault, 'cached', null, caller)).value).toBe('v1');
    expect((await cold.get(vault, 'cached', null, caller)).value).toBe('v1');
    expect(keyring.calls.decrypt).toBe(before + 1);
  });

  it('concurrent first writes of one name all land, under one data key', async () => {
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => secrets.set(vault, 'raced', input(`v${i}`), caller)));
    expect(new Set(results.map((r) => r.version)).size).toBe(8);
    const keys = await t.db.query<{ key_id: string }>(`SELECT DISTINCT key_id FROM ${t.schema}.secret_versions WHERE name_key = 'raced'`);
    expect(keys).toHaveLength(1);
    const page = await secrets.listVersions(vault, 'raced', undefined, 25);
    expect(page.items).toHaveLength(8);
  });

  it('purge crypto-shreds the data keys; the name then starts over under a new key', async () => {
    await secrets.set(vault, 'shred-me', input('old'), caller);
    const oldKey = (await secretsRepo.loadState(vault.vaultId, 'shred-me')).state.dataKey!.keyId;
    await secrets.delete(vault, 'shred-me', caller);
    await expect(secrets.get(vault, 'shred-me', null, caller)).rejects.toMatchObject({ code: VaultErrorCode.SecretNotFound });
    expect(await secrets.purge(vault, 'shred-me', 'request', caller)).toBe(true);
    expect(keyring.has(oldKey)).toBe(false);
    expect(keyring.destroyed).toContain(oldKey);
    await secrets.set(vault, 'shred-me', input('new'), caller);
    const newKey = (await secretsRepo.loadState(vault.vaultId, 'shred-me')).state.dataKey!.keyId;
    expect(newKey).not.toBe(oldKey);
    expect((await secrets.listVersions(vault, 'shred-me', undefined, 25)).items).toHaveLength(1);
  });

  it('commits the request’s audit record with the mutation', async () => {
    const audit = new OperationAudit('vault', { requestId: '7b0e2a9c-0000-4000-8000-00000000a0d1', correlationId: 'corr-1', callerIp: '127.0.0.1', method: 'PUT', requestUri: '/secrets/audited', userAgent: 'test' }, performance.now(), () => TENANT);
    audit.operationName = 'SecretSet';
    await secrets.set(vault, 'audited', input('x'), { ...caller, audit });
    expect(audit.written).toBe(true);
    const rows = await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.schema}.outbox WHERE topic = 'keyledger.audit.records.v1' AND payload->'data'->>'id' = $1`, [audit.requestId]);
    expect(rows[0]!.n).toBe('1');
  });

  it('backup and restore: into another vault, refused into a taken name, malformed blobs are 400', async () => {
    await secrets.set(vault, 'portable', input('first'), caller);
    const second = await secrets.set(vault, 'portable', { ...input('second'), contentType: 'text/plain', tags: { k: 'v' } }, caller);
    const blob = await secrets.backup(vault, 'portable', caller);
    expect(blob.includes(Buffer.from('second'))).toBe(false);
    await expect(secrets.restore(vault, blob, caller)).rejects.toMatchObject({ code: VaultErrorCode.SecretRestoreConflict });
    const other = await vaults.create({ name: 'int-b', tenantId: TENANT, retentionDays: 7, purgeProtection: false, tags: {} }, caller);
    const restored = await secrets.restore(other, blob, caller);
    expect(restored.version).toBe(second.version);
    expect((await secrets.get(other, 'portable', null, caller)).value).toBe('second');
    expect((await secrets.get(other, 'portable', null, caller)).tags).toEqual({ k: 'v' });
    expect((await secrets.listVersions(other, 'portable', undefined, 25)).items).toHaveLength(2);
    const tampered = Buffer.from(blob);
    tampered[tampered.length - 1]! ^= 1;
    await expect(secrets.restore(other, tampered, caller)).rejects.toMatchObject({ code: VaultErrorCode.MalformedBackup });
    await expect(secrets.restore(other, Buffer.from('nonsense'), caller)).rejects.toBeInstanceOf(DomainError);
  });

  it('the scheduler purges deleted secrets and vaults once their purge date has passed, not before', async () => {
    const scheduler = new AutoPurgeScheduler(secretsRepo, vaultsRepo, secrets, vaults, pino({ level: 'silent' }), 60_000);
    await secrets.set(vault, 'expiring', input('x'), caller);
    const deleted = await secrets.delete(vault, 'expiring', caller);
    expect(deleted.scheduledPurgeDate! - deleted.deletedDate!).toBe(7 * 86_400);
    expect((await scheduler.runOnce(deleted.scheduledPurgeDate! - 1)).secrets).toBe(0);
    expect((await secrets.getDeleted(vault, 'expiring')).name).toBe('expiring');
    expect((await scheduler.runOnce(deleted.scheduledPurgeDate!)).secrets).toBeGreaterThanOrEqual(1);
    await expect(secrets.getDeleted(vault, 'expiring')).rejects.toMatchObject({ code: VaultErrorCode.DeletedSecretNotFound });

    const doomed = await vaults.create({ name: 'int-doomed', tenantId: TENANT, retentionDays: 7, purgeProtection: true, tags: {} }, caller);
    await secrets.set(doomed, 'inside', input('x'), caller);
    const key = (await secretsRepo.loadState(doomed.vaultId, 'inside')).state.dataKey!.keyId;
    const gone = await vaults.delete('int-doomed', caller);
    await expect(vaults.purge('int-doomed', 'request', caller)).rejects.toMatchObject({ code: VaultErrorCode.PurgeProtected });
    expect((await scheduler.runOnce(gone.scheduledPurgeDate!)).vaults).toBe(1);
    expect(keyring.has(key)).toBe(false);
    expect(await vaultsRepo.find('int-doomed')).toBeUndefined();
    expect(await secretsRepo.nameKeysOfVault(doomed.vaultId)).toEqual([]);
  });

});
