/**
 * The event-sourcing spine, measured on the local stack:
 *
 * - append throughput, 1-event transactions, with 1 and 32 concurrent writers (each writer
 *   owns a stream and appends with its exact expected version; outbox rows are written as in
 *   production; the relay is off, then on for a third figure);
 * - commit-to-Kafka latency: from `appendToStream` resolving to a consumer receiving the
 *   message, through the outbox relay (LISTEN/NOTIFY), at a steady rate;
 * - projection rebuild into Elasticsearch: N events (BENCH_EVENTS, default 1,000,000)
 *   generated with one SQL statement per 100k, then `ProjectionRunner.rebuild`.
 *
 * Knobs: BENCH_EVENTS, BENCH_APPEND_SECONDS (10), BENCH_LATENCY_SECONDS (10),
 * BENCH_LATENCY_RATE (events/s, 200), BENCH_REBUILD_BATCH (5000), BENCH_REBUILD_CONCURRENCY (2),
 * BENCH_SKIP (comma list of append,latency,rebuild).
 */
import { randomUUID } from 'node:crypto';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type { Kafka } from 'kafkajs';
import { EventRegistry, v, type Event } from '#libs/kernel';
import { EventStore, OutboxRelay, spineDdl, type AppendResult, type ExpectedVersion } from '#libs/eventstore';
import { ensureTopics } from '#libs/messaging';
import { Database, keyledgerHome, metricsRegistry } from '#libs/platform';
import { cpuPerRequest, cpuSnapshot } from './process-cpu.js';
import { ProjectionRunner, type EsProjection } from '#libs/projections';
import { dropTopics, stackEnv, testEs, testKafka, testLogger, uniqueName } from '#libs/testing';

const envInt = (name: string, def: number): number => {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? def : Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return Math.floor(n);
};

const registry = new EventRegistry().define({
  type: 'SecretVersionCreated',
  schemaVersion: 1,
  validate: v.object({ name: v.nonEmpty, version: v.nonEmpty, contentType: v.string, enabled: v.boolean }),
});
const event = (name: string, n: number): { type: 'SecretVersionCreated'; data: { name: string; version: string; contentType: string; enabled: boolean } } => ({
  type: 'SecretVersionCreated',
  data: { name, version: `v${n}`, contentType: 'text/plain', enabled: true },
});
const meta = { actor: 'bench', tenant: 'bench-tenant' };
const log = (msg: string): void => void process.stderr.write(`  ${msg}\n`);

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return Math.round(sorted[i]! * 100) / 100;
}

function summary(samples: number[]): { p50: number; p90: number; p99: number; max: number; samples: number } {
  const s = [...samples].sort((a, b) => a - b);
  return { p50: percentile(s, 50), p90: percentile(s, 90), p99: percentile(s, 99), max: percentile(s, 100), samples: s.length };
}

/** Statements this process sent to a schema so far (the Database counter). */
async function statementsOf(schema: string): Promise<number> {
  const metric = (await metricsRegistry.getSingleMetric('keyledger_db_statements_total')?.get())?.values ?? [];
  return metric.filter((v) => v.labels.schema === schema).reduce((t, v) => t + v.value, 0);
}

async function throwawaySchema(prefix: string, max: number): Promise<Database> {
  const db = await Database.connect(stackEnv().databaseUrl, uniqueName(prefix), { max, applicationName: 'keyledger-bench' });
  await db.query(spineDdl(db.schema));
  return db;
}

async function dropSchema(db: Database): Promise<void> {
  await db.query(`DROP SCHEMA IF EXISTS ${db.schema} CASCADE`).catch(() => undefined);
  await db.close();
}

type AppendFigures = { events: number; seconds: number; eventsPerSecond: number; latencyMs: ReturnType<typeof summary>; statementsPerAppend: number; postgresCpuUsPerAppend: number; clientCpuUsPerAppend: number };

