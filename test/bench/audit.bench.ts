/**
 * The audit pipeline, measured against the running audit service (npm start or the e2e
 * services): records go to keyledger.audit.records.v1 exactly as a service's outbox relay
 * publishes them, and are followed into the ledger (PostgreSQL) and the search index.
 *
 * - sustained: BENCH_AUDIT_RATE records/s (default 2,000, the target) for BENCH_AUDIT_SECONDS (20): how
 *   many records/s the ledger and the index keep up with, and for a sample of records (one
 *   every 100 ms) the latency from the Kafka acknowledgement to the ledger commit and to being
 *   searchable through the audit alias (p50/p99); the watcher polls the alias every 50 ms for
 *   the pending samples only (one sample every 100 ms), so measuring adds little load;
 * - real operations: meanwhile, a token request to identity every 250 ms; latency from its
 *   HTTP response to its audit record being searchable (this path includes identity's
 *   group-committed audit write and its outbox relay);
 * - burst: BENCH_AUDIT_BURST records (default 30,000) published at once: records/s through the
 *   ledger and through the index until the last one is in.
 *
 * - with BENCH_AUDIT_WITH_SECRETS=1, the secrets benchmark (autocannon GET then SET on the
 *   vault, 64 connections, audit on) runs at the same time: its own audit records flow through
 *   the same pipeline, and `allChainsLedgerPerSecond` counts every record the ledger took.
 *
 * Records use a bench tenant of their own (one chain) so the figures are not mixed with other
 * traffic; the ledger keeps them (it is append-only). Knobs: BENCH_AUDIT_RATE,
 * BENCH_AUDIT_SECONDS, BENCH_AUDIT_BURST, BENCH_AUDIT_WITH_SECRETS, AUDIT_INSTANCE (schema),
 * AUDIT_ES_ALIAS.
 */
import { randomUUID } from 'node:crypto';
import https from 'node:https';
import type { Producer } from 'kafkajs';
import pg from 'pg';
import { TOPICS, type AuditRecord } from '#libs/contracts';
import { auditMessage } from '#libs/eventstore';
import { stackEnv, testEs, testKafka } from '#libs/testing';
import { bootstrap, ca } from '../support/identity.js';
import { benchAuditRecord as record } from './audit-record.js';

