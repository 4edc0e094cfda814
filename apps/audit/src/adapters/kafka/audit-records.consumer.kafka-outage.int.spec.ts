/**
 * STOPS THE SHARED KAFKA BROKER (deploy/local/kafka/kafka.sh stop/start, like
 * libs/eventstore's outbox-relay.kafka-outage spec): test/sequencer.cjs runs the specs named
 * *.kafka-outage.int.spec last. The outage is kept short — stop, wait until every consumer has
 * noticed, start — and the broker is started again in afterAll whatever happens.
 *
 * The audit ledger consumer, an inbox consumer (libs/messaging) and the RBAC read model's
 * consumer (libs/auth) run in this process against the real broker; after the restart each
 * must come back by itself and take what is published next.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { RbacReadModelConsumer } from '#libs/auth';
import { deadLetterTopic, type Envelope } from '#libs/contracts';
import { auditMessage } from '#libs/eventstore';
import { ensureTopics, InboxConsumer } from '#libs/messaging';
import { metricsRegistry, REPO_ROOT } from '#libs/platform';
import { dropTopics, localKafkaBroker, testDb, testKafka, testLogger, uniqueName, uniqueTenant, waitFor, type TestDb } from '#libs/testing';
import { sampleRecord } from '../../domain/audit-test.fixtures.js';
import { LedgerRepository } from '../persistence/ledger.repository.js';
import { AuditRecordsConsumer } from './audit-records.consumer.js';

jest.setTimeout(420_000);

const broker = localKafkaBroker;

const supervision = { restartBaseMs: 250, restartMaxMs: 2_000 };
const tenant = uniqueTenant();
const auditTopic = uniqueName('t_outage_audit');
const inboxTopic = `${uniqueName('t_outage_inbox')}.events.v1`;
const identityTopic = `${uniqueName('t_outage_identity')}.events.v1`;
const ledgerGroup = uniqueName('t_outage_ledger');
const inboxGroup = uniqueName('t_outage_inbox_g');

let t: TestDb;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;
let ledgerConsumer: AuditRecordsConsumer;
let inboxConsumer: InboxConsumer;
let rbac: RbacReadModelConsumer;
let brokerStopped = false;
const inboxSeen: string[] = [];

function envelope(type: string, data: object): Envelope {
  return { id: randomUUID(), type, schemaVersion: 1, source: 'test', subject: `s-${type}`, time: new Date().toISOString(), correlationId: randomUUID(), causationId: null, tenant, traceparent: null, data };
}

/** Publishes one audit record, one inbox event and one identity event (TenantCreated of `tenantId`); retried while the producer reconnects. */
async function publishRound(n: number, tenantId: string): Promise<{ recordId: string; eventId: string }> {
  const record = sampleRecord({ n, tenant, id: `${tenant}-${n}` });
  const m = auditMessage(record, 'test');
  const event = envelope('Noted', { n });
  const identity = envelope('TenantCreated', { tenantId, name: `t${n}`, isDefault: false });
  await waitFor(
    async () => {
      await producer.sendBatch({
        acks: -1,
        topicMessages: [
          { topic: auditTopic, messages: [{ key: m.key, value: JSON.stringify(m.payload), headers: m.headers }] },
          { topic: inboxTopic, messages: [{ key: event.subject, value: JSON.stringify(event) }] },
          { topic: identityTopic, messages: [{ key: identity.subject, value: JSON.stringify(identity) }] },
        ],
      });
      return true;
    },
    { timeoutMs: 120_000, intervalMs: 1_000, what: `round ${n} to be published` },
  );
  return { recordId: record.id, eventId: event.id };
}

