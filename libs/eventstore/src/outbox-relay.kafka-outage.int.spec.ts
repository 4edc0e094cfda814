/**
 * STOPS THE SHARED KAFKA BROKER (deploy/local/kafka/kafka.sh stop/start, via localKafkaBroker).
 * test/sequencer.cjs runs every *.kafka-outage.int.spec last. The broker is started again in
 * afterAll whatever happens.
 */
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals';
import type { Admin, Kafka } from 'kafkajs';
import { InboxConsumer } from '#libs/messaging';
import { dropTopics, localKafkaBroker, sleep, testDb, testKafka, testLogger, uniqueName, uniqueTenant, waitFor, type TestDb } from '#libs/testing';
import type { EventStore } from './event-store.js';
import { OutboxRelay, unsentOutboxRows } from './outbox-relay.js';
import { EventRegistry, v } from '#libs/kernel';

jest.setTimeout(420_000);

const broker = localKafkaBroker;

const registry = new EventRegistry().define({ type: 'Noted', schemaVersion: 1, validate: v.object({ n: v.int }) });
const meta = { actor: 'spec', tenant: uniqueTenant() };

let t: TestDb;
let store: EventStore;
let kafka: Kafka;
let admin: Admin;
let relay: OutboxRelay;
let consumer: InboxConsumer;
let brokerStopped = false;
let topic: string;

const unsent = (): Promise<number> => unsentOutboxRows(t.db);

beforeAll(async () => {
  t = await testDb('t_relay_outage');
  topic = `${uniqueName('t_relay_outage')}.events.v1`;
  store = t.eventStore(registry, { eventsTopic: topic });
  kafka = testKafka('keyledger-test-relay-outage');
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] });
  await admin.disconnect();
  await t.db.query(`CREATE TABLE ${t.schema}.received (event_id text PRIMARY KEY, stream_id text NOT NULL, stream_version int NOT NULL, seq bigint GENERATED ALWAYS AS IDENTITY)`);
  consumer = new InboxConsumer({
    kafka,
    db: t.db,
    topic,
    group: uniqueName('g'),
    logger: testLogger('consumer'),
    handler: async (env, tx) => {
      // No ON CONFLICT: a duplicate past the inbox would fail loudly.
      await tx.query(`INSERT INTO ${t.schema}.received (event_id, stream_id, stream_version) VALUES ($1, $2, $3)`, [env.id, env.subject, env.streamVersion]);
    },
  });
  await consumer.start();
  relay = new OutboxRelay(t.db, kafka, testLogger('relay'), { batchSize: 20, maxBackoffMs: 2_000 });
  await relay.start();
});

afterAll(async () => {
  if (brokerStopped) {
    await broker('start').catch(() => undefined);
    await broker('wait').catch(() => undefined);
  }
  await relay?.stop();
  await consumer?.stop();
  if (topic) await dropTopics(kafka, [topic]).catch(() => undefined);
  await t?.drop();
});

describe('OutboxRelay: Kafka outage', () => {
  it('while the broker is down appends keep committing and rows wait; after restart every committed event arrives exactly once after dedupe, in stream order', async () => {
    const committed: string[] = [];
    const append = async (from: number, count: number, pauseMs = 0): Promise<void> => {
      for (let i = from; i < from + count; i++) {
        const res = await store.appendToStream(`stream-${i % 5}`, 'any', [{ type: 'Noted', data: { n: i } }], { metadata: meta });
        committed.push(res.events[0]!.metadata.eventId);
        if (pauseMs > 0) await sleep(pauseMs);
      }
    };

    await append(0, 30);
    await waitFor(() => consumer.stats.handled === 30, { timeoutMs: 60_000, what: 'the first events before the outage' });

    // Stop the broker while appends are flowing.
    const during = append(30, 40, 25);
    brokerStopped = true;
    await broker('stop');
    await during;
    await append(70, 30, 20); // the broker is down all along these
    expect(await unsent()).toBeGreaterThanOrEqual(30); // waiting, not lost

    await broker('start');
    await broker('wait');
    brokerStopped = false;
    await append(100, 20, 10);

    await waitFor(async () => consumer.stats.handled >= committed.length && (await unsent()) === 0, { timeoutMs: 240_000, intervalMs: 250, what: 'every committed event after the restart' });
    const received = await t.db.query<{ event_id: string; stream_id: string; stream_version: number }>(`SELECT event_id, stream_id, stream_version FROM ${t.schema}.received ORDER BY seq`);
    expect(received).toHaveLength(committed.length);
    expect(new Set(received.map((r) => r.event_id))).toEqual(new Set(committed));
    expect(consumer.stats.deadLettered).toBe(0);
    const byStream = new Map<string, number[]>();
    for (const r of received) byStream.set(r.stream_id, [...(byStream.get(r.stream_id) ?? []), r.stream_version]);
    for (const versions of byStream.values()) expect(versions).toEqual(versions.map((_, i) => i + 1));
  });
});
