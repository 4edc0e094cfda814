import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { ManagedHsmKeyDataActions } from '#libs/auth';
import type { EventStore } from '#libs/eventstore';
import { REPO_ROOT } from '#libs/platform';
import { testDb, type TestDb } from '#libs/testing';
import pino from 'pino';
import { SecretsRepository } from '../../adapters/persistence/secrets.repository.js';
import { VaultsRepository, type VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import { VaultErrorCode } from '../../domain/vault.errors.js';
import { isBuiltInRoleId } from '#libs/auth';
import { vaultEventRegistry } from '../../vault.module.js';
import { AccessControl } from '../access/access-control.js';
import { systemCaller } from '../access/caller.js';
import { DataKeyCache } from '../keyring/data-key.cache.js';
import { InMemoryKeyring } from '../keyring/in-memory.keyring.fixture.js';
import { SecretsService } from '../secrets/secrets.service.js';
import { VaultsService } from '../vaults/vaults.service.js';
import { PoolAdministrationService } from './pool-administration.service.js';

const TENANT = '6a1f0c2e-7d4b-4e59-9c3a-2b8d5e6f7a10';
const APP = '0b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e01';
const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';
const A1 = '11111111-1111-4111-8111-111111111111';

/**
 * Two vault instances on one PostgreSQL schema: the instance that takes a pool's RBAC change
 * enforces it at once; the other folds it on its next refresh (no timer here: `refresh()` is
 * called, as the interval would). A purged pool drops out of every instance's model.
 */
describe('pool administration across vault instances (PostgreSQL)', () => {
  let t: TestDb;
  let store: EventStore;
  let keyring: InMemoryKeyring;
  let pools: VaultsService;
  let pool: VaultRecord;
  const caller = systemCaller(TENANT, 'test');
  const instance = (): { access: AccessControl; admin: PoolAdministrationService } => {
    const access = new AccessControl();
    return { access, admin: new PoolAdministrationService(store, t.db, access, pino({ level: 'silent' })) };
  };
  const sign = (access: AccessControl): boolean => access.check(APP, ManagedHsmKeyDataActions.sign, `/managedHSMs/${pool.nameKey}/keys/k1`).allowed;

  beforeAll(async () => {
    t = await testDb('t_pooladmin');
    await t.db.migrate(join(REPO_ROOT, 'apps', 'vault', 'migrations'));
    store = t.eventStore(vaultEventRegistry(), { source: 'vault' });
    keyring = new InMemoryKeyring();
    const secrets = new SecretsService(store, new SecretsRepository(t.db), keyring, new DataKeyCache({ maxEntries: 10, ttlMs: 60_000 }));
    pools = new VaultsService(store, new VaultsRepository(t.db, 'managedHsm'), secrets, 0);
    pool = await pools.create({ name: 'adminpool', tenantId: TENANT, retentionDays: 7, purgeProtection: false, tags: {} }, caller);
  });

  afterAll(async () => {
    keyring.close();
    await t.drop();
  });

  it('is enforced by the writing instance at once and by another after its refresh; a refused command writes nothing', async () => {
    const a = instance();
    const b = instance();
    await Promise.all([a.admin.refresh(), b.admin.refresh()]);
    expect([a.admin.ready, b.admin.ready]).toEqual([true, true]);

    await a.admin.createAssignment(pool, { assignmentId: A1, principalId: APP, roleDefinitionId: CRYPTO_USER, scope: '/keys', builtInRole: true }, caller);
    expect([sign(a.access), sign(b.access)]).toEqual([true, false]);
    await b.admin.refresh();
    expect(sign(b.access)).toBe(true);

    const version = await t.db.query<{ v: string }>(`SELECT stream_version::text AS v FROM ${t.schema}.managed_hsm_administration WHERE pool_id = $1`, [pool.vaultId]);
    await expect(b.admin.createAssignment(pool, { assignmentId: A1, principalId: APP, roleDefinitionId: CRYPTO_USER, scope: '/', builtInRole: true }, caller)).rejects.toMatchObject({ code: VaultErrorCode.RoleAssignmentExists });
    expect(await t.db.query(`SELECT stream_version::text AS v FROM ${t.schema}.managed_hsm_administration WHERE pool_id = $1`, [pool.vaultId])).toEqual(version);

    await b.admin.deleteAssignment(pool, A1, caller);
    expect([sign(a.access), sign(b.access)]).toEqual([true, false]);
    await a.admin.refresh();
    expect(sign(a.access)).toBe(false);
  });

  it('forgets a purged pool: a new pool of the same name starts with nothing', async () => {
    const a = instance();
    await a.admin.createAssignment(pool, { assignmentId: '22222222-2222-4222-8222-222222222222', principalId: APP, roleDefinitionId: CRYPTO_USER, scope: '/', builtInRole: true }, caller);
    expect(sign(a.access)).toBe(true);
    await pools.delete('adminpool', caller);
    await pools.purge('adminpool', 'request', caller);
    await a.admin.refresh();
    expect(sign(a.access)).toBe(false);
    const again = await pools.create({ name: 'adminpool', tenantId: TENANT, retentionDays: 7, purgeProtection: false, tags: {} }, caller);
    expect((await a.admin.state(again)).assignments.size).toBe(0);
  });

  it('restores one pool\'s administration into another in one append, enforced there at once', async () => {
    const a = instance();
    const source = await pools.create({ name: 'srcpool', tenantId: TENANT, retentionDays: 7, purgeProtection: false, tags: {} }, caller);
    const target = await pools.create({ name: 'dstpool', tenantId: TENANT, retentionDays: 7, purgeProtection: false, tags: {} }, caller);
    const CUSTOM = '3f0c7a2e-5b1d-4e8f-9c6a-2d4b8e1f0a77';
    await a.admin.setDefinition(source, { roleDefinitionId: CUSTOM, roleName: 'Signer', description: '', assignableScopes: ['/'], permissions: [{ actions: [], notActions: [], dataActions: ['Microsoft.KeyVault/managedHsm/keys/sign/action'], notDataActions: [] }] }, caller);
    await a.admin.createAssignment(source, { assignmentId: '33333333-3333-4333-8333-333333333333', principalId: APP, roleDefinitionId: CUSTOM, scope: '/keys', builtInRole: false }, caller);
    await a.admin.updateSetting(source, 'AllowKeyManagementOperationsThroughARM', 'true', caller);
    const before = await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.schema}.events WHERE stream_id = $1`, [`hsmadmin-${target.vaultId}`]);
    expect(before[0]?.n).toBe('0');
    const restored = await a.admin.restore(target, await a.admin.state(source), isBuiltInRoleId, caller);
    expect([restored.definitions.size, restored.assignments.size, restored.settings.get('AllowKeyManagementOperationsThroughARM')]).toEqual([1, 1, 'true']);
    expect(a.access.check(APP, ManagedHsmKeyDataActions.sign, '/managedHSMs/dstpool/keys/k9').allowed).toBe(true);
    const appended = await t.db.query<{ n: string; tx: string }>(`SELECT count(*)::text AS n, count(DISTINCT transaction_id)::text AS tx FROM ${t.schema}.events WHERE stream_id = $1`, [`hsmadmin-${target.vaultId}`]);
    expect(appended[0]).toEqual({ n: '3', tx: '1' });
    // Again (a second full restore of the same backup): nothing appended.
    await a.admin.restore(target, await a.admin.state(source), isBuiltInRoleId, caller);
    const again = await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.schema}.events WHERE stream_id = $1`, [`hsmadmin-${target.vaultId}`]);
    expect(again[0]?.n).toBe('3');
  });
});
