import { describe, it, expect, beforeEach, afterEach, jest } from '@jest/globals';
import type { Admin, Kafka } from 'kafkajs';
import { parseEnvelope } from '#libs/contracts';
import { collectTopic, dropTopics, sleep, testDb, testKafka, testLogger, uniqueName, uniqueTenant, waitFor, type TestDb } from '#libs/testing';
import type { EventStore } from './event-store.js';
import { OutboxRelay, RELAY_POSITION, relayBatchSql, relayCleanupSql, unsentOutboxRows } from './outbox-relay.js';
import { EventRegistry, v } from '#libs/kernel';

jest.setTimeout(120_000);

type Noted = { readonly type: 'Noted'; readonly data: { readonly n: number } };
const registry = new EventRegistry().define({ type: 'Noted', schemaVersion: 1, validate: v.object({ n: v.int }) });
const noted = (n: number): Noted => ({ type: 'Noted', data: { n } });
const tenant = uniqueTenant();
const meta = { actor: 'spec', tenant };

let t: TestDb;
let store: EventStore;
let kafka: Kafka;
let admin: Admin;
let topic: string;
const cleanups: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  t = await testDb('t_relay');
  topic = `${uniqueName('t_relay')}.events.v1`;
  store = t.eventStore(registry, { eventsTopic: topic, source: 'vault' });
  kafka = testKafka('keyledger-test-relay');
  admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 3, replicationFactor: 1 }] });
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  await admin.disconnect();
  await dropTopics(kafka, [topic]).catch(() => undefined);
  await t.drop();
});

function relay(options: ConstructorParameters<typeof OutboxRelay>[3] = {}): OutboxRelay {
  const r = new OutboxRelay(t.db, kafka, testLogger('relay'), options);
  cleanups.push(() => r.stop());
  return r;
}

/** Makes the relay's "mark sent" statement take `ms` (0 to turn it off): a window in which its batch is in flight. */
async function slowMarkSent(ms: number): Promise<void> {
  await t.db.query(`CREATE TABLE IF NOT EXISTS ${t.schema}.relay_gate (delay_ms int NOT NULL)`);
  await t.db.query(`DELETE FROM ${t.schema}.relay_gate`);
  await t.db.query(`INSERT INTO ${t.schema}.relay_gate VALUES ($1)`, [ms]);
  await t.db.query(`CREATE OR REPLACE FUNCTION ${t.schema}.relay_gate_fn() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_sleep((SELECT delay_ms FROM ${t.schema}.relay_gate LIMIT 1) / 1000.0); RETURN NULL; END $$`);
  await t.db.query(`CREATE OR REPLACE TRIGGER relay_gate BEFORE INSERT OR UPDATE ON ${t.schema}.outbox_relay_position FOR EACH STATEMENT EXECUTE FUNCTION ${t.schema}.relay_gate_fn()`);
}

