import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals';
import type { Admin, Kafka } from 'kafkajs';
import { InboxConsumer } from '#libs/messaging';
import { dropTopics, testDb, testKafka, testLogger, uniqueName, uniqueTenant, waitFor, type TestDb } from '#libs/testing';
import type { EventStore } from './event-store.js';
import { unsentOutboxRows } from './outbox-relay.js';
import { EventRegistry, v } from '#libs/kernel';

jest.setTimeout(180_000);

// Tests run from dist/; the child is compiled there too. Resolve it from the repository root.
const repoRoot = process.cwd();
const childScript = join(repoRoot, 'dist/libs/testing/src/outbox-relay.child.js');

const registry = new EventRegistry().define({ type: 'Noted', schemaVersion: 1, validate: v.object({ n: v.int }) });
const meta = { actor: 'spec', tenant: uniqueTenant() };

let t: TestDb;
let store: EventStore;
let kafka: Kafka;
let admin: Admin;
let consumer: InboxConsumer;
let topic: string;
const children: ChildProcess[] = [];

function startRelayProcess(schema: string, batchSize: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--enable-source-maps', childScript, schema, String(batchSize)], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve(child);
    });
    let err = '';
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code) => reject(new Error(`relay child exited early (${code}): ${err.slice(0, 500)}`)));
  });
}

const unsent = (): Promise<number> => unsentOutboxRows(t.db);

beforeAll(async () => {
  expect(existsSync(childScript)).toBe(true);
  t = await testDb('t_relay_crash');
  topic = `${uniqueName('t_relay_crash')}.events.v1`;
  store = t.eventStore(registry, { eventsTopic: topic });
  kafka = testKafka('keyledger-test-relay-crash');
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] });
  // The consumer's effect is a plain INSERT into a table keyed by event id: were a duplicate
  // to get past the inbox, the insert would fail and the message would end in the DLQ.
  await t.db.query(`CREATE TABLE ${t.schema}.received (event_id text PRIMARY KEY, stream_id text NOT NULL, stream_version int NOT NULL, seq bigint GENERATED ALWAYS AS IDENTITY)`);
  consumer = new InboxConsumer({
    kafka,
    db: t.db,
    topic,
    group: uniqueName('g'),
    logger: testLogger('consumer'),
    handler: async (env, tx) => {
      await tx.query(`INSERT INTO ${t.schema}.received (event_id, stream_id, stream_version) VALUES ($1, $2, $3)`, [env.id, env.subject, env.streamVersion]);
    },
  });
  await consumer.start();
  // "Mark sent" sleeps while the gate is up: the relay's batch is on Kafka but not yet marked.
  await t.db.query(`CREATE TABLE ${t.schema}.relay_gate (delay_ms int NOT NULL)`);
  await t.db.query(`INSERT INTO ${t.schema}.relay_gate VALUES (3000)`);
  await t.db.query(`CREATE FUNCTION ${t.schema}.relay_gate_fn() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep((SELECT delay_ms FROM ${t.schema}.relay_gate LIMIT 1) / 1000.0); RETURN NULL; END $$`);
  await t.db.query(`CREATE TRIGGER relay_gate BEFORE INSERT OR UPDATE ON ${t.schema}.outbox_relay_position FOR EACH STATEMENT EXECUTE FUNCTION ${t.schema}.relay_gate_fn()`);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await consumer?.stop();
  await admin?.disconnect();
  if (topic) await dropTopics(kafka, [topic]).catch(() => undefined);
  await t?.drop();
});

describe('OutboxRelay crash', () => {
  it('a relay process killed with SIGKILL mid-batch loses nothing: another relay re-sends, the consumer dedupes, streams stay in order', async () => {
    const committed: string[] = [];
    const append = async (from: number, count: number): Promise<void> => {
      for (let i = from; i < from + count; i++) {
        const res = await store.appendToStream(`stream-${i % 7}`, 'any', [{ type: 'Noted', data: { n: i } }, { type: 'Noted', data: { n: i } }], { metadata: meta });
        committed.push(...res.events.map((e) => e.metadata.eventId));
      }
    };
    await append(0, 100); // 200 events waiting

    const first = await startRelayProcess(t.schema, 50);
    // Its first batch reaches Kafka (and the consumer), then it sits in "mark sent".
    await waitFor(() => consumer.stats.handled >= 50, { timeoutMs: 60_000, what: 'the first batch to be consumed' });
    expect(await unsent()).toBe(200); // published, but not marked: mid-batch
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    expect(first.signalCode).toBe('SIGKILL');

    await t.db.query(`UPDATE ${t.schema}.relay_gate SET delay_ms = 0`);
    await append(100, 50); // the service keeps appending meanwhile
    const second = await startRelayProcess(t.schema, 50);
    await waitFor(async () => (await unsent()) === 0 && consumer.stats.handled >= committed.length, { timeoutMs: 90_000, what: 'every committed event to arrive' });
    second.kill('SIGTERM');

    const received = await t.db.query<{ event_id: string; stream_id: string; stream_version: number }>(`SELECT event_id, stream_id, stream_version FROM ${t.schema}.received ORDER BY seq`);
    expect(new Set(received.map((r) => r.event_id))).toEqual(new Set(committed)); // every committed event …
    expect(received).toHaveLength(committed.length); // … exactly once after dedupe
    expect(consumer.stats.duplicates).toBeGreaterThanOrEqual(50); // the killed relay's batch came again
    expect(consumer.stats.deadLettered).toBe(0);
    // Per stream, first arrival in version order.
    const byStream = new Map<string, number[]>();
    for (const r of received) byStream.set(r.stream_id, [...(byStream.get(r.stream_id) ?? []), r.stream_version]);
    for (const versions of byStream.values()) expect(versions).toEqual(versions.map((_, i) => i + 1));
  });
});
