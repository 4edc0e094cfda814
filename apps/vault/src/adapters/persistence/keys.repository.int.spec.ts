import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { EventStore } from '#libs/eventstore';
import { REPO_ROOT } from '#libs/platform';
import { testDb, type TestDb } from '#libs/testing';
import { keyDecider, type KeyCommand } from '../../domain/key/key.decider.js';
import { keyStreamId, type KeyEvent } from '../../domain/key/key.events.js';
import { parseRotationPolicy } from '../../domain/key/key.rules.js';
import { vaultEventRegistry } from '../../vault.module.js';
import { KeysRepository } from './keys.repository.js';
import { ReadModelRebuilder } from './read-model.rebuilder.js';
import { SecretsRepository } from './secrets.repository.js';
import { VaultsRepository } from './vaults.repository.js';

const VAULT = '6a0c1f9e-3f7a-4a43-9d1c-6c1f0e0b7a22';
const V1 = '0123456789abcdef0123456789abcdef';
const V2 = 'fedcba9876543210fedcba9876543210';
const T0 = 1_800_000_000;

/** The keys read model on real PostgreSQL: every event projected in its append, listed, and rebuilt from the log to the same state. */
describe('KeysRepository on PostgreSQL', () => {
  let t: TestDb;
  let store: EventStore;
  let repo: KeysRepository;

  /** load → decide → append with the projection, as KeysService does (crypto is not involved here). */
  async function run(nameKey: string, command: KeyCommand): Promise<void> {
    const { state, streamVersion } = await repo.loadState(VAULT, nameKey, command.type === 'UpdateKeyVersion' ? [command.data.version] : []);
    const events = keyDecider.decide(command, state);
    await store.appendToStream<KeyEvent>(keyStreamId(VAULT, nameKey), streamVersion === 0 ? 'no_stream' : streamVersion, events, {
      metadata: { actor: 'test', tenant: 't' },
      inTransaction: (tx, recorded) => repo.project(tx, VAULT, nameKey, recorded),
    });
  }
  const create = (name: string, version: string, now: number, kty = 'RSA'): KeyCommand => ({
    type: 'CreateKeyVersion',
    data: {
      vaultId: VAULT,
      name,
      now,
      origin: 'create',
      material: { version, kty, keySize: kty === 'RSA' ? 2048 : null, crv: kty === 'EC' ? 'P-256' : null, keyOps: kty === 'RSA' ? ['sign', 'verify', 'encrypt'] : ['sign', 'verify'], hsm: false },
      attributes: { exp: now + 1000 },
      tags: { team: 'a' },
      releasePolicy: null,
    },
  });

  beforeAll(async () => {
    t = await testDb('t_vault_keys');
    await t.db.migrate(join(REPO_ROOT, 'apps', 'vault', 'migrations'));
    store = t.eventStore(vaultEventRegistry(), { source: 'vault' });
    repo = new KeysRepository(t.db);
  });

  afterAll(async () => {
    await t.drop();
  });

  it('projects versions, updates, delete, recover, rotation policy, purge and restore', async () => {
    await run('signing', create('Signing', V1, T0));
    await run('signing', create('signing', V2, T0 + 1));
    await run('signing', { type: 'UpdateKeyVersion', data: { name: 'signing', version: V1, now: T0 + 2, patch: { attributes: { enabled: false }, keyOps: ['verify'], tags: { env: 'dev' } } } });
    const latest = await repo.findVersion(VAULT, 'signing', null);
    expect(latest).toMatchObject({ name: 'Signing', version: V2, kty: 'RSA', keySize: 2048, keyOps: ['sign', 'verify', 'encrypt'], enabled: true, exp: T0 + 1001, tags: { team: 'a' }, status: 'active' });
    expect(await repo.findVersion(VAULT, 'signing', V1)).toMatchObject({ enabled: false, keyOps: ['verify'], tags: { env: 'dev' }, updated: T0 + 2 });
    expect((await repo.listVersions(VAULT, 'signing', '', 10)).map((r) => r.version)).toEqual([V1, V2]);
    expect((await repo.allVersions(VAULT, 'signing')).map((r) => r.version)).toEqual([V1, V2]);

    await run('signing', { type: 'SetRotationPolicy', data: { name: 'signing', now: T0 + 3, policy: parseRotationPolicy({ lifetimeActions: [{ trigger: { timeAfterCreate: 'P30D' }, action: { type: 'Rotate' } }], attributes: { expiryTime: 'P90D' } }) } });
    expect((await repo.rotationPolicy(VAULT, 'signing'))?.policy).toMatchObject({ expiryTime: 'P90D', created: T0 + 3 });
    expect((await repo.withRotationPolicy(10)).map((r) => [r.name, r.version, r.nearExpiryNotified])).toEqual([['Signing', V2, null]]);
    await run('signing', { type: 'NotifyNearExpiry', data: { name: 'signing', version: V2, now: T0 + 3 } });
    expect((await repo.withRotationPolicy(10)).map((r) => r.nearExpiryNotified)).toEqual([V2]);
    expect((await repo.loadState(VAULT, 'signing')).state.nearExpiryNotified).toBe(V2);

    await run('signing', { type: 'DeleteKey', data: { name: 'signing', now: T0 + 4, retentionDays: 7 } });
    expect((await repo.listLatest(VAULT, 'deleted', '', 10)).map((r) => [r.name, r.deletedDate, r.scheduledPurgeDate])).toEqual([['Signing', T0 + 4, T0 + 4 + 7 * 86_400]]);
    expect(await repo.listLatest(VAULT, 'active', '', 10)).toEqual([]);
    expect(await repo.dueForPurge(T0 + 4 + 7 * 86_400, 10)).toEqual([{ vaultId: VAULT, nameKey: 'signing' }]);
    expect(await repo.withRotationPolicy(10)).toEqual([]);
    await run('signing', { type: 'RecoverKey', data: { name: 'signing', now: T0 + 5 } });
    expect((await repo.findVersion(VAULT, 'signing', null))?.status).toBe('active');

    await run('other', create('Other', V1, T0, 'EC'));
    const rows = await repo.allVersions(VAULT, 'other');
    await run('other', { type: 'DeleteKey', data: { name: 'other', now: T0 + 6, retentionDays: 7 } });
    await run('other', { type: 'PurgeKey', data: { name: 'other', now: T0 + 7, reason: 'request', purgeProtection: false } });
    expect(await repo.findVersion(VAULT, 'other', null)).toBeUndefined();
    await run('other', {
      type: 'RestoreKey',
      data: {
        vaultId: VAULT,
        name: 'Other',
        now: T0 + 8,
        managed: false,
        versions: rows.map(({ vaultId: _a, nameKey: _b, name: _c, status: _d, managed: _e, deletedDate: _f, scheduledPurgeDate: _g, ...r }) => r),
        rotationPolicy: null,
      },
    });
    expect(await repo.findVersion(VAULT, 'other', null)).toMatchObject({ name: 'Other', version: V1, kty: 'EC', crv: 'P-256', keySize: null, status: 'active' });
    expect((await repo.listLatest(VAULT, 'active', '', 1)).map((r) => r.nameKey)).toEqual(['other']);
    expect((await repo.listLatest(VAULT, 'active', 'other', 10)).map((r) => r.nameKey)).toEqual(['signing']);
  });

  it('the key read model is rebuilt from the event log to the same state', async () => {
    const snapshot = async () => ({
      keys: await t.db.query(`SELECT * FROM ${t.schema}.keys ORDER BY vault_id, name_key`),
      versions: await t.db.query(
        `SELECT vault_id, name_key, version, kty, key_size, crv, key_ops, hsm, exportable, enabled, nbf, exp, tags, release_policy, created, updated FROM ${t.schema}.key_versions ORDER BY vault_id, name_key, version`,
      ),
    });
    const before = await snapshot();
    expect(before.keys.length).toBe(2);
    const { events } = await new ReadModelRebuilder(t.db, vaultEventRegistry(), new VaultsRepository(t.db), new SecretsRepository(t.db), repo).rebuild(3);
    expect(events).toBe(11);
    expect(await snapshot()).toEqual(before);
  });
});