async function ledgered(recordId: string): Promise<number> {
  const [row] = await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.schema}.ledger_entries WHERE record_id = $1`, [recordId]);
  return Number(row!.n);
}

async function restartsCounted(consumer: string): Promise<number> {
  const values = (await metricsRegistry.getSingleMetric('keyledger_consumer_restarts_total')!.get()).values;
  return values.filter((v) => v.labels.consumer === consumer).reduce((sum, v) => sum + v.value, 0);
}

const consumers = (): { name: string; state: () => string; health: () => string }[] => [
  { name: 'ledger', state: () => ledgerConsumer.status.state, health: () => ledgerConsumer.health() },
  { name: 'inbox', state: () => inboxConsumer.status.state, health: () => inboxConsumer.health() },
  { name: 'rbac', state: () => rbac.status?.state ?? 'idle', health: () => rbac.health() },
];

beforeAll(async () => {
  t = await testDb('t_audit_outage');
  await t.db.migrate(join(REPO_ROOT, 'apps', 'audit', 'migrations'));
  const ledger = new LedgerRepository(t.db);
  kafka = testKafka('audit-consumer-outage-test');
  admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [auditTopic, inboxTopic, identityTopic]);
  producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  ledgerConsumer = new AuditRecordsConsumer({
    kafka,
    db: t.db,
    topic: auditTopic,
    group: ledgerGroup,
    maxBatch: 100,
    logger: testLogger('ledger'),
    supervision,
    handler: (records, tx) => ledger.append(tx, records),
  });
  inboxConsumer = new InboxConsumer({
    kafka,
    db: t.db,
    topic: inboxTopic,
    group: inboxGroup,
    logger: testLogger('inbox'),
    supervision,
    handler: async (env) => void inboxSeen.push(env.id),
  });
  rbac = new RbacReadModelConsumer({ kafka, topic: identityTopic, groupPrefix: uniqueName('t_outage'), logger: testLogger('rbac') });
  await Promise.all([ledgerConsumer.start(), inboxConsumer.start(), rbac.start()]);
  await Promise.all([ledgerConsumer.ready(), inboxConsumer.ready(), rbac.ready(30_000)]);
});

afterAll(async () => {
  if (brokerStopped) {
    await broker('start').catch(() => undefined);
    await broker('wait').catch(() => undefined);
  }
  await Promise.allSettled([ledgerConsumer?.stop(), inboxConsumer?.stop(), rbac?.stop()]);
  await producer?.disconnect().catch(() => undefined);
  await admin?.deleteGroups([ledgerGroup, inboxGroup]).catch(() => undefined);
  await admin?.disconnect().catch(() => undefined);
  await dropTopics(kafka, [auditTopic, inboxTopic, identityTopic, deadLetterTopic(auditTopic, ledgerGroup), deadLetterTopic(inboxTopic, inboxGroup)]).catch(() => undefined);
  await t?.drop();
});

describe('Kafka consumers across a broker stop and restart', () => {
  it('each consumer reports itself degraded while the broker is down, restarts by itself, and takes what is published after the restart', async () => {
    const before = await publishRound(1, randomUUID());
    await waitFor(async () => (await ledgered(before.recordId)) === 1 && inboxSeen.includes(before.eventId) && rbac.tenants.size === 1, { timeoutMs: 60_000, what: 'the first round before the outage' });
    for (const c of consumers()) expect(c.health()).toMatch(/consuming/);

    brokerStopped = true;
    await broker('stop');
    for (const c of consumers()) {
      await waitFor(() => c.state() === 'recovering', { timeoutMs: 120_000, intervalMs: 250, what: `the ${c.name} consumer to notice the broker is gone` });
      expect(c.health).toThrow(/degraded: disconnected/);
    }
    await broker('start');
    await broker('wait');
    brokerStopped = false;

    const afterTenant = randomUUID();
    const after = await publishRound(2, afterTenant);
    await waitFor(async () => (await ledgered(after.recordId)) === 1, { timeoutMs: 180_000, intervalMs: 500, what: 'the record published after the restart to be ledgered' });
    await waitFor(() => inboxSeen.includes(after.eventId), { timeoutMs: 180_000, intervalMs: 500, what: 'the inbox consumer to handle the event published after the restart' });
    await waitFor(() => rbac.tenants.has(afterTenant), { timeoutMs: 180_000, intervalMs: 500, what: 'the RBAC consumer to apply the identity event published after the restart' });

    for (const c of consumers()) {
      await waitFor(() => c.state() === 'joined', { timeoutMs: 60_000, what: `the ${c.name} consumer to report itself joined` });
      expect(c.health()).toMatch(/consuming \(\d+ restart\(s\) since start\)/);
    }
    expect(ledgerConsumer.status.restarts).toBeGreaterThan(0);
    expect(await restartsCounted(ledgerGroup)).toBe(ledgerConsumer.status.restarts);
    expect(await restartsCounted(inboxGroup)).toBe(inboxConsumer.status.restarts);
    // Each record is in the ledger once, whatever was redelivered around the restart.
    expect(await ledgered(before.recordId)).toBe(1);
    expect(inboxSeen.filter((id) => id === after.eventId)).toHaveLength(1);
    expect(ledgerConsumer.stats.deadLettered).toBe(0);
  });
});
