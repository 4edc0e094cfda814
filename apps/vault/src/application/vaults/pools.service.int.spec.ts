import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { EventStore } from '#libs/eventstore';
import { REPO_ROOT } from '#libs/platform';
import { testDb, type TestDb } from '#libs/testing';
import pino from 'pino';
import { ReadModelRebuilder } from '../../adapters/persistence/read-model.rebuilder.js';
import { SecretsRepository } from '../../adapters/persistence/secrets.repository.js';
import { cryptoVaultOf, scopeOf, VaultsRepository } from '../../adapters/persistence/vaults.repository.js';
import { VaultErrorCode } from '../../domain/vault.errors.js';
import { vaultEventRegistry } from '../../vault.module.js';
import { systemCaller, type Caller } from '../access/caller.js';
import { DataKeyCache } from '../keyring/data-key.cache.js';
import { InMemoryKeyring } from '../keyring/in-memory.keyring.fixture.js';
import { AutoPurgeScheduler } from '../purge/auto-purge.scheduler.js';
import { SecretsService } from '../secrets/secrets.service.js';
import { VaultsService } from './vaults.service.js';

const TENANT = '6a1f0c2e-7d4b-4e59-9c3a-2b8d5e6f7a10';
const NEW = { tenantId: TENANT, retentionDays: 7, purgeProtection: false, tags: {} };

/** Managed HSM pools beside vaults on real PostgreSQL (a schema of its own): a second kind, a namespace of its own. */
describe('Managed HSM pools on PostgreSQL', () => {
  let t: TestDb;
  let store: EventStore;
  let keyring: InMemoryKeyring;
  let vaultsRepo: VaultsRepository;
  let poolsRepo: VaultsRepository;
  let secretsRepo: SecretsRepository;
  let secrets: SecretsService;
  let vaults: VaultsService;
  let pools: VaultsService;
  const caller: Caller = systemCaller(TENANT, 'test');

  beforeAll(async () => {
    t = await testDb('t_pools');
    await t.db.migrate(join(REPO_ROOT, 'apps', 'vault', 'migrations'));
    store = t.eventStore(vaultEventRegistry(), { source: 'vault' });
    keyring = new InMemoryKeyring();
    vaultsRepo = new VaultsRepository(t.db);
    poolsRepo = new VaultsRepository(t.db, 'managedHsm');
    secretsRepo = new SecretsRepository(t.db);
    secrets = new SecretsService(store, secretsRepo, keyring, new DataKeyCache({ maxEntries: 10, ttlMs: 60_000 }));
    vaults = new VaultsService(store, vaultsRepo, secrets, 0);
    pools = new VaultsService(store, poolsRepo, secrets, 0);
  });

  afterAll(async () => {
    keyring.close();
    await t.drop();
  });

  it('a pool and a vault may have the same name: separate streams, read models, scopes and crypto containers', async () => {
    const vault = await vaults.create({ name: 'shared', ...NEW }, caller);
    const pool = await pools.create({ name: 'Shared', ...NEW }, caller);
    expect([vault.kind, pool.kind]).toEqual(['vault', 'managedHsm']);
    expect(pool.vaultId).not.toBe(vault.vaultId);
    expect([scopeOf(vault), scopeOf(pool)]).toEqual(['/vaults/shared', '/managedHSMs/shared']);
    expect([cryptoVaultOf(vault), cryptoVaultOf(pool)]).toEqual(['shared', 'shared.managedhsm']);
    expect((await pools.resolve('SHARED'))?.kind).toBe('managedHsm');
    expect((await vaults.resolve('shared'))?.kind).toBe('vault');
    const created = await t.db.query<{ stream_id: string; data: { kind?: string } }>(`SELECT stream_id, data FROM ${t.schema}.events WHERE type = 'VaultCreated' ORDER BY position`);
    expect(created.map((r) => [r.stream_id, r.data.kind])).toEqual([
      ['vault-shared', undefined],
      ['managedhsm-shared', 'managedHsm'],
    ]);
    await expect(pools.create({ name: 'shared', ...NEW }, caller)).rejects.toMatchObject({ code: VaultErrorCode.VaultAlreadyExists });
    expect((await vaults.list()).map((v) => v.name)).toEqual(['shared']);
    expect((await pools.list()).map((v) => v.name)).toEqual(['Shared']);
  });

  it('deletes, recovers and purges a pool without touching the vault of the same name', async () => {
    await pools.delete('shared', caller);
    expect(await pools.resolve('shared')).toBeUndefined();
    expect((await vaults.resolve('shared'))?.status).toBe('active');
    await pools.recover('shared', caller);
    await pools.delete('shared', caller);
    await pools.purge('shared', 'request', caller);
    expect(await poolsRepo.find('shared')).toBeUndefined();
    expect((await vaultsRepo.find('shared'))?.status).toBe('active');
  });

  it('the scheduler purges a deleted pool once its purge date has passed', async () => {
    const scheduler = new AutoPurgeScheduler(secretsRepo, vaultsRepo, secrets, vaults, pino({ level: 'silent' }), 60_000, { repo: poolsRepo, service: pools });
    await pools.create({ name: 'doomed', ...NEW }, caller);
    const gone = await pools.delete('doomed', caller);
    expect((await scheduler.runOnce(gone.scheduledPurgeDate! - 1)).pools).toBe(0);
    expect((await scheduler.runOnce(gone.scheduledPurgeDate!)).pools).toBe(1);
    expect(await poolsRepo.find('doomed')).toBeUndefined();
  });

  it('the pools read model is rebuilt from the event log to the same state', async () => {
    await pools.create({ name: 'kept', ...NEW }, caller);
    const snapshot = async () => ({
      vaults: await t.db.query(`SELECT * FROM ${t.schema}.vaults ORDER BY name_key`),
      pools: await t.db.query(`SELECT * FROM ${t.schema}.managed_hsms ORDER BY name_key`),
    });
    const before = await snapshot();
    expect(before.pools).toHaveLength(1);
    await new ReadModelRebuilder(t.db, vaultEventRegistry(), vaultsRepo, secretsRepo, undefined, poolsRepo).rebuild(3);
    expect(await snapshot()).toEqual(before);
  });
});
