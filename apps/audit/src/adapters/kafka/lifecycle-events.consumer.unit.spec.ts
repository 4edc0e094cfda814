/**
 * The lifecycle consumer counts a message older than its contract once, also when its group's
 * statement fails and the inbox consumer runs the group again message by message.
 */
import { describe, expect, it, jest } from '@jest/globals';
import type { Kafka } from 'kafkajs';
import pino from 'pino';
import type { Envelope } from '#libs/contracts';
import type { EventStore } from '#libs/eventstore';
import { metricsRegistry, type Database, type Sql } from '#libs/platform';
import { testEnvelope, uniqueTenant } from '#libs/testing';
import { LifecycleEventsConsumer } from './lifecycle-events.consumer.js';

const T0 = 1_800_000_000;
const tenant = uniqueTenant();

const env = (type: string, schemaVersion: number, data: Record<string, unknown>, source = 'vault'): Envelope => testEnvelope(type, schemaVersion, data, { source, tenant });

/** Pre-contract SecretDeleted: nothing lifts it, so it is counted and skipped. */
const preContract = (): Envelope => env('SecretDeleted', 1, { deletedDate: T0, scheduledPurgeDate: T0 });
/** Pre-contract KeyCreated: lifted to v2, so it is stored. */
const keyCreated = (): Envelope =>
  env('KeyCreated', 1, { tenant, vault: 'keys-vault', name: 'signer', version: 'a1', kty: 'EC', hsm: false, sizeBits: 256, crv: 'P-256', keyOps: ['sign'], enabled: true, notBefore: null, expires: null, exportable: false, publicKey: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' }, materialId: 'km-1', created: T0 }, 'crypto');

async function counted(): Promise<number> {
  const metric = metricsRegistry.getSingleMetric('keyledger_audit_precontract_events_total');
  const values = (await metric?.get())?.values ?? [];
  return values.filter((v) => v.labels.type === 'SecretDeleted').reduce((n, v) => n + v.value, 0);
}

describe('LifecycleEventsConsumer: messages older than their contract', () => {
  it('are counted once per message: not by a group whose statement failed, then by the message-by-message rerun', async () => {
    const groupAppend = jest.fn<(tx: Sql, appends: readonly unknown[]) => Promise<void>>().mockRejectedValueOnce(new Error('serialization failure')).mockResolvedValue(undefined);
    const oneAppend = jest.fn<() => Promise<void>>().mockResolvedValue(undefined);
    const store = { appendEachAnyInTransaction: groupAppend, appendInTransaction: oneAppend } as unknown as EventStore;
    const consumer = new LifecycleEventsConsumer({ kafka: {} as Kafka, db: {} as Database, store, topics: [], groupPrefix: 'spec', logger: pino({ level: 'silent' }) });
    const tx = {} as Sql;
    const before = await counted();

    const group = [preContract(), keyCreated()];
    await expect(consumer.observeAll(group, tx)).rejects.toThrow('serialization failure');
    expect(await counted()).toBe(before);
    // What the inbox consumer does next: the same messages, one by one.
    for (const e of group) await consumer.observe(e, tx);
    expect(await counted()).toBe(before + 1);
    expect(oneAppend).toHaveBeenCalledTimes(1);

    // A group that commits counts its pre-contract messages; the lifted one is in its statement.
    await consumer.observeAll([preContract(), keyCreated(), preContract()], tx);
    expect(await counted()).toBe(before + 3);
    expect(groupAppend).toHaveBeenCalledTimes(2);
    expect((groupAppend.mock.calls[1]?.[1] ?? []).length).toBe(1);
  });
});
