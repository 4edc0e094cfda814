/**
 * KILLS THE SHARED KAFKA BROKER (kill -9, then deploy/local/kafka/kafka.sh start): run it only
 * inside the e2e lock. test/sequencer.cjs runs the *.kafka-outage.int.spec files last, and the
 * broker is started again in afterAll whatever happens.
 *
 * A supervised inbox consumer loses its broker to a kill -9, so its kafkajs consumer crashes
 * without leaving its group; the supervisor replaces it with a fresh consumer, which joins
 * under a new member id. The coordinator reloads the group with the abandoned member in it and
 * would hold the new member's join until that member's session timeout (30 s) ran out; the
 * supervisor removes the abandoned member instead. The spec proves the consumer takes what is
 * published after the restart, that nothing published before or after is lost or handled
 * twice, and that the abandoned member was removed (not waited out). How long the rejoin took
 * is printed, not asserted.
 */
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { pino } from 'pino';
import { deadLetterTopic, envelopeHeaders, type Envelope } from '#libs/contracts';
import { dropTopics, localKafkaBroker, testDb, testKafka, uniqueName, uniqueTenant, waitFor, type TestDb } from '#libs/testing';
import { InboxConsumer } from './inbox.consumer.js';
import { ensureTopics } from './topics.admin.js';

jest.setTimeout(420_000);

const broker = localKafkaBroker;
const tenant = uniqueTenant();
const topic = `${uniqueName('t_rejoin')}.events.v1`;
const group = uniqueName('t_rejoin_g');
const SESSION_TIMEOUT_MS = 30_000;

let t: TestDb;
let kafka: Kafka;
let admin: Admin;
let producer: Producer;
let consumer: InboxConsumer;
let brokerDown = false;
const logLines: { msg?: string; memberId?: string; outcome?: string; time?: number }[] = [];

function envelope(n: number): Envelope {
  return { id: randomUUID(), type: 'Noted', schemaVersion: 1, source: 'test', subject: `s-${n}`, time: new Date().toISOString(), correlationId: randomUUID(), causationId: null, tenant, traceparent: null, data: { n } };
}

/** Publishes the events, retried while the producer reconnects to a restarted broker. */
async function publish(envs: readonly Envelope[]): Promise<void> {
  await waitFor(
    async () => {
      await producer.send({ topic, acks: -1, messages: envs.map((e) => ({ key: e.subject, value: JSON.stringify(e), headers: envelopeHeaders(e) })) });
      return true;
    },
    { timeoutMs: 120_000, intervalMs: 500, what: 'the events to be published' },
  );
}

/** How many times each event's effect was committed (the handler writes one row per call, inside the inbox transaction). */
async function effects(): Promise<Map<string, number>> {
  const rows = await t.db.query<{ event_id: string; n: string }>(`SELECT event_id, count(*)::text AS n FROM ${t.schema}.effects GROUP BY event_id`);
  return new Map(rows.map((r) => [r.event_id, Number(r.n)]));
}

function brokerPid(status: string): number {
  const m = /running \(pid (\d+)/.exec(status);
  if (!m) throw new Error(`kafka is not running: ${status.trim()}`);
  return Number(m[1]);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  t = await testDb('t_rejoin');
  await t.db.query(`CREATE TABLE ${t.schema}.effects (event_id text NOT NULL)`);
  kafka = testKafka('consumer-rejoin-test');
  admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [topic]);
  producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as (typeof logLines)[number]);
      done();
    },
  });
  consumer = new InboxConsumer({
    kafka,
    db: t.db,
    topic,
    group,
    logger: pino({ level: 'info' }, sink),
    sessionTimeoutMs: SESSION_TIMEOUT_MS,
    handler: async (env, tx) => {
      await tx.query(`INSERT INTO ${t.schema}.effects (event_id) VALUES ($1)`, [env.id]);
    },
  });
  await consumer.start();
  await consumer.ready();
});

afterAll(async () => {
  if (brokerDown) {
    await broker('start').catch(() => undefined);
    await broker('wait').catch(() => undefined);
  }
  await consumer?.stop().catch(() => undefined);
  await producer?.disconnect().catch(() => undefined);
  await admin?.deleteGroups([group]).catch(() => undefined);
  await admin?.disconnect().catch(() => undefined);
  await dropTopics(kafka, [topic, deadLetterTopic(topic, group)]).catch(() => undefined);
  await t?.drop();
});

describe('a supervised consumer after a kill -9 of the broker', () => {
  it('rejoins by removing its abandoned member, takes what is published after the restart, and loses or repeats nothing', async () => {
    const before = Array.from({ length: 20 }, (_, i) => envelope(i));
    await publish(before);
    await waitFor(async () => (await effects()).size === before.length, { timeoutMs: 60_000, what: 'the events published before the kill' });

    const pid = brokerPid(await broker('status'));
    brokerDown = true;
    process.kill(pid, 'SIGKILL');
    const killedAt = Date.now();
    await waitFor(() => !alive(pid), { timeoutMs: 10_000, intervalMs: 50, what: 'the broker to be gone' });
    await waitFor(() => consumer.status.state === 'recovering', { timeoutMs: 120_000, intervalMs: 250, what: 'the consumer to notice the broker is gone' });
    expect(() => consumer.health()).toThrow(/degraded: disconnected/);

    await broker('start');
    await broker('wait');
    const brokerBackAt = Date.now();
    brokerDown = false;

    const after = Array.from({ length: 20 }, (_, i) => envelope(100 + i));
    await publish(after);
    const publishedAt = Date.now();
    await waitFor(async () => (await effects()).size === before.length + after.length, { timeoutMs: 180_000, intervalMs: 200, what: 'the events published after the restart to be handled' });
    const handledAt = Date.now();
    await waitFor(() => consumer.status.state === 'joined', { timeoutMs: 60_000, what: 'the consumer to report itself joined' });

    // Nothing lost, nothing handled twice (redeliveries around the restart are inbox duplicates).
    const done = await effects();
    for (const e of [...before, ...after]) expect(done.get(e.id)).toBe(1);
    expect(done.size).toBe(before.length + after.length);
    expect(consumer.stats.deadLettered).toBe(0);
    expect(consumer.status.restarts).toBeGreaterThan(0);
    expect(consumer.health()).toMatch(/consuming \(\d+ restart\(s\) since start\)/);

    // The abandoned generation's member was removed (not waited out), and only one member is left.
    const removed = logLines.filter((l) => l.msg?.startsWith("removed the abandoned generation's member"));
    expect(removed.length).toBeGreaterThan(0);
    const [described] = (await admin.describeGroups([group])).groups;
    expect(described?.members).toHaveLength(1);

    const rejoined = logLines.find((l) => l.msg === 'kafka consumer recovered: rejoined its group' && (l.time ?? 0) >= brokerBackAt);
    const s = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
    process.stderr.write(
      `[consumer rejoin] broker back ${s(brokerBackAt - killedAt)} after the kill -9; ` +
        `consumer rejoined ${rejoined?.time !== undefined ? s(rejoined.time - brokerBackAt) : 'n/a'} and handled the ${after.length} new events ${s(handledAt - brokerBackAt)} after the broker was back ` +
        `(published ${s(publishedAt - brokerBackAt)} after); session timeout ${s(SESSION_TIMEOUT_MS)}; ${consumer.status.restarts} restart(s), ${consumer.stats.duplicates} redelivered duplicate(s) skipped\n`,
    );
  });
});
