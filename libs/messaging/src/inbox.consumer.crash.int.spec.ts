/**
 * The inbox consumer's groups under kill -9 (issue #16: a test for every new batching stage).
 * A consumer in a child process handles a burst in groups (one transaction and one offset
 * commit per group) and is killed with SIGKILL mid-burst: a group in flight is rolled back by
 * PostgreSQL, a group committed whose offset was not is redelivered and skipped by the inbox.
 * A second consumer of the same group finishes the burst; every message's effect is there
 * exactly once. How many redeliveries it skipped is printed (it depends on where the kill
 * fell), not asserted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { envelopeHeaders, type Envelope } from '#libs/contracts';
import { REPO_ROOT } from '#libs/platform';
import { dropTopics, testDb, testKafka, testLogger, uniqueName, uniqueTenant, waitFor, type TestDb } from '#libs/testing';
import { InboxConsumer } from './inbox.consumer.js';
import { ensureTopics } from './topics.admin.js';

jest.setTimeout(180_000);

const childScript = join(REPO_ROOT, 'dist/libs/testing/src/inbox-consumer.child.js');
const MESSAGES = 4_000;
const tenant = uniqueTenant();

let t: TestDb;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;
const children: ChildProcess[] = [];
const consumers: InboxConsumer[] = [];
const topics: string[] = [];

function startChild(args: string[]): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--enable-source-maps', childScript, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready')) resolve(child);
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code, signal) => {
      if (signal !== 'SIGKILL') reject(new Error(`inbox consumer child exited early (${code}): ${err.slice(0, 500)}`));
    });
  });
}

beforeAll(async () => {
  expect(existsSync(childScript)).toBe(true);
  t = await testDb('t_inbox_crash');
  await t.db.query(`CREATE TABLE ${t.schema}.balance (account text PRIMARY KEY, amount bigint NOT NULL)`);
  await t.db.query(`CREATE TABLE ${t.schema}.effects (event_id text NOT NULL, seq bigint GENERATED ALWAYS AS IDENTITY)`);
  kafka = testKafka('keyledger-test-inbox-crash');
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.allSettled(consumers.map((c) => c.stop()));
  await producer?.disconnect();
  await admin?.disconnect();
  await dropTopics(kafka, topics).catch(() => undefined);
  await t?.drop();
});

describe('InboxConsumer groups under kill -9', () => {
  it('a consumer killed mid-burst loses nothing and doubles nothing: its successor finishes, every effect exactly once', async () => {
    const topic = `${uniqueName('t_inbox_crash')}.events.v1`;
    const group = uniqueName('g');
    topics.push(topic);
    await ensureTopics(admin, [topic]);
    const account = uniqueName('acct');
    const envelopes: Envelope[] = Array.from({ length: MESSAGES }, (_, n) => ({
      id: randomUUID(),
      type: 'Deposited',
      schemaVersion: 1,
      source: 'test',
      subject: account,
      time: new Date().toISOString(),
      correlationId: randomUUID(),
      causationId: null,
      tenant,
      traceparent: null,
      data: { account, amount: n + 1 },
    }));
    for (let i = 0; i < MESSAGES; i += 500) {
      await producer.send({ topic, acks: -1, messages: envelopes.slice(i, i + 500).map((e) => ({ key: e.subject, value: JSON.stringify(e), headers: envelopeHeaders(e) })) });
    }
    const handledCount = async (): Promise<number> => Number((await t.db.query<{ n: string }>(`SELECT count(*) AS n FROM ${t.schema}.inbox WHERE consumer = $1`, [group]))[0]!.n);

    const child = await startChild([t.schema, topic, group, '64']);
    await waitFor(async () => (await handledCount()) >= MESSAGES / 4, { what: 'a quarter of the burst handled by the child', timeoutMs: 90_000, intervalMs: 20 });
    child.kill('SIGKILL');
    await new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
    const atKill = await handledCount();
    const killedAt = (await t.db.query<{ at: string }>('SELECT now()::text AS at'))[0]!.at;
    expect(atKill).toBeLessThan(MESSAGES); // killed mid-burst, not after it

    // Its successor in the same group: resumes from the last committed offset once the dead member's session expires.
    const successor = new InboxConsumer({
      kafka,
      db: t.db,
      topic,
      group,
      logger: testLogger('inbox-successor'),
      ensureDeadLetterTopic: false,
      handler: async (env, tx) => {
        const { amount } = env.data as { amount: number };
        await tx.query(`INSERT INTO ${t.schema}.balance (account, amount) VALUES ($1, $2) ON CONFLICT (account) DO UPDATE SET amount = balance.amount + EXCLUDED.amount`, [account, amount]);
        await tx.query(`INSERT INTO ${t.schema}.effects (event_id) VALUES ($1)`, [env.id]);
      },
    });
    consumers.push(successor);
    await successor.start();
    await waitFor(async () => (await handledCount()) === MESSAGES, { what: 'the whole burst handled', timeoutMs: 120_000, intervalMs: 100 });
    await waitFor(async () => {
      const [res] = await admin.fetchOffsets({ groupId: group, topics: [topic] });
      return res!.partitions.reduce((n, p) => n + Math.max(0, Number(p.offset)), 0) === MESSAGES;
    }, { what: 'offsets committed to the end', timeoutMs: 30_000 });

    const [effects] = await t.db.query<{ n: number; events: number }>(`SELECT count(*)::int AS n, count(DISTINCT event_id)::int AS events FROM ${t.schema}.effects`);
    expect(effects).toEqual({ n: MESSAGES, events: MESSAGES });
    const [balance] = await t.db.query<{ amount: string }>(`SELECT amount::text AS amount FROM ${t.schema}.balance WHERE account = $1`, [account]);
    expect(balance!.amount).toBe(String((MESSAGES * (MESSAGES + 1)) / 2));
    const [groups] = await t.db.query<{ n: number }>(`SELECT count(DISTINCT handled_at)::int AS n FROM ${t.schema}.inbox WHERE consumer = $1`, [group]);
    expect(groups!.n).toBeLessThan(MESSAGES / 4); // handled in groups, by both processes
    // The successor's pace once it had joined: its first group's transaction start to its last's.
    const [pace] = await t.db.query<{ n: number; seconds: number }>(
      `SELECT count(*)::int AS n, extract(epoch FROM max(handled_at) - min(handled_at))::float8 AS seconds FROM ${t.schema}.inbox WHERE consumer = $1 AND handled_at > $2::timestamptz`,
      [group, killedAt],
    );
    process.stdout.write(
      `[inbox crash] killed after ${atKill} of ${MESSAGES} messages; successor handled ${successor.stats.handled} (${pace!.n} in ${pace!.seconds.toFixed(2)} s from its first group to its last: ${Math.round(pace!.n / Math.max(pace!.seconds, 0.001))}/s), skipped ${successor.stats.duplicates} redelivered; ${groups!.n} transactions in all\n`,
    );
  });
});
