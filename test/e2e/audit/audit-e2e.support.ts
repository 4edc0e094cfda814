/**
 * Helpers of the audit end-to-end specs: the audit API as the bootstrap administrator (or any
 * principal), records published straight to the audit topic (as identity, vault and crypto
 * do), the audit schema for tampering, and isolated audit instances started by a spec (own
 * schema, consumer group, port and index aliases) that it may SIGKILL or cut off from
 * Elasticsearch without touching the shared service.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Kafka, logLevel, type Producer } from 'kafkajs';
import pg from 'pg';
import { TOPICS, type AuditRecord } from '#libs/contracts';
import { auditMessage } from '#libs/eventstore';
import { REPO_ROOT } from '#libs/platform';
import { waitFor } from '#libs/testing';
import { accessToken, bootstrap, CA, DATABASE_URL, DOMAIN, HOME, raw, type Credentials, type RawResponse } from '../vault/vault-e2e.support.js';

export const AUDIT_URL = process.env.KEYLEDGER_AUDIT_URL ?? `https://localhost:${process.env.AUDIT_PORT ?? 8444}`;
export const AUDIT_RESOURCE = `https://audit.${DOMAIN}`;
export const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const ES_URL = process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:9200';

export type Doc = Record<string, unknown> & { '@timestamp': string; event: { id: string; action: string; outcome: string }; user?: { id?: string }; azure: AuditRecord; http?: { response?: { status_code?: number } } };

/** Calls the audit API (default: the shared service, as the bootstrap administrator). */
export async function audit(path: string, init: { method?: string; body?: unknown; creds?: Credentials; base?: string; token?: string | null; headers?: Record<string, string> } = {}): Promise<RawResponse> {
  const token = init.token === null ? undefined : (init.token ?? (await accessToken(AUDIT_RESOURCE, init.creds ?? bootstrap)));
  return raw(`${init.base ?? AUDIT_URL}${path}`, {
    method: init.method ?? 'GET',
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}), ...(init.headers ?? {}) },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
}

export async function search(params: Record<string, string>, base?: string): Promise<Doc[]> {
  const res = await audit(`/audit/records?${new URLSearchParams({ pageSize: '1000', ...params })}`, base ? { base } : {});
  if (res.status !== 200) throw new Error(`search failed: ${res.status} ${res.text}`);
  return (res.json as { value: Doc[] }).value;
}

/** Polls the search API until `accept` says the result is complete (a hang guard, not a timing assertion). */
export async function searchUntil(params: Record<string, string>, accept: (docs: Doc[]) => boolean, timeoutMs = 30_000, base?: string): Promise<Doc[]> {
  return waitFor(
    async () => {
      const docs = await search(params, base);
      return accept(docs) ? docs : undefined;
    },
    { timeoutMs, intervalMs: 200, what: `audit records ${JSON.stringify(params)}` },
  );
}

let producer: Producer | undefined;
let kafka: Kafka | undefined;

export function kafkaClient(): Kafka {
  kafka ??= new Kafka({ clientId: 'e2e-audit', brokers: BROKERS, logLevel: logLevel.NOTHING });
  return kafka;
}

/** Publishes records to keyledger.audit.records.v1 exactly as a service's outbox relay does. */
export async function publishRecords(records: readonly AuditRecord[]): Promise<void> {
  if (!producer) {
    producer = kafkaClient().producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
  }
  const messages = records.map((r) => {
    const m = auditMessage(r, r.source);
    return { key: m.key, value: JSON.stringify(m.payload), headers: m.headers };
  });
  for (let i = 0; i < messages.length; i += 250) await producer.send({ topic: TOPICS.auditRecords, acks: -1, messages: messages.slice(i, i + 250) });
}

export async function closeKafka(): Promise<void> {
  await producer?.disconnect();
  producer = undefined;
}

let pool: pg.Pool | undefined;
export function sql(): pg.Pool {
  pool ??= new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  return pool;
}
export async function closeSql(): Promise<void> {
  await pool?.end();
  pool = undefined;
}

export async function ledgerCount(schema: string, chain: string): Promise<{ rows: number; distinct: number; head: number }> {
  const r = await sql().query<{ rows: string; distinct: string; head: string | null }>(
    `SELECT count(*)::text AS rows, count(DISTINCT record_id)::text AS distinct, (SELECT seq::text FROM ${schema}.chain_heads WHERE chain = $1) AS head FROM ${schema}.ledger_entries WHERE chain = $1`,
    [chain],
  );
  return { rows: Number(r.rows[0]?.rows ?? 0), distinct: Number(r.rows[0]?.distinct ?? 0), head: Number(r.rows[0]?.head ?? 0) };
}

export async function esCount(index: string, tenant: string): Promise<number> {
  await fetch(`${ES_URL}/${index}/_refresh`, { method: 'POST' });
  const res = await fetch(`${ES_URL}/${index}/_count`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: { term: { 'keyledger.tenant': tenant } } }) });
  if (res.status === 404) return 0;
  const body = (await res.json()) as { count?: number };
  return body.count ?? 0;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Waits until an instance's ledger consumer takes live records: probe records of a tenant of
 * their own are published until one lands (those sent before the consumer found the end of
 * the topic are not seen, by design of AUDIT_LEDGER_START=latest).
 */