const envInt = (name: string, def: number): number => {
  const raw = process.env[name];
  const n = raw === undefined || raw === '' ? def : Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return Math.floor(n);
};
const log = (msg: string): void => void process.stderr.write(`  ${msg}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function summary(samples: readonly number[]): { p50: number; p90: number; p99: number; max: number; samples: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (p: number): number => (s.length === 0 ? Number.NaN : Math.round(s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!));
  return { p50: at(50), p90: at(90), p99: at(99), max: at(100), samples: s.length };
}

function messagesOf(records: readonly AuditRecord[]): { key: string; value: string; headers: Record<string, string> }[] {
  return records.map((r) => {
    const m = auditMessage(r, 'vault');
    return { key: m.key, value: JSON.stringify(m.payload), headers: { ...m.headers } };
  });
}

async function send(producer: Producer, records: readonly AuditRecord[]): Promise<void> {
  const messages = messagesOf(records);
  for (let i = 0; i < messages.length; i += 250) await producer.send({ topic: TOPICS.auditRecords, acks: -1, messages: messages.slice(i, i + 250) });
}

/** Watches the search index for ids (event.id or keyledger.correlation_id) and notes when each became searchable. */
class SearchWatcher {
  private readonly pending = new Map<string, { field: 'event.id' | 'keyledger.correlation_id'; since: number; onSeen: (ms: number) => void }>();
  private running = true;
  private readonly loop: Promise<void>;

  constructor(private readonly es: ReturnType<typeof testEs>, private readonly alias: string) {
    this.loop = this.run();
  }

  watch(field: 'event.id' | 'keyledger.correlation_id', value: string, since: number, onSeen: (ms: number) => void): void {
    this.pending.set(value, { field, since, onSeen });
  }

  get outstanding(): number {
    return this.pending.size;
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (this.pending.size === 0) {
        await sleep(10);
        continue;
      }
      const ids = [...this.pending.entries()];
      const byField = (f: string): string[] => ids.filter(([, p]) => p.field === f).map(([v]) => v);
      try {
        const res = await this.es.search<{ event: { id: string }; keyledger: { correlation_id: string } }>({
          index: this.alias,
          size: ids.length,
          _source: ['event.id', 'keyledger.correlation_id'],
          query: { bool: { should: [{ terms: { 'event.id': byField('event.id') } }, { terms: { 'keyledger.correlation_id': byField('keyledger.correlation_id') } }], minimum_should_match: 1 } },
        });
        const now = performance.now();
        for (const h of res.hits.hits) {
          for (const key of [h._source?.event.id, h._source?.keyledger.correlation_id]) {
            const p = key ? this.pending.get(key) : undefined;
            if (p && key) {
              p.onSeen(now - p.since);
              this.pending.delete(key);
            }
          }
        }
      } catch {
        // index not there yet
      }
      await sleep(50);
    }
  }
}

function tokenRequest(agent: https.Agent, clientRequestId: string): Promise<void> {
  const b = bootstrap();
  const body = new URLSearchParams({ grant_type: 'client_credentials', client_id: b.clientId, client_secret: b.clientSecret, scope: 'https://audit.localhost/.default' }).toString();
  return new Promise((resolve, reject) => {
    const req = https.request(`${b.authorityHost}/${b.tenantId}/oauth2/v2.0/token`, { method: 'POST', agent, headers: { 'content-type': 'application/x-www-form-urlencoded', 'content-length': Buffer.byteLength(body), 'x-ms-client-request-id': clientRequestId } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`token request: ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function run(): Promise<Record<string, unknown>> {
  const rate = envInt('BENCH_AUDIT_RATE', 2_000);
  const seconds = envInt('BENCH_AUDIT_SECONDS', 20);
  const burst = envInt('BENCH_AUDIT_BURST', 30_000);
  const schema = process.env.AUDIT_INSTANCE ?? 'audit';
  const alias = process.env.AUDIT_ES_ALIAS ?? 'keyledger-audit';
  const tenant = `bench-audit-${randomUUID().slice(0, 8)}`;
  const kafka = testKafka('keyledger-bench-audit');
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const es = testEs();
  const db = new pg.Pool({ connectionString: stackEnv().databaseUrl, max: 2 });
  const agent = new https.Agent({ keepAlive: true, maxSockets: 4, ca: ca() });
  const count = async (): Promise<{ ledger: number; index: number }> => {
    const r = await db.query<{ seq: string }>(`SELECT seq::text FROM ${schema}.chain_heads WHERE chain = $1`, [tenant]);
    const c = await es.count({ index: alias, query: { term: { 'keyledger.tenant': tenant } } }).catch(() => ({ count: 0 }));
    return { ledger: Number(r.rows[0]?.seq ?? 0), index: c.count };
  };
  const watcher = new SearchWatcher(es, alias);
  let n = 0;

  // Warm-up: the chain exists, the monthly index exists, the JIT is warm.
  await send(producer, Array.from({ length: 500 }, () => record(tenant, n++)));
  for (let i = 0; i < 600 && (await count()).index < 500; i++) await sleep(100);

  const allChains = async (): Promise<number> => Number((await db.query<{ n: string }>(`SELECT coalesce(sum(seq), 0)::text AS n FROM ${schema}.chain_heads`)).rows[0]?.n ?? 0);
  const withSecrets = process.env.BENCH_AUDIT_WITH_SECRETS === '1';
  const secretsLoad: Promise<Record<string, unknown>> | undefined = withSecrets
    ? import('./secrets.bench.js').then((m: { run: () => Promise<Record<string, unknown>> }) => m.run())
    : undefined;
  secretsLoad?.catch(() => undefined);
  if (secretsLoad) await sleep(2_000); // let autocannon ramp up

  // ── Sustained rate, with latency samples ──
  log(`sustained: ${rate} records/s for ${seconds} s (tenant ${tenant})`);
  const toLedger: number[] = [];
  const toSearch: number[] = [];
  const opToSearch: number[] = [];
  const sampled = new Map<string, number>(); // record id → wall-clock ms at the Kafka ack
  const start = await count();
  const allStart = await allChains();
  const t0 = performance.now();
  const end = t0 + seconds * 1000;
  let sent = 0;
  let lastSample = 0;
  const realOps = (async () => {
    while (performance.now() < end) {
      const id = randomUUID();
      await tokenRequest(agent, id).then(
        () => watcher.watch('keyledger.correlation_id', id, performance.now(), (ms) => opToSearch.push(ms)),
        () => undefined,
      );
      await sleep(250);
    }
  })();
  while (performance.now() < end) {
    const due = Math.floor(((performance.now() - t0) / 1000) * rate) - sent;
    if (due <= 0) {
      await sleep(5);
      continue;
    }
    const batch = Array.from({ length: Math.min(due, 1_000) }, () => record(tenant, n++));
    await send(producer, batch);
    const acked = performance.now();
    sent += batch.length;
    if (acked - lastSample >= 100) {
      lastSample = acked;
      const r = batch[batch.length - 1]!;
      sampled.set(r.id, Date.now());
      watcher.watch('event.id', r.id, acked, (ms) => toSearch.push(ms));
    }
  }
  const produceSeconds = (performance.now() - t0) / 1000;
  await realOps;
  const atEnd = await count();
  const allEnd = await allChains();
  for (let i = 0; i < 600 && (watcher.outstanding > 0 || (await count()).index < start.index + sent); i++) await sleep(100);
  const drained = await count();
  const drainSeconds = (performance.now() - t0) / 1000;
  const ids = [...sampled.keys()];
  const rows = await db.query<{ record_id: string; appended_at: Date }>(`SELECT record_id, appended_at FROM ${schema}.ledger_entries WHERE record_id = ANY($1::text[])`, [ids]);
  for (const r of rows.rows) toLedger.push(r.appended_at.getTime() - sampled.get(r.record_id)!);

  const sustained = {
    offeredPerSecond: Math.round(sent / produceSeconds),
    records: sent,
    ledgerPerSecondDuringLoad: Math.round((atEnd.ledger - start.ledger) / produceSeconds),
    allChainsLedgerPerSecond: Math.round((allEnd - allStart) / produceSeconds),
    indexPerSecondDuringLoad: Math.round((atEnd.index - start.index) / produceSeconds),
    backlogAtEnd: { ledger: start.ledger + sent - atEnd.ledger, index: start.index + sent - atEnd.index },
    allSearchableAfterSeconds: Math.round(drainSeconds * 10) / 10,
    complete: drained.ledger - start.ledger === sent && drained.index - start.index === sent,
    latencyMs: {
      kafkaAckToLedgerCommit: summary(toLedger),
      kafkaAckToSearchable: summary(toSearch),
      operationResponseToSearchable: summary(opToSearch),
    },
  };
  log(`sustained: ${JSON.stringify(sustained)}`);
  const secrets = secretsLoad ? await secretsLoad.catch((err: unknown) => ({ error: err instanceof Error ? err.message : String(err) })) : undefined;

  // ── Burst: how fast the pipeline drains a backlog ──
  log(`burst: ${burst} records at once`);
  const before = await count();
  const records = Array.from({ length: burst }, () => record(tenant, n++));
  const b0 = performance.now();
  await send(producer, records);
  const publishSeconds = (performance.now() - b0) / 1000;
  let ledgerDone = 0;
  for (let i = 0; i < 3_000; i++) {
    const c = await count();
    if (!ledgerDone && c.ledger - before.ledger >= burst) ledgerDone = performance.now();
    if (c.index - before.index >= burst) break;
    await sleep(50);
  }
  const indexDone = performance.now();
  const burstFigures = {
    records: burst,
    publishSeconds: Math.round(publishSeconds * 10) / 10,
    ledgerPerSecond: ledgerDone ? Math.round(burst / ((ledgerDone - b0) / 1000)) : 0,
    ledgerAndIndexPerSecond: Math.round(burst / ((indexDone - b0) / 1000)),
  };
  log(`burst: ${JSON.stringify(burstFigures)}`);

  await watcher.stop();
  await producer.disconnect();
  await db.end();
  await es.close();
  agent.destroy();
  return { tenant, sustained, burst: burstFigures, ...(secrets ? { concurrentSecretsLoad: secrets } : {}), target: { p99Ms: 1_000, recordsPerSecond: 2_000 } };
}