describe('OutboxRelay', () => {
  it('publishes committed events only, as envelopes (headers + JSON value) keyed by stream id, and marks them sent', async () => {
    const collector = await collectTopic(kafka, topic);
    cleanups.push(() => collector.stop());
    await relay().start();
    const committed = await store.appendToStream('secret-a', 'no_stream', [noted(1), noted(2)], { metadata: meta });
    await expect(
      store.appendToStream('secret-b', 'no_stream', [noted(3)], {
        metadata: meta,
        inTransaction: async () => {
          throw new Error('rolled back');
        },
      }),
    ).rejects.toThrow('rolled back');
    const after = await store.appendToStream('secret-c', 'no_stream', [noted(4)], { metadata: meta });
    const messages = await collector.waitForCount(3);
    await sleep(200); // a rolled-back event would have arrived by now
    expect(collector.messages).toHaveLength(3);

    const byId = new Map(messages.map((m) => [m.headers.id, m]));
    for (const r of [...committed.events, ...after.events]) {
      const m = byId.get(r.metadata.eventId)!;
      expect(m.key).toBe(r.streamId);
      const env = parseEnvelope(m.value);
      expect(env).toEqual({
        id: r.metadata.eventId,
        type: 'Noted',
        schemaVersion: 1,
        source: 'vault',
        subject: r.streamId,
        time: r.metadata.time,
        correlationId: r.metadata.correlationId,
        causationId: null,
        tenant,
        traceparent: null,
        streamVersion: r.streamVersion,
        data: r.data,
      });
      expect(m.headers).toMatchObject({ id: env.id, type: 'Noted', schemaVersion: '1', source: 'vault', subject: r.streamId, tenant, correlationId: env.correlationId, time: env.time });
    }
    await waitFor(async () => (await unsentOutboxRows(t.db)) === 0, { what: 'the watermark past every row' });
  });

  it('with gzip compression, consumers receive every message intact and in stream order', async () => {
    const collector = await collectTopic(kafka, topic);
    cleanups.push(() => collector.stop());
    await relay({ compression: 'gzip' }).start();
    const appended = [];
    for (let i = 0; i < 30; i++) appended.push(await store.appendToStream(`gz-${i % 3}`, i < 3 ? 'no_stream' : Math.floor(i / 3), [noted(i)], { metadata: meta }));
    const messages = await collector.waitForCount(30);
    const byId = new Map(messages.map((m) => [m.headers.id, m]));
    for (const r of appended.flatMap((a) => a.events)) {
      const env = parseEnvelope(byId.get(r.metadata.eventId)!.value);
      expect(env.data).toEqual(r.data);
      expect(env.streamVersion).toBe(r.streamVersion);
    }
    // Each stream's messages arrive in version order.
    for (const stream of ['gz-0', 'gz-1', 'gz-2']) {
      const versions = messages.filter((m) => m.key === stream).map((m) => parseEnvelope(m.value).streamVersion);
      expect(versions).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
    }
  });

  it('seeks to its watermark through the commit-order index instead of walking the rows already sent', async () => {
    // Regression: the watermark as one record sub-select was only a filter, so every batch read
    // the outbox from its first row (1.7 s per batch with 500,000 rows kept for retention).
    const plan = await t.db.transaction(async (tx) => {
      // An empty table: make the planner show how it would read a large one (in commit order).
      for (const off of ['enable_seqscan', 'enable_bitmapscan', 'enable_sort']) await tx.query(`SET LOCAL ${off} = off`);
      const [row] = await tx.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${relayBatchSql(t.schema)}`, [500, RELAY_POSITION]);
      return JSON.stringify(row?.['QUERY PLAN']);
    });
    const conditions = [...plan.matchAll(/"Index Cond":"([^"]*)"/g)].map((m) => m[1]);
    expect(conditions.some((c) => /ROW\(transaction_id, id\) > ROW\(/.test(c ?? ''))).toBe(true);
  });

  it('cleans up through the commit-order index (a range up to the watermark), not a scan of the rows kept for retention', async () => {
    const plan = await t.db.transaction(async (tx) => {
      for (const off of ['enable_seqscan', 'enable_bitmapscan', 'enable_sort']) await tx.query(`SET LOCAL ${off} = off`);
      const [row] = await tx.query<{ 'QUERY PLAN': unknown }>(`EXPLAIN (FORMAT JSON) ${relayCleanupSql(t.schema)}`, [0, RELAY_POSITION, 5_000]);
      return JSON.stringify(row?.['QUERY PLAN']);
    });
    const conditions = [...plan.matchAll(/"Index Cond":"([^"]*)"/g)].map((m) => m[1]);
    expect(conditions.some((c) => /ROW\(transaction_id, id\) <= ROW\(/.test(c ?? ''))).toBe(true);
  });

  it('deletes in chunks every row its watermark has passed once older than retainSentMs, and keeps the younger and the unsent ones', async () => {
    await store.appendToStream('secret-chunks', 'no_stream', Array.from({ length: 7 }, (_, i) => noted(i + 1)), { metadata: meta });
    const first = relay();
    await first.start();
    await waitFor(async () => (await unsentOutboxRows(t.db)) === 0, { what: 'the watermark past every row' });
    await first.stop();
    const count = async (): Promise<string | undefined> => (await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.schema}.outbox`))[0]?.n;
    const sent = await count();
    // Retention not reached: nothing goes.
    const keeping = relay({ retainSentMs: 3_600_000, cleanupChunk: 2 });
    await keeping.start();
    await keeping.drain();
    await keeping.stop();
    expect(await count()).toBe(sent);
    // A row committed after the watermark (unsent) stays whatever its age.
    await store.appendToStream('secret-chunks', 7, [noted(8)], { metadata: meta });
    // The relay lock held here: the relay cannot publish it, only clean up.
    const holder = await t.db.checkout();
    try {
      await holder.client.query('SELECT pg_advisory_lock(hashtext($1))', [`outbox-relay:${t.schema}`]);
      const cleaning = relay({ retainSentMs: 0, cleanupChunk: 2, pollIntervalMs: 60_000 });
      await cleaning.start();
      await waitFor(async () => ((await count()) === '1' ? true : undefined), { what: 'the sent rows deleted, two at a time' });
      await cleaning.stop();
      expect(await unsentOutboxRows(t.db)).toBe(1);
      await holder.client.query('SELECT pg_advisory_unlock(hashtext($1))', [`outbox-relay:${t.schema}`]);
    } finally {
      holder.release(true);
    }
  });

  it('deletes the rows its watermark has passed once they are older than retainSentMs', async () => {
    await store.appendToStream('secret-old', 'no_stream', [noted(1), noted(2), noted(3)], { metadata: meta });
    const first = relay();
    await first.start();
    await waitFor(async () => (await unsentOutboxRows(t.db)) === 0, { what: 'the watermark past every row' });
    await first.stop();
    // A relay cleans up on its first pass (and every minute after).
    await relay({ retainSentMs: 0 }).start();
    await waitFor(async () => ((await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.schema}.outbox`))[0]?.n === '0' ? true : undefined), { what: 'the sent rows deleted' });
  });

  it('a commit announced while a batch is in flight is published at once, not at the next poll', async () => {
    const collector = await collectTopic(kafka, topic);
    cleanups.push(() => collector.stop());
    await slowMarkSent(1_000);
    // Polling every minute: only LISTEN/NOTIFY can bring the second event out within the wait below.
    await relay({ pollIntervalMs: 60_000 }).start();
    await store.appendToStream('s', 'no_stream', [noted(1)], { metadata: meta });
    await collector.waitForCount(1, 20_000); // published; the relay now sits in its slow "mark sent"
    await store.appendToStream('s', 1, [noted(2)], { metadata: meta }); // its NOTIFY arrives mid-batch
    await slowMarkSent(0);
    await collector.waitForCount(2, 20_000);
  });

  it('two relays side by side keep every stream in order on Kafka', async () => {
    const collector = await collectTopic(kafka, topic);
    cleanups.push(() => collector.stop());
    await Promise.all([relay({ batchSize: 7 }).start(), relay({ batchSize: 7 }).start()]);
    const streams = 12;
    const perStream = 15;
    await Promise.all(
      Array.from({ length: streams }, async (_, s) => {
        for (let n = 1; n <= perStream; n++) await store.appendToStream(`order-${s}`, n - 1 === 0 ? 'no_stream' : n - 1, [noted(n)], { metadata: meta });
      }),
    );
    await collector.waitForCount(streams * perStream);
    const firstSeen = new Map<string, number[]>();
    const ids = new Set<string>();
    for (const m of collector.messages) {
      const env = parseEnvelope(m.value);
      if (ids.has(env.id)) continue; // consumers dedupe by event id
      ids.add(env.id);
      firstSeen.set(env.subject, [...(firstSeen.get(env.subject) ?? []), env.streamVersion!]);
    }
    for (let s = 0; s < streams; s++) expect(firstSeen.get(`order-${s}`)).toEqual(Array.from({ length: perStream }, (_, i) => i + 1));
  });
});