export async function untilLive(inst: { readonly name: string }, probe: (i: number) => AuditRecord): Promise<void> {
  let i = 0;
  await waitFor(
    async () => {
      const r = probe(i++);
      await publishRecords([r]);
      const rows = await sql().query(`SELECT 1 FROM ${inst.name}.ledger_entries WHERE chain = $1 LIMIT 1`, [r.tenant]).catch(() => ({ rowCount: 0 }));
      return rows.rowCount ? true : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 500, what: `audit instance ${inst.name} to follow the topic` },
  );
}

export type AuditInstance = {
  readonly name: string;
  readonly port: number;
  readonly url: string;
  readonly alias: string;
  readonly objectsAlias: string;
  child: ChildProcess;
  /** (Re)starts the process, with extra environment (e.g. another ELASTICSEARCH_URL). */
  start(env?: Record<string, string>): Promise<void>;
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Stops it and removes everything it created (schema, groups, topics, indices, key file). */
  destroy(): Promise<void>;
};

/** An audit service of its own (dist/apps/audit), isolated from the shared one by name. */
export async function auditInstance(prefix: string): Promise<AuditInstance> {
  const name = `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const port = await freePort();
  const alias = `keyledger-audit-${name.replace(/_/g, '-')}`;
  const objectsAlias = `keyledger-objects-${name.replace(/_/g, '-')}`;
  const main = join(REPO_ROOT, 'dist', 'apps', 'audit', 'src', 'main.js');
  const log = createWriteStream(join(HOME, 'logs', `${name}.log`), { flags: 'a' });
  const inst: AuditInstance = {
    name,
    port,
    url: `https://localhost:${port}`,
    alias,
    objectsAlias,
    child: undefined as unknown as ChildProcess,
    async start(env = {}) {
      const child = spawn(process.execPath, ['--enable-source-maps', main], {
        env: {
          ...process.env,
          KEYLEDGER_HOME: HOME,
          NODE_EXTRA_CA_CERTS: join(HOME, 'tls', 'ca.crt'),
          KAFKAJS_NO_PARTITIONER_WARNING: '1',
          AUDIT_INSTANCE: name,
          AUDIT_PORT: String(port),
          AUDIT_ES_ALIAS: alias,
          AUDIT_OBJECTS_ALIAS: objectsAlias,
          AUDIT_CHECKPOINT_INTERVAL_SECONDS: '5',
          // A new instance follows the audit topic from its end, not its whole history.
          AUDIT_LEDGER_START: 'latest',
          LOG_LEVEL: 'info',
          ...env,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout?.pipe(log, { end: false });
      child.stderr?.pipe(log, { end: false });
      inst.child = child;
      await waitFor(
        async () => {
          if (child.exitCode !== null) throw new Error(`audit instance ${name} exited (${child.exitCode}); see .keyledger/logs/${name}.log`);
          const res = await raw(`${inst.url}/health/live`).catch(() => undefined);
          return res?.status === 200 ? true : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 200, what: `audit instance ${name} to answer` },
      );
    },
    kill(signal) {
      const child = inst.child;
      return new Promise((resolve) => {
        if (!child || child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      });
    },
    async destroy() {
      await inst.kill('SIGTERM');
      await sql().query(`DROP SCHEMA IF EXISTS ${name} CASCADE`);
      const admin = kafkaClient().admin();
      await admin.connect();
      try {
        const groups = (await admin.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(`${name}-`));
        if (groups.length > 0) await admin.deleteGroups(groups).catch(() => undefined);
        const topics = (await admin.listTopics()).filter((t) => t === `keyledger.${name}.events.v1` || t.includes(`.dlq.${name}-`));
        if (topics.length > 0) await admin.deleteTopics({ topics }).catch(() => undefined);
      } finally {
        await admin.disconnect();
      }
      for (const pattern of [`${alias}-v*`, `${objectsAlias}-v*`]) await fetch(`${ES_URL}/${pattern}?ignore_unavailable=true&allow_no_indices=true`, { method: 'DELETE' }).catch(() => undefined);
      await fetch(`${ES_URL}/_index_template/${alias}`, { method: 'DELETE' }).catch(() => undefined);
      await fetch(`${ES_URL}/_index_template/${objectsAlias}-projection`, { method: 'DELETE' }).catch(() => undefined);
      for (const c of [`${alias}@settings`, `${alias}@mappings`]) await fetch(`${ES_URL}/_component_template/${encodeURIComponent(c)}`, { method: 'DELETE' }).catch(() => undefined);
      rmSync(join(HOME, name), { recursive: true, force: true });
      log.end();
    },
  };
  return inst;
}

export { accessToken, bootstrap, CA, raw };
