import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, fdatasyncSync, openSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { AuditWriter, spineDdl } from '#libs/eventstore';
import { Database } from '#libs/platform';
import { uniqueName } from '#libs/testing';
import { bootstrap, ca, httpsRequest, tokenFor } from '../support/identity.js';
import { stackEnv, suffix } from '../support/stack-env.js';
import { benchAuditRecord } from './audit-record.js';
import { percentiles, sequentialLatency, type SequentialLatency } from './sequential.js';

/**
 * Where one request's time goes at one connection: the ≤ 0.5 ms p50 target of a secret GET
 * against the floors under it, each measured the same way (one after the other, p50/p90/p99 in
 * microseconds, after a warm-up), on the running stack:
 *
 * - `disk`: an 8 KiB write + `fdatasync` in the stack's data folder (PostgreSQL's WAL flush is
 *   one of these);
 * - `postgres`: from this process, `SELECT 1` (a round trip), a ~2 KB row inserted with
 *   `synchronous_commit` off (statement, no flush) and on (statement + durable commit: what an
 *   audit record of a read costs at the least), and the vault's `AuditWriter` writing one
 *   audit record at a time into a scratch schema's outbox (its statement and pool, in this
 *   process, without the vault's request, relay or pipeline beside it);
 * - `https`: a bare Node HTTPS server in a process of its own (the stack's certificate, a
 *   15-byte JSON answer): TLS, HTTP parsing and two process wake-ups, nothing else;
 * - `vault`: `GET /health/live` (the vault's HTTP stack, no audit record), an unauthenticated
 *   `GET /secrets/…` (401: the gate and its durable audit record, nothing read) and an
 *   authenticated secret GET (the audit record, RBAC, the secret read and decrypted).
 *
 * The differences are what each layer adds: audited 401 − health/live = the audit record's
 * durable write as the vault does it; secret GET − audited 401 = authentication, RBAC and the
 * read. BENCH_SEQUENTIAL (default 2,000) requests per step, 300 more before each as warm-up.
 */

type Step = SequentialLatency;

async function timed(count: number, op: () => Promise<unknown> | unknown): Promise<Step> {
  for (let i = 0; i < Math.min(300, count); i++) await op();
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const t0 = process.hrtime.bigint();
    await op();
    times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return percentiles(times);
}

async function diskFlush(count: number): Promise<Step> {
  const dir = existsSync(join(stackEnv.home, 'data')) ? join(stackEnv.home, 'data') : stackEnv.home;
  const file = join(dir, `.latency-floor-${suffix()}`);
  const block = Buffer.alloc(8192, 0x5a);
  const fd = openSync(file, 'w');
  let i = 0;
  try {
    return await timed(count, () => {
      writeSync(fd, block, 0, block.length, (i++ % 16) * block.length);
      fdatasyncSync(fd);
    });
  } finally {
    closeSync(fd);
    unlinkSync(file);
  }
}

async function auditWriterAlone(count: number): Promise<Step> {
  const db = await Database.connect(stackEnv.databaseUrl, uniqueName('bench_floor'), { max: 2, applicationName: 'keyledger-bench-latency-floor' });
  try {
    await db.query(spineDdl(db.schema));
    const writer = new AuditWriter(db, 'bench');
    // Reads only (i ≡ 1 mod 4, never a multiple of 50): the record a secret GET leaves.
    let n = 0;
    return await timed(count, () => writer.write(benchAuditRecord('bench', 4 * (n++ % 12) + 1)));
  } finally {
    await db.query(`DROP SCHEMA IF EXISTS ${db.schema} CASCADE`).catch(() => undefined);
    await db.pool.end();
  }
}

async function postgres(count: number): Promise<{ select1: Step; insertNoFlush: Step; insertDurable: Step }> {
  const client = new pg.Client({ connectionString: stackEnv.databaseUrl, application_name: 'keyledger-bench-latency-floor' });
  await client.connect();
  const table = `bench_latency_floor_${suffix()}`;
  const row = JSON.stringify({ record: 'x'.repeat(2000) });
  try {
    await client.query(`CREATE TABLE ${table} (id bigserial PRIMARY KEY, payload jsonb NOT NULL)`);
    const insert = { name: `${table}_insert`, text: `INSERT INTO ${table} (payload) VALUES ($1::jsonb)`, values: [row] };
    const roundTrip = await timed(count, () => client.query({ name: `${table}_one`, text: 'SELECT 1' }));
    await client.query('SET synchronous_commit = off');
    const insertAsync = await timed(count, () => client.query(insert));
    await client.query('SET synchronous_commit = on');
    const insertDurable = await timed(count, () => client.query(insert));
    return { select1: roundTrip, insertNoFlush: insertAsync, insertDurable };
  } finally {
    await client.query(`DROP TABLE IF EXISTS ${table}`).catch(() => undefined);
    await client.end();
  }
}

