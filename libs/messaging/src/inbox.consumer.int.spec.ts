import { randomUUID } from 'node:crypto';
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { deadLetterTopic, envelopeHeaders, type Envelope } from '#libs/contracts';
import { metricsRegistry, type Sql } from '#libs/platform';
import { collectTopic, dropTopics, testDb, testKafka, testLogger, uniqueName, uniqueTenant, waitFor, type TestDb } from '#libs/testing';
import { DLQ_HEADERS, InboxConsumer, type InboxConsumerOptions, type InboxGroupHandler, type InboxHandler } from './inbox.consumer.js';
import { ensureTopics } from './topics.admin.js';

jest.setTimeout(120_000);

let t: TestDb;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;
const tenant = uniqueTenant();
const consumers: InboxConsumer[] = [];
const topics: string[] = [];

function envelope(type: string, data: object, id: string = randomUUID()): Envelope {
  return { id, type, schemaVersion: 1, source: 'test', subject: `stream-${type}`, time: new Date().toISOString(), correlationId: randomUUID(), causationId: null, tenant, traceparent: null, data };
}

async function produce(topic: string, ...envs: Envelope[]): Promise<void> {
  await producer.send({ topic, acks: -1, messages: envs.map((e) => ({ key: e.subject, value: JSON.stringify(e), headers: envelopeHeaders(e) })) });
}

async function freshTopic(prefix: string): Promise<{ topic: string; group: string }> {
  const topic = `${uniqueName(prefix)}.events.v1`;
  topics.push(topic);
  await ensureTopics(admin, [topic]);
  return { topic, group: uniqueName('g') };
}

async function startConsumer(options: Omit<InboxConsumerOptions, 'kafka' | 'db' | 'logger'>): Promise<InboxConsumer> {
  const c = new InboxConsumer({ kafka, db: t.db, logger: testLogger('consumer'), ...options });
  consumers.push(c);
  await c.start();
  await c.ready();
  return c;
}

async function committedOffset(group: string, topic: string): Promise<string> {
  const [res] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
  return res!.partitions[0]!.offset;
}

async function topicSize(topic: string): Promise<number> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets.reduce((n, p) => n + Number(p.high) - Number(p.low), 0);
}

beforeAll(async () => {
  t = await testDb('t_msg');
  await t.db.query(`CREATE TABLE ${t.schema}.effects (event_id text NOT NULL, note text)`);
  await t.db.query(`CREATE TABLE ${t.schema}.balance (account text PRIMARY KEY, amount bigint NOT NULL)`);
  kafka = testKafka('keyledger-test-messaging');
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
});

afterAll(async () => {
  await Promise.allSettled(consumers.map((c) => c.stop()));
  await producer?.disconnect();
  await admin?.disconnect();
  await dropTopics(kafka, topics).catch(() => undefined);
  await t?.drop();
});

const insertEffect = (tx: Sql, env: Envelope, note: string): Promise<unknown> => tx.query(`INSERT INTO ${t.schema}.effects (event_id, note) VALUES ($1, $2)`, [env.id, note]);

