import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Admin, Producer } from 'kafkajs';
import { deadLetterTopic, type AuditRecord } from '#libs/contracts';
import { auditMessage } from '#libs/eventstore';
import { ensureTopics } from '#libs/messaging';
import { createLogger, REPO_ROOT } from '#libs/platform';
import { collectTopic, testDb, testKafka, uniqueName, uniqueTenant, waitFor, type TestDb } from '#libs/testing';
import { sampleRecord } from '../../domain/audit-test.fixtures.js';
import { LedgerRepository } from '../persistence/ledger.repository.js';
import { AuditRecordsConsumer } from './audit-records.consumer.js';

jest.setTimeout(120_000);

const kafka = testKafka('audit-consumer-test');
const topic = uniqueName('t_audit_records');
const group = uniqueName('t_audit_ledger');
const isolationGroup = uniqueName('t_audit_ledger_iso');
const logger = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');
let t: TestDb;
let ledger: LedgerRepository;
let admin: Admin;
let producer: Producer;
const consumers: AuditRecordsConsumer[] = [];

function consumer(handler?: (records: readonly AuditRecord[]) => void): AuditRecordsConsumer {
  const c = new AuditRecordsConsumer({
    kafka,
    db: t.db,
    topic,
    group,
    maxBatch: 100,
    retry: { attempts: 2, baseMs: 10, maxMs: 20 },
    logger,
    handler: (records, tx) => {
      handler?.(records);
      return ledger.append(tx, records);
    },
  });
  consumers.push(c);
  return c;
}

async function publish(records: readonly AuditRecord[]): Promise<void> {
  const messages = records.map((r) => {
    const m = auditMessage(r, 'test');
    return { key: m.key, value: JSON.stringify(m.payload), headers: m.headers };
  });
  for (let i = 0; i < messages.length; i += 500) await producer.send({ topic, acks: -1, messages: messages.slice(i, i + 500) });
}

beforeAll(async () => {
  t = await testDb('t_audit_consumer');
  await t.db.migrate(join(REPO_ROOT, 'apps', 'audit', 'migrations'));
  ledger = new LedgerRepository(t.db);
  admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [topic, deadLetterTopic(topic, group), deadLetterTopic(topic, isolationGroup)]);
  producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
});

afterAll(async () => {
  for (const c of consumers) await c.stop();
  await producer?.disconnect();
  await admin?.deleteGroups([group, isolationGroup]).catch(() => undefined);
  await admin?.deleteTopics({ topics: [topic, deadLetterTopic(topic, group), deadLetterTopic(topic, isolationGroup)] }).catch(() => undefined);
  await admin?.disconnect();
  await t?.drop();
});

describe('AuditRecordsConsumer (real Kafka and PostgreSQL)', () => {
  it('appends every record once despite duplicates and redelivery, and dead-letters what is not a record', async () => {
    const tenant = uniqueTenant();
    const records = Array.from({ length: 300 }, (_, i) => sampleRecord({ n: i, tenant, id: `${tenant}-${i}` }));
    await publish(records);
    await publish(records.slice(0, 50)); // a producer retry, the relay publishing again
    await producer.send({ topic, messages: [{ key: tenant, value: '{not json' }, { key: tenant, value: JSON.stringify({ ...auditMessage(records[0]!, 'test').payload, id: 'bad', data: { id: 'bad' } }) }] });
    const dlq = await collectTopic(kafka, deadLetterTopic(topic, group));
    const c = consumer();
    await c.start();
    const settled = (x: AuditRecordsConsumer): number => x.stats.appended + x.stats.duplicates + x.stats.deadLettered;
    await waitFor(async () => ((await ledger.head(tenant))?.seq === 300 && settled(c) >= 352 ? true : undefined), { what: '300 records in the ledger' });
    expect(c.stats).toMatchObject({ appended: 300, duplicates: 50, deadLettered: 2 });
    await c.stop();
    await dlq.waitForCount(2);
    expect(dlq.messages.map((m) => m.headers['dlq-error-class'])).toEqual(['invalid-envelope', 'invalid-record']);
    await dlq.stop();

    // Redeliver everything (offsets back to the start): the ledger's idempotent append turns it into no-ops.
    await admin.resetOffsets({ groupId: group, topic, earliest: true });
    const again = consumer();
    await again.start();
    await waitFor(() => (settled(again) >= 352 ? true : undefined), { what: 'redelivery' });
    expect(again.stats.appended).toBe(0);
    expect((await ledger.head(tenant))?.seq).toBe(300);
    const rows = await t.db.query<{ n: string }>(`SELECT count(DISTINCT record_id)::text AS n FROM ${t.schema}.ledger_entries WHERE chain = $1`, [tenant]);
    expect(rows[0]?.n).toBe('300');
    await again.stop();
  });

  it('isolates a record the ledger cannot take: it goes to the dead-letter topic, the rest of its batch lands', async () => {
    const tenant = uniqueTenant();
    const records = Array.from({ length: 20 }, (_, i) => sampleRecord({ n: i, tenant, id: `${tenant}-${i}` }));
    const poison = records[7]!.id;
    await publish(records);
    const c = new AuditRecordsConsumer({
      kafka,
      db: t.db,
      topic,
      group: isolationGroup,
      maxBatch: 100,
      retry: { attempts: 2, baseMs: 10, maxMs: 20 },
      logger,
      handler: (batch, tx) => {
        if (batch.some((r) => r.id === poison)) return Promise.reject(new Error('cannot append'));
        return ledger.append(tx, batch);
      },
    });
    consumers.push(c);
    const dlq = await collectTopic(kafka, deadLetterTopic(topic, isolationGroup));
    await c.start();
    await waitFor(async () => ((await ledger.head(tenant))?.seq === 19 ? true : undefined), { what: '19 records' });
    const dead = await waitFor(() => dlq.messages.find((m) => m.value?.includes(poison)), { what: 'the poison record in the dead-letter topic' });
    expect(dead.headers['dlq-error-class']).toBe('Error');
    expect(await ledger.entryByRecordId(poison)).toBeUndefined();
    await dlq.stop();
    await c.stop();
  });
});