/** A bare Node HTTPS server in a process of its own, on an ephemeral port. */
async function bareHttpsServer(): Promise<{ url: string; child: ChildProcess }> {
  const tls = join(stackEnv.home, 'tls');
  const code = `
    const https = require('node:https'); const fs = require('node:fs');
    const s = https.createServer({ key: fs.readFileSync(process.argv[1]), cert: fs.readFileSync(process.argv[2]) },
      (req, res) => { req.resume(); res.setHeader('content-type', 'application/json'); res.end('{"status":"up"}'); });
    s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));`;
  const child = spawn(process.execPath, ['-e', code, join(tls, 'server.key'), join(tls, 'server.crt')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (c) => reject(new Error(`bare HTTPS server exited (${c})`)));
    child.stdout?.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
  });
  return { url: `https://localhost:${port}`, child };
}

export async function run(): Promise<Record<string, unknown>> {
  const base = (process.env.VAULT_URL ?? 'https://localhost:8443').replace(/\/+$/, '');
  const count = Math.max(100, Number(process.env.BENCH_SEQUENTIAL ?? 2_000) || 2_000);
  const log = (m: string): void => void process.stderr.write(`  ${m}\n`);
  const certificate = ca();
  const https = async (url: string, path: string, headers: Record<string, string> = {}): Promise<Step> => {
    await sequentialLatency(url, certificate, 300, () => ({ method: 'GET', path, headers }));
    return sequentialLatency(url, certificate, count, () => ({ method: 'GET', path, headers }));
  };

  log(`disk: ${count} × (8 KiB write + fdatasync)`);
  const disk = await diskFlush(count);
  log('postgres: SELECT 1, insert without and with a durable commit');
  const database = { ...(await postgres(count)), auditWriterAlone: await auditWriterAlone(count) };
  log('https: a bare Node HTTPS server in its own process');
  const bare = await bareHttpsServer();
  let bareHttps: Step;
  try {
    bareHttps = await https(bare.url, '/');
  } finally {
    bare.child.kill();
  }

  const token = await tokenFor(bootstrap().clientId, bootstrap().clientSecret, 'https://vault.localhost');
  const name = `bench-floor-${suffix()}`;
  const put = await httpsRequest(`${base}/secrets/${name}?api-version=7.6`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${token}` },
    body: JSON.stringify({ value: 'v'.repeat(64) }),
  });
  if (put.status !== 200) throw new Error(`seeding ${name}: ${put.status} ${put.text}`);
  const probe = await httpsRequest(`${base}/secrets/${name}?api-version=7.6`);
  if (probe.status !== 401) throw new Error(`an unauthenticated GET answered ${probe.status}, not 401`);
  log('vault: /health/live, an audited 401, a secret GET');
  const live = await https(base, '/health/live');
  const refused = await https(base, `/secrets/${name}?api-version=7.6`);
  const secretGet = await https(base, `/secrets/${name}?api-version=7.6`, { authorization: `Bearer ${token}` });

  return {
    requestsPerStep: count,
    disk: { writeAndFdatasync: disk },
    postgres: database,
    https: { bareNodeServer: bareHttps },
    vault: { healthLive: live, unauthenticated401Audited: refused, secretGet },
    p50Differences: {
      vaultHttpOverBareHttps: live.p50 - bareHttps.p50,
      auditRecordOf401: refused.p50 - live.p50,
      auditRecordOf401OverAuditWriterAlone: refused.p50 - live.p50 - database.auditWriterAlone.p50,
      authRbacAndReadOverAudited401: secretGet.p50 - refused.p50,
      durableCommitOverNoFlush: database.insertDurable.p50 - database.insertNoFlush.p50,
    },
    target: { secretGetP50UsAtOneConnection: 500 },
  };
}
