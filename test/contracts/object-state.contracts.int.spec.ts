import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Kafka } from 'kafkajs';
import { ContractError, type Envelope } from '#libs/contracts';
import { EventRegistry } from '#libs/kernel';
import { registerLifecycleEvents, type EventStore } from '#libs/eventstore';
import { ProjectionRunner } from '#libs/projections';
import { REPO_ROOT, createLogger } from '#libs/platform';
import { testDb, testEnvelope, uniqueTenant, type TestDb } from '#libs/testing';
import { LifecycleEventsConsumer } from '../../apps/audit/src/adapters/kafka/lifecycle-events.consumer.js';
import { registerAuditEvents } from '../../apps/audit/src/domain/audit.events.js';
import type { ObjectState } from '../../apps/audit/src/domain/object-state.js';
import { objectStateProjection } from '../../apps/audit/src/projections/object-state/object-state.projection.js';
import { keyDecider } from '../../apps/vault/src/domain/key/key.decider.js';
import { keyStreamId } from '../../apps/vault/src/domain/key/key.events.js';
import { registerVaultServiceEvents } from '../../apps/vault/src/domain/vault-service.registry.js';

/**
 * The path of a lifecycle event from its producer's event store to the audit object state, on
 * real PostgreSQL: a producer registry (vault-style registration with a contract and a publish
 * mapping) writes the outbox envelope; the audit lifecycle consumer reads it by contract type;
 * the object-state projection folds it.
 */
jest.setTimeout(120_000);

const V1 = '0123456789abcdef0123456789abcdef';
const T0 = 1_800_000_000;
let producerDb: TestDb;
let auditDb: TestDb;
let producer: EventStore;
let audit: EventStore;
let consumer: LifecycleEventsConsumer;
let runner: ProjectionRunner;

beforeAll(async () => {
  // The vault's own registrations, as the vault service composes them.
  producerDb = await testDb('t_audit_objs_src');
  producer = producerDb.eventStore(registerVaultServiceEvents(registerLifecycleEvents(new EventRegistry())), { source: 'vault' });
  auditDb = await testDb('t_audit_objs');
  await auditDb.db.migrate(join(REPO_ROOT, 'apps', 'audit', 'migrations'));
  audit = auditDb.eventStore(registerAuditEvents(registerLifecycleEvents(new EventRegistry())), { source: 'audit' });
  consumer = new LifecycleEventsConsumer({ kafka: {} as Kafka, db: auditDb.db, store: audit, topics: [], groupPrefix: 'test', logger: createLogger('test', 'silent') });
  runner = new ProjectionRunner(audit, objectStateProjection(auditDb.schema), { logger: createLogger('test', 'silent') });
  await runner.init();
});

afterAll(async () => {
  await producerDb?.drop();
  await auditDb?.drop();
});

/** The envelopes the producer's outbox holds (what its relay publishes), oldest first. */
async function published(after = 0): Promise<Envelope[]> {
  const rows = await producerDb.db.query<{ id: string; payload: Envelope }>(`SELECT o.id::text, o.payload FROM ${producerDb.schema}.outbox o WHERE o.id > $1 ORDER BY o.id`, [after]);
  return rows.map((r) => r.payload);
}

const observe = (env: Envelope): Promise<void> => auditDb.db.transaction((tx) => consumer.observe(env, tx));

async function state(tenant: string, kind: string, name: string): Promise<ObjectState | undefined> {
  const rows = await auditDb.db.query<{ state: ObjectState }>(`SELECT state FROM ${auditDb.schema}.object_state WHERE tenant = $1 AND kind = $2 AND name = $3`, [tenant, kind, name]);
  return rows[0]?.state;
}