describe('InboxConsumer', () => {
  it('retries a handler that fails twice, then commits its effect once and the offset after it', async () => {
    const { topic, group } = await freshTopic('t_msg_retry');
    const attempts = new Map<string, number>();
    const handler: InboxHandler = async (env, tx, ctx) => {
      attempts.set(env.id, ctx.attempt);
      await insertEffect(tx, env, `attempt ${ctx.attempt}`); // rolled back when the attempt fails
      if (ctx.attempt < 3) throw new Error('transient');
    };
    const c = await startConsumer({ topic, group, handler, retry: { attempts: 5, baseMs: 20 } });
    const env = envelope('Flaky', { n: 1 });
    await produce(topic, env);
    await waitFor(() => c.stats.handled === 1, { what: 'the message to be handled' });
    expect(attempts.get(env.id)).toBe(3);
    expect(c.stats.retries).toBe(2);
    expect(c.stats.deadLettered).toBe(0);
    expect(await t.db.query(`SELECT note FROM ${t.schema}.effects WHERE event_id = $1`, [env.id])).toEqual([{ note: 'attempt 3' }]);
    expect(await t.db.query(`SELECT consumer FROM ${t.schema}.inbox WHERE event_id = $1`, [env.id])).toEqual([{ consumer: group }]);
    await waitFor(async () => (await committedOffset(group, topic)) === '1', { what: 'the offset commit' });
    expect(await topicSize(c.deadLetterTopic)).toBe(0);
    await c.stop();
  });

  it('sends a message whose handler always fails to the dead-letter topic, with its origin in headers, counts it and moves on', async () => {
    const { topic, group } = await freshTopic('t_msg_dlq');
    class PoisonError extends Error {
      readonly code = 'Poisoned';
    }
    const handler: InboxHandler = async (env, tx) => {
      if (env.type === 'Poison') throw new PoisonError('cannot handle value s3cr3t'); // the message must not reach the DLQ headers
      await insertEffect(tx, env, 'ok');
    };
    const dlq = await collectTopic(kafka, deadLetterTopic(topic, group));
    const c = await startConsumer({ topic, group, handler, retry: { attempts: 3, baseMs: 10 } });
    expect(c.deadLetterTopic).toBe(deadLetterTopic(topic, group));
    const poison = envelope('Poison', { n: 1 });
    const good = envelope('Good', { n: 2 });
    await produce(topic, poison, good);
    const [dead] = await dlq.waitForCount(1);
    await waitFor(() => c.stats.handled === 1, { what: 'the next message' });

    expect(dead!.headers[DLQ_HEADERS.originalTopic]).toBe(topic);
    expect(dead!.headers[DLQ_HEADERS.originalPartition]).toBe('0');
    expect(dead!.headers[DLQ_HEADERS.originalOffset]).toBe('0');
    expect(dead!.headers[DLQ_HEADERS.errorClass]).toBe('PoisonError');
    expect(dead!.headers[DLQ_HEADERS.errorCode]).toBe('Poisoned');
    expect(dead!.headers[DLQ_HEADERS.attempts]).toBe('3');
    expect(dead!.headers[DLQ_HEADERS.consumer]).toBe(group);
    expect(dead!.headers.id).toBe(poison.id); // the original envelope headers ride along
    expect(JSON.stringify(dead!.headers)).not.toContain('s3cr3t');
    expect(JSON.parse(dead!.value!)).toEqual(poison); // the original value, byte for byte
    expect(c.stats.deadLettered).toBe(1);
    expect(c.stats.retries).toBe(2);
    // Not marked handled: once fixed, a replay from the DLQ is processed.
    expect(await t.db.query(`SELECT 1 FROM ${t.schema}.inbox WHERE event_id = $1`, [poison.id])).toEqual([]);
    await waitFor(async () => (await committedOffset(group, topic)) === '2', { what: 'offsets committed past the poison message' });
    const metric = await metricsRegistry.getSingleMetric('keyledger_consumer_dead_letters_total')!.get();
    expect(metric.values.find((v) => v.labels.consumer === group && v.labels.reason === 'handler-failed')?.value).toBe(1);
    await dlq.stop();
    await c.stop();
  });

  it('sends a message that is not a valid envelope to the dead-letter topic at once, without calling the handler', async () => {
    const { topic, group } = await freshTopic('t_msg_invalid');
    let calls = 0;
    const dlq = await collectTopic(kafka, deadLetterTopic(topic, group));
    const c = await startConsumer({
      topic,
      group,
      handler: async () => {
        calls++;
      },
    });
    await producer.send({ topic, messages: [{ key: 'k', value: 'not json' }, { key: 'k', value: JSON.stringify({ id: 'x' }) }] });
    const dead = await dlq.waitForCount(2);
    expect(dead.map((m) => m.headers[DLQ_HEADERS.errorClass])).toEqual(['EnvelopeError', 'EnvelopeError']);
    expect(dead.map((m) => m.headers[DLQ_HEADERS.attempts])).toEqual(['0', '0']);
    expect(dead.map((m) => m.value)).toEqual(['not json', JSON.stringify({ id: 'x' })]);
    expect(calls).toBe(0);
    await dlq.stop();
    await c.stop();
  });

  it('handles messages fetched together in one transaction; a handler failing inside a group costs the others nothing and is retried alone', async () => {
    const { topic, group } = await freshTopic('t_msg_group');
    const account = uniqueName('acct');
    const deposits = Array.from({ length: 60 }, (_, n) => envelope('Deposited', { account, amount: n + 1 }));
    const flaky = deposits[30]!;
    const attempts: number[] = [];
    const handler: InboxHandler = async (env, tx, ctx) => {
      const { amount } = env.data as { amount: number };
      await tx.query(`INSERT INTO ${t.schema}.balance (account, amount) VALUES ($1, $2) ON CONFLICT (account) DO UPDATE SET amount = balance.amount + EXCLUDED.amount`, [account, amount]);
      await insertEffect(tx, env, `attempt ${ctx.attempt}`);
      if (env.id === flaky.id) {
        attempts.push(ctx.attempt);
        if (ctx.attempt < 2) throw new Error('transient');
      }
    };
    // All on the topic before the consumer starts, so they are fetched together; one of them twice.
    await produce(topic, ...deposits.slice(0, 45), deposits[10]!, ...deposits.slice(45));
    const c = await startConsumer({ topic, group, handler, retry: { attempts: 5, baseMs: 20 } });
    await waitFor(() => c.stats.handled === 60 && c.stats.duplicates === 1, { what: 'the burst' });
    await waitFor(async () => (await committedOffset(group, topic)) === '61', { what: 'the offset past the burst' });

    const balance = await t.db.query<{ amount: number }>(`SELECT amount::int AS amount FROM ${t.schema}.balance WHERE account = $1`, [account]);
    expect(balance).toEqual([{ amount: (60 * 61) / 2 }]); // every deposit once: nothing of the rolled-back group stayed
    const effects = await t.db.query<{ n: number; events: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS events FROM ${t.schema}.effects WHERE event_id = ANY($1::text[])`,
      [deposits.map((d) => d.id)],
    );
    expect(effects).toEqual([{ n: 60, events: 60 }]);
    // Its failed run in the group was its first attempt; the second, alone, succeeded.
    expect(attempts).toEqual([1, 2]);
    expect(await t.db.query(`SELECT note FROM ${t.schema}.effects WHERE event_id = $1`, [flaky.id])).toEqual([{ note: 'attempt 2' }]);
    expect(c.stats.retries).toBe(1);
    // Grouped: a transaction's rows share its start time (now()); 60 messages took far fewer transactions.
    const [tx] = await t.db.query<{ n: number }>(`SELECT count(DISTINCT handled_at)::int AS n FROM ${t.schema}.inbox WHERE consumer = $1`, [group]);
    expect(tx!.n).toBeLessThan(10);
    await c.stop();
  });

  it('a group handler takes a fetched group in one call (duplicates left out); when it fails, the group runs message by message and only the failing message is retried', async () => {
    const { topic, group } = await freshTopic('t_msg_group_handler');
    const account = uniqueName('acct');
    const deposits = Array.from({ length: 40 }, (_, n) => envelope('Deposited', { account, amount: n + 1 }));
    const late = Array.from({ length: 40 }, (_, n) => envelope('Deposited', { account, amount: 1000 + n }));
    const poison = late[17]!;
    const add = (tx: Sql, env: Envelope, note: string): Promise<unknown> =>
      Promise.all([
        tx.query(`INSERT INTO ${t.schema}.balance (account, amount) VALUES ($1, $2) ON CONFLICT (account) DO UPDATE SET amount = balance.amount + EXCLUDED.amount`, [account, (env.data as { amount: number }).amount]),
        insertEffect(tx, env, note),
      ]);
    const single: number[] = [];
    const handler: InboxHandler = async (env, tx, ctx) => {
      if (env.id === poison.id) {
        single.push(ctx.attempt);
        if (ctx.attempt < 2) throw new Error('not yet');
      }
      await add(tx, env, `single ${ctx.attempt}`);
    };
    const calls: number[] = [];
    const groupHandler: InboxGroupHandler = async (messages, tx) => {
      calls.push(messages.length);
      for (const m of messages) {
        expect(m.context.attempt).toBe(1);
        // The group's effects are written before it fails: the rollback must take them all back.
        await add(tx, m.envelope, 'group');
        if (m.envelope.id === poison.id) throw new Error('poison in the group');
      }
    };
    await produce(topic, ...deposits, deposits[5]!);
    const c = await startConsumer({ topic, group, handler, groupHandler, retry: { attempts: 5, baseMs: 20 } });
    await waitFor(() => c.stats.handled === 40 && c.stats.duplicates === 1, { what: 'the first burst' });
    // Every message went through the group handler, in a few calls; the duplicate never reached it.
    expect(calls.reduce((a, b) => a + b, 0)).toBe(40);
    expect(calls.length).toBeLessThan(10);
    expect(single).toEqual([]);

    await produce(topic, ...late);
    await waitFor(() => c.stats.handled === 80, { what: 'the second burst' });
    await waitFor(async () => (await committedOffset(group, topic)) === '81', { what: 'the offset past both bursts' });
    const balance = await t.db.query<{ amount: number }>(`SELECT amount::int AS amount FROM ${t.schema}.balance WHERE account = $1`, [account]);
    expect(balance).toEqual([{ amount: (40 * 41) / 2 + 40 * 1000 + (39 * 40) / 2 }]);
    const effects = await t.db.query<{ n: number; events: number }>(
      `SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS events FROM ${t.schema}.effects WHERE event_id = ANY($1::text[])`,
      [[...deposits, ...late].map((d) => d.id)],
    );
    expect(effects).toEqual([{ n: 80, events: 80 }]);
    // The group with the poison message was rolled back and went message by message: the poison
    // failed once there (attempt 1, no attempt counted for the group handler) and was retried alone.
    expect(single).toEqual([1, 2]);
    expect(await t.db.query(`SELECT note FROM ${t.schema}.effects WHERE event_id = $1`, [poison.id])).toEqual([{ note: 'single 2' }]);
    expect(c.stats.retries).toBe(1);
    await c.stop();
  });

  it('redelivered messages change nothing: duplicates on the topic and a full replay of the group are skipped by the inbox', async () => {
    const { topic, group } = await freshTopic('t_msg_redeliver');
    // A deliberately non-idempotent effect: adding to a balance.
    const handler: InboxHandler = async (env, tx) => {
      const { account, amount } = env.data as { account: string; amount: number };
      await tx.query(`INSERT INTO ${t.schema}.balance (account, amount) VALUES ($1, $2) ON CONFLICT (account) DO UPDATE SET amount = balance.amount + EXCLUDED.amount`, [account, amount]);
    };
    const account = uniqueName('acct');
    const deposits = [10, 20, 30].map((amount) => envelope('Deposited', { account, amount }));
    // The producer side retried: every event is on the topic twice.
    await produce(topic, ...deposits, ...deposits);
    const first = await startConsumer({ topic, group, handler });
    await waitFor(() => first.stats.handled + first.stats.duplicates === 6, { what: 'all six deliveries' });
    expect(first.stats.handled).toBe(3);
    expect(first.stats.duplicates).toBe(3);
    const balance = async (): Promise<unknown> => (await t.db.query(`SELECT amount::int AS amount FROM ${t.schema}.balance WHERE account = $1`, [account]))[0];
    expect(await balance()).toEqual({ amount: 60 });
    await first.stop();

    // Rewind the group: Kafka redelivers everything.
    await admin.setOffsets({ groupId: group, topic, partitions: [{ partition: 0, offset: '0' }] });
    const second = await startConsumer({ topic, group, handler });
    await waitFor(() => second.stats.duplicates === 6, { what: 'the redeliveries' });
    expect(second.stats.handled).toBe(0);
    expect(await balance()).toEqual({ amount: 60 });
    await second.stop();
  });
});