async function appendFor(store: EventStore, writers: number, seconds: number): Promise<AppendFigures> {
  const statementsBefore = await statementsOf(store.db.schema);
  const pgBefore = cpuSnapshot(keyledgerHome());
  const latencies: number[] = [];
  let events = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const run = randomUUID().slice(0, 8);
  await Promise.all(
    Array.from({ length: writers }, async (_, w) => {
      const stream = `bench-${run}-${w}`;
      let expected: ExpectedVersion = 'no_stream';
      for (let n = 1; performance.now() < deadline; n++) {
        const t0 = performance.now();
        const res: AppendResult<Event> = await store.appendToStream(stream, expected, [event(stream, n)], { metadata: meta });
        latencies.push(performance.now() - t0);
        expected = res.nextExpectedVersion;
        events++;
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const cpu = cpuPerRequest(pgBefore, cpuSnapshot(keyledgerHome()), events);
  const statements = (await statementsOf(store.db.schema)) - statementsBefore;
  return {
    events,
    seconds: Math.round(elapsed * 100) / 100,
    eventsPerSecond: Math.round(events / elapsed),
    latencyMs: summary(latencies),
    statementsPerAppend: Math.round((statements / Math.max(1, events)) * 100) / 100,
    postgresCpuUsPerAppend: cpu.postgres,
    clientCpuUsPerAppend: cpu.client,
  };
}

async function appendThroughput(kafka: Kafka): Promise<Record<string, unknown>> {
  const seconds = envInt('BENCH_APPEND_SECONDS', 10);
  const db = await throwawaySchema('bench_append', 40);
  try {
    const store = new EventStore(db, registry, 'bench', `${db.schema}.events.v1`);
    log('append: warm-up (2 s, 32 writers)');
    await appendFor(store, 32, 2);
    log(`append: 1 writer, ${seconds} s`);
    const one = await appendFor(store, 1, seconds);
    log(`append: 32 writers, ${seconds} s`);
    const many = await appendFor(store, 32, seconds);
    // The same without group commit (one transaction of 7 statements per append), for comparison.
    const solo = new EventStore(db, registry, 'bench', `${db.schema}.events.v1`, { groupCommit: false });
    log(`append: 1 writer, no group commit, ${seconds} s`);
    const oneSolo = await appendFor(solo, 1, seconds);
    log(`append: 32 writers, no group commit, ${seconds} s`);
    const manySolo = await appendFor(solo, 32, seconds);
    // Same again with the relay draining the outbox to Kafka, as in a running service.
    const admin = kafka.admin();
    await admin.connect();
    await ensureTopics(admin, [store.eventsTopic], 3);
    await admin.disconnect();
    await db.query(`UPDATE ${db.schema}.outbox SET sent_at = now() WHERE sent_at IS NULL`);
    const relay = new OutboxRelay(db, kafka, testLogger('bench-relay'));
    await relay.start();
    log(`append: 32 writers with the relay publishing, ${seconds} s`);
    const withRelay = await appendFor(store, 32, seconds);
    await relay.stop();
    await dropTopics(kafka, [store.eventsTopic]).catch(() => undefined);
    const [pg] = await db.query<{ server_version: string; synchronous_commit: string; max_connections: string }>(
      `SELECT current_setting('server_version') AS server_version, current_setting('synchronous_commit') AS synchronous_commit, current_setting('max_connections') AS max_connections`,
    );
    return {
      writers1: one,
      writers32: many,
      writers32WithRelay: withRelay,
      withoutGroupCommit: { writers1: oneSolo, writers32: manySolo },
      postgres: pg,
    };
  } finally {
    await dropSchema(db);
  }
}

async function commitToKafkaLatency(kafka: Kafka): Promise<Record<string, unknown>> {
  const seconds = envInt('BENCH_LATENCY_SECONDS', 10);
  const rate = envInt('BENCH_LATENCY_RATE', 200);
  const writers = 4;
  const db = await throwawaySchema('bench_latency', 10);
  const topic = `${db.schema}.events.v1`;
  const admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [topic], 3);
  await admin.disconnect();
  const store = new EventStore(db, registry, 'bench', topic);
  const relay = new OutboxRelay(db, kafka, testLogger('bench-relay'));
  const consumer = kafka.consumer({ groupId: uniqueName('bench'), maxWaitTimeInMs: 100 });
  const committedAt = new Map<string, number>();
  const receivedAt = new Map<string, number>();
  try {
    await consumer.connect();
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let joined!: () => void;
    const ready = new Promise<void>((r) => (joined = r));
    consumer.on(consumer.events.GROUP_JOIN, () => joined());
    await consumer.run({
      eachMessage: async ({ message }) => {
        const id = message.headers?.id?.toString();
        if (id && !receivedAt.has(id)) receivedAt.set(id, performance.now());
      },
    });
    await ready;
    await relay.start();
    // Warm-up: until one event makes the round trip.
    const warm = await store.appendToStream(`warm-${randomUUID()}`, 'no_stream', [event('warm', 0)], { metadata: meta });
    for (let i = 0; i < 300 && !receivedAt.has(warm.events[0]!.metadata.eventId); i++) await new Promise((r) => setTimeout(r, 100));
    receivedAt.clear();

    log(`latency: ${rate} events/s for ${seconds} s (${writers} writers), append resolved -> consumer receipt`);
    const interval = (1000 * writers) / rate;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        const stream = `lat-${w}-${randomUUID().slice(0, 8)}`;
        let expected: ExpectedVersion = 'no_stream';
        for (let n = 0; ; n++) {
          const due = started + w * (interval / writers) + n * interval;
          if (due > started + seconds * 1000) return;
          const wait = due - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const res: AppendResult<Event> = await store.appendToStream(stream, expected, [event(stream, n)], { metadata: meta });
          committedAt.set(res.events[0]!.metadata.eventId, performance.now());
          expected = res.nextExpectedVersion;
        }
      }),
    );
    for (let i = 0; i < 300 && receivedAt.size < committedAt.size; i++) await new Promise((r) => setTimeout(r, 100));
    const latencies: number[] = [];
    for (const [id, t0] of committedAt) {
      const t1 = receivedAt.get(id);
      if (t1 !== undefined) latencies.push(Math.max(0, t1 - t0));
    }
    return { rateTarget: rate, appended: committedAt.size, received: latencies.length, latencyMs: summary(latencies) };
  } finally {
    await relay.stop();
    await consumer.disconnect().catch(() => undefined);
    await dropTopics(kafka, [topic]).catch(() => undefined);
    await dropSchema(db);
  }
}