describe('object state from published contracts (real PostgreSQL)', () => {
  it('a vault and a secret, appended by the producer, reach the object state named by their contracts', async () => {
    const tenant = uniqueTenant();
    const meta = { metadata: { actor: 'test', tenant } };
    const vaultId = '5f0c1f9e-3f7a-4a43-9d1c-6c1f0e0b7a11';
    await producer.appendToStream('vault-prod', 'no_stream', [{ type: 'VaultCreated', data: { vaultId, name: 'Prod', tenantId: tenant, retentionDays: 7, purgeProtection: false, tags: {}, created: T0 } }], {
      ...meta,
      object: { vault: 'prod', collection: null, name: 'prod' },
    });
    const version = { version: V1, ciphertext: 'AQID', keyId: 'dk-1', keyRef: V1, contentType: 'text/plain', tags: { team: 'a' }, enabled: true, nbf: null, exp: null, created: T0, updated: T0 };
    const object = { vault: 'prod', collection: 'secrets' as const, name: 'db-password' };
    await producer.appendToStream(`secret-${vaultId}-db-password`, 'no_stream', [{ type: 'SecretVersionCreated', data: { ...version, vaultId, name: 'Db-Password', managed: false } }], { ...meta, object });
    await producer.appendToStream(`secret-${vaultId}-db-password`, 1, [{ type: 'SecretDeleted', data: { deletedDate: T0 + 60, scheduledPurgeDate: T0 + 7 * 86_400 } }], { ...meta, object });

    const envelopes = (await published()).filter((e) => e.tenant === tenant);
    expect(envelopes.map((e) => [e.type, e.schemaVersion])).toEqual([
      ['VaultCreated', 2],
      ['SecretVersionCreated', 2],
      ['SecretDeleted', 2],
    ]);
    expect(JSON.stringify(envelopes)).not.toMatch(/AQID|dk-1|ciphertext|keyRef/);
    for (const env of envelopes) await observe(env);
    await runner.catchUp();

    expect(await state(tenant, 'vault', 'prod')).toMatchObject({ vault: 'prod', status: 'active', created: new Date(T0 * 1000).toISOString() });
    expect(await state(tenant, 'secret', 'db-password')).toMatchObject({
      vault: 'prod',
      status: 'deleted',
      versions: [V1],
      latestVersion: V1,
      contentType: 'text/plain',
      tags: { team: 'a' },
      deletedAt: new Date((T0 + 60) * 1000).toISOString(),
      lastEventType: 'SecretDeleted',
      lastEventSource: 'vault',
    });
  });

  it('a group observed at once (the group handler of the consumer) stores and folds what observing each in turn does', async () => {
    const vaultId = '7b2e3f40-5c6d-4e7f-9a81-92a3b4c5d6e7';
    const setUp = async (tenant: string): Promise<Envelope[]> => {
      const meta = { metadata: { actor: 'test', tenant } };
      const object = { vault: 'prod', collection: 'secrets' as const, name: 'api-token' };
      const version = (v: string) => ({ version: v, ciphertext: 'AQID', keyId: 'dk-1', keyRef: v, contentType: 'text/plain', tags: {}, enabled: true, nbf: null, exp: null, created: T0, updated: T0, vaultId, name: 'Api-Token', managed: false });
      await producer.appendToStream(`vault-${tenant}`, 'no_stream', [{ type: 'VaultCreated', data: { vaultId, name: 'Prod', tenantId: tenant, retentionDays: 7, purgeProtection: false, tags: {}, created: T0 } }], { ...meta, object: { vault: 'prod', collection: null, name: 'prod' } });
      const stream = `secret-${tenant}-api-token`;
      await producer.appendToStream(stream, 'no_stream', [{ type: 'SecretVersionCreated', data: version(V1) }], { ...meta, object });
      await producer.appendToStream(stream, 1, [{ type: 'SecretVersionCreated', data: version(V1.replace('0', 'f')) }], { ...meta, object });
      await producer.appendToStream(stream, 2, [{ type: 'SecretDeleted', data: { deletedDate: T0 + 60, scheduledPurgeDate: T0 + 7 * 86_400 } }], { ...meta, object });
      const envelopes = (await published()).filter((e) => e.tenant === tenant);
      expect(envelopes).toHaveLength(4);
      // Not a lifecycle contract: skipped in both paths.
      return [...envelopes.slice(0, 2), { ...envelopes[0]!, id: randomUUID(), type: 'ServiceStarted', schemaVersion: 1, data: { service: 'vault', host: 'h', pid: 1, version: '0' } }, ...envelopes.slice(2)];
    };
    const one = uniqueTenant();
    const all = uniqueTenant();
    for (const env of await setUp(one)) await observe(env);
    const group = await setUp(all);
    await auditDb.db.transaction((tx) => consumer.observeAll(group, tx));
    await runner.catchUp();

    const stored = async (tenant: string): Promise<unknown[]> =>
      (
        await auditDb.db.query<{ stream_id: string; stream_version: string; type: string; data: { source: string; message: unknown } }>(
          `SELECT stream_id, stream_version::text, type, data FROM ${auditDb.schema}.events WHERE metadata->>'tenant' = $1 ORDER BY position`,
          [tenant],
        )
      ).map((r) => [r.stream_id.replace(tenant, 'T'), r.stream_version, r.type, r.data.source, r.data.message]);
    const ofOne = await stored(one);
    expect(ofOne).toHaveLength(4);
    expect(await stored(all)).toEqual(ofOne);
    // The same but for the tenant and the producer's event times.
    const without = (st: ObjectState | undefined): unknown => ({ ...st, tenant: undefined, lastEventTime: undefined, updated: undefined });
    expect(without(await state(all, 'secret', 'api-token'))).toEqual(without(await state(one, 'secret', 'api-token')));
    expect(await state(all, 'secret', 'api-token')).toMatchObject({ status: 'deleted', versionCount: 2, eventCount: 3 });
    expect(without(await state(all, 'vault', 'prod'))).toEqual(without(await state(one, 'vault', 'prod')));
  });

  it('a vault key, appended by the vault (VaultKey… contracts) and reported by crypto (Key…), is one object, deleted after the vault deletes it', async () => {
    const tenant = uniqueTenant();
    const meta = { metadata: { actor: 'test', tenant } };
    const vaultId = '6a1d2e3f-4b5c-4d6e-8f70-8192a3b4c5d6';
    const object = { vault: 'prod', collection: 'keys' as const, name: 'signer' };
    const created = keyDecider.decide(
      {
        type: 'CreateKeyVersion',
        data: { vaultId, name: 'Signer', now: T0, origin: 'create', material: { version: V1, kty: 'RSA', keySize: 2048, crv: null, keyOps: ['sign', 'verify'], hsm: false }, attributes: {}, tags: { team: 'a' }, releasePolicy: null },
      },
      keyDecider.initialState(),
    );
    await producer.appendToStream(keyStreamId(vaultId, 'signer'), 'no_stream', created, { ...meta, object });
    await producer.appendToStream(keyStreamId(vaultId, 'signer'), 1, [{ type: 'KeyDeleted', data: { deletedDate: T0 + 60, scheduledPurgeDate: T0 + 60 + 7 * 86_400 } }], { ...meta, object });

    const envelopes = (await published()).filter((e) => e.tenant === tenant);
    expect(envelopes.map((e) => [e.type, e.schemaVersion, e.source])).toEqual([
      ['VaultKeyVersionCreated', 1, 'vault'],
      ['VaultKeyDeleted', 1, 'vault'],
    ]);
    expect(envelopes[1]?.data).toEqual({ vault: 'prod', collection: 'keys', name: 'signer', version: null, deletedDate: T0 + 60, scheduledPurgeDate: T0 + 60 + 7 * 86_400 });
    // Crypto's own report of the same key (its material), as its relay publishes it.
    const cryptoCreated: Envelope = {
      ...envelopes[0]!,
      id: randomUUID(),
      type: 'KeyCreated',
      schemaVersion: 2,
      source: 'crypto',
      subject: 'key-opaque',
      data: { ...object, version: V1, kty: 'RSA', hsm: false, sizeBits: 2048, crv: null, keyOps: ['sign', 'verify'], enabled: true, notBefore: null, expires: null, exportable: false, publicKey: { kty: 'RSA', n: 'sXch', e: 'AQAB' }, created: T0 },
    };
    await observe(cryptoCreated);
    for (const env of envelopes) await observe(env);
    await runner.catchUp();

    const rows = await auditDb.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${auditDb.schema}.object_state WHERE tenant = $1 AND kind = 'key'`, [tenant]);
    expect(rows[0]?.n).toBe('1');
    expect(await state(tenant, 'key', 'signer')).toMatchObject({
      vault: 'prod',
      status: 'deleted',
      versions: [V1],
      versionCount: 1,
      latestVersion: V1,
      keyType: 'RSA',
      tags: { team: 'a' },
      deletedAt: new Date((T0 + 60) * 1000).toISOString(),
      scheduledPurgeDate: new Date((T0 + 60 + 7 * 86_400) * 1000).toISOString(),
      lastEventType: 'VaultKeyDeleted',
      lastEventSource: 'vault',
      eventCount: 3,
    });
  });

  it('a message older than its contract is skipped (or lifted where an upcaster can), an invalid one fails for the dead-letter topic', async () => {
    const tenant = uniqueTenant();
    const env = (type: string, schemaVersion: number, data: Record<string, unknown>, source = 'vault'): Envelope => testEnvelope(type, schemaVersion, data, { source, tenant });
    // Pre-contract SecretDeleted: no object identity, nothing to lift it with.
    await observe(env('SecretDeleted', 1, { deletedDate: T0, scheduledPurgeDate: T0 }));
    // Pre-contract KeyCreated named vault, name and version: lifted to v2.
    await observe(
      env('KeyCreated', 1, { tenant, vault: 'keys-vault', name: 'signer', version: 'a1', kty: 'EC', hsm: false, sizeBits: 256, crv: 'P-256', keyOps: ['sign'], enabled: true, notBefore: null, expires: null, exportable: false, publicKey: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }, materialId: 'km-1', created: T0 }, 'crypto'),
    );
    // A same-named event of a service that does not own the contract (KeyRestored is crypto's): not read as it.
    await observe(env('KeyRestored', 1, { name: 'bk', vaultId: 'x', managed: false, versions: [], restoredDate: T0 }, 'vault'));
    // Not a lifecycle contract at all: marked handled, nothing stored.
    await observe(env('ServiceStarted', 1, { service: 'vault', host: 'h', pid: 1, version: '0' }));
    await expect(observe(env('SecretDeleted', 2, { vault: 'prod', collection: 'secrets', name: 'x', version: null, deletedDate: 'yesterday', scheduledPurgeDate: T0 }))).rejects.toThrow(ContractError);
    await expect(observe(env('SecretDeleted', 3, {}))).rejects.toThrow(/unknown schema version 3/);
    await runner.catchUp();

    const observed = await auditDb.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${auditDb.schema}.events WHERE metadata->>'tenant' = $1`, [tenant]);
    expect(observed[0]?.n).toBe('1');
    expect(await state(tenant, 'key', 'signer')).toMatchObject({ vault: 'keys-vault', kind: 'key', latestVersion: 'a1', keyType: 'EC', lastEventSource: 'crypto' });
    expect(JSON.stringify(await state(tenant, 'key', 'signer'))).not.toContain('km-1');
  });

  it('observations stored before contracts (v1) are upcast with no message and not folded', () => {
    expect(audit.registry.toCurrent('LifecycleEventObserved', 1, { eventId: 'e', source: 'vault', type: 'SecretDeleted', subject: 's', tenant: 't', time: 'x', schemaVersion: 1, data: { name: 'n' } }, 'e')).toEqual({
      type: 'LifecycleEventObserved',
      schemaVersion: 2,
      data: { eventId: 'e', source: 'vault', subject: 's', tenant: 't', time: 'x', message: null },
    });
  });
});