async function rebuildRate(es: EsClient): Promise<Record<string, unknown>> {
  const total = envInt('BENCH_EVENTS', 1_000_000);
  const batchSize = envInt('BENCH_REBUILD_BATCH', 5_000);
  const concurrency = envInt('BENCH_REBUILD_CONCURRENCY', 2);
  const db = await throwawaySchema('bench_rebuild', 10);
  const alias = uniqueName('bench_secret_versions');
  try {
    // Setup is not the bottleneck: one INSERT … SELECT FROM generate_series per 100k events.
    const streams = Math.max(1, Math.floor(total / 10));
    const genStarted = performance.now();
    for (let from = 0; from < total; from += 100_000) {
      const to = Math.min(total, from + 100_000) - 1;
      await db.query(
        `INSERT INTO ${db.schema}.events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
         SELECT 'secret-' || (g % $3), (g / $3) + 1, id, 'SecretVersionCreated', 1,
                jsonb_build_object('name', 'secret-' || (g % $3), 'version', md5(g::text), 'contentType', 'text/plain', 'enabled', true),
                jsonb_build_object('eventId', id, 'correlationId', id, 'causationId', null, 'actor', 'bench', 'tenant', 'tenant-' || (g % 10), 'time', to_char(now(), 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))
           FROM (SELECT g, gen_random_uuid() AS id FROM generate_series($1::bigint, $2::bigint) AS g) s`,
        [from, to, streams],
      );
    }
    await db.query(`INSERT INTO ${db.schema}.streams (stream_id, version) SELECT stream_id, max(stream_version) FROM ${db.schema}.events GROUP BY stream_id`);
    await db.query(`ANALYZE ${db.schema}.events`);
    const generateSeconds = Math.round((performance.now() - genStarted) / 100) / 10;
    log(`rebuild: generated ${total.toLocaleString('en-US')} events in ${generateSeconds} s`);

    const projection: EsProjection = {
      kind: 'elasticsearch',
      name: 'bench-secret-versions',
      alias,
      independentDocuments: true, // one document per event (`_id` = event id)
      settings: { number_of_shards: 1, number_of_replicas: 0 },
      mappings: {
        dynamic: 'strict',
        properties: {
          name: { type: 'keyword' },
          version: { type: 'keyword' },
          contentType: { type: 'keyword' },
          enabled: { type: 'boolean' },
          tenant: { type: 'keyword' },
          streamId: { type: 'keyword' },
          streamVersion: { type: 'long' },
          time: { type: 'date' },
        },
      },
      toOperations: (events) =>
        events.map((e) => {
          const d = e.data as { name: string; version: string; contentType: string; enabled: boolean };
          return { op: 'index', id: e.eventId, document: { name: d.name, version: d.version, contentType: d.contentType, enabled: d.enabled, tenant: e.tenant, streamId: e.streamId, streamVersion: e.streamVersion, time: e.time } };
        }),
    };
    const store = new EventStore(db, registry, 'bench');
    const runner = new ProjectionRunner(store, projection, { es, logger: testLogger('bench-projection') });
    await runner.init(); // the live index, v1, behind the alias
    const result = await runner.rebuild({
      batchSize,
      concurrency,
      progressIntervalMs: 5_000,
      onProgress: (p) => log(`rebuild: ${p.phase} ${p.events.toLocaleString('en-US')} events, ${p.eventsPerSecond.toLocaleString('en-US')}/s`),
    });
    const docs = (await es.count({ index: alias })).count;
    return {
      events: total,
      documents: docs,
      batchSize,
      bulkConcurrency: concurrency,
      generateSeconds,
      rebuildSeconds: Math.round(result.durationMs / 100) / 10,
      eventsPerSecond: result.eventsPerSecond,
      index: result.index,
    };
  } finally {
    await es.indices.delete({ index: `${alias}-v*`, allow_no_indices: true, ignore_unavailable: true }).catch(() => undefined);
    await es.indices.deleteIndexTemplate({ name: `${alias}-projection` }).catch(() => undefined);
    await dropSchema(db);
  }
}

export async function run(): Promise<Record<string, unknown>> {
  const skip = new Set((process.env.BENCH_SKIP ?? '').split(',').map((s) => s.trim()));
  const kafka = testKafka('keyledger-bench');
  const es = testEs();
  const figures: Record<string, unknown> = {};
  try {
    if (!skip.has('append')) figures.append = await appendThroughput(kafka);
    if (!skip.has('latency')) figures.commitToKafka = await commitToKafkaLatency(kafka);
    if (!skip.has('rebuild')) figures.rebuild = await rebuildRate(es);
  } finally {
    await es.close();
  }
  figures.targets = { appendsPerSecondAt32Writers: 5_000, commitToKafkaP99Ms: 50, rebuildEventsPerSecond: 20_000 };
  return figures;
}
