import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import { bootstrap, ca, httpsRequest, tokenFor } from '../support/identity.js';
import { stackEnv, suffix } from '../support/stack-env.js';
import { cpuPerRequest, cpuSnapshot, jitSnapshot } from './process-cpu.js';
import { sequentialLatency, type SequentialLatency } from './sequential.js';

/**
 * Secret GET and SET over HTTPS with keep-alive (autocannon), against the running services with
 * audit on (every request's audit record is durable before its answer), at 1, 16 and 64
 * connections. GETs read 64 secrets round-robin (each connection in its own order); each SET
 * connection writes new versions of a secret of its own.
 *
 * Each phase reports, beside throughput and latency, what is robust on a busy machine:
 * - `cpuUsPerRequest`: CPU microseconds per request of every process taking part (vault,
 *   crypto, audit, identity, PostgreSQL, Kafka, Elasticsearch, this client), from /proc;
 * - `sqlPerRequest`: statements (= round trips) the vault sent to PostgreSQL per request, from
 *   its `keyledger_db_statements_total` metric.
 * Both less what the processes do without any request (measured first, BENCH_IDLE_SECONDS, 8; the quietest second of each process):
 * consumers polling, schedulers, the JVMs' own work.
 * - Against Keyledger, `auditCaughtUpMs`: after the phase's last answer, how long until the
 *   audit record of a request made then is searchable in Elasticsearch (the audit pipeline's
 *   backlog), and `perSecondAuditedAndSearchable`, the requests over the phase and that
 *   catch-up: what the whole system sustains. The CPU window ends with the catch-up, so the
 *   per-request CPU includes the pipeline's deferred work.
 * - Against Keyledger, SET phases also wait for `objectStateCaughtUpMs`: after the phase, how
 *   long until a secret version written then is the latest version of its secret in the audit
 *   service's object index (the lifecycle event's path: outbox, relay, Kafka, the audit
 *   service's inbox and event store, the object-state projection, Elasticsearch). Its CPU is
 *   counted too; `perSecondAuditedAndSearchable` then covers both.
 *
 * - At one connection, `sequentialLatencyUs`: autocannon's latencies are whole milliseconds, too
 *   coarse for the ≤ 0.5 ms target; after the GET and SET phases at one connection, this
 *   client sends BENCH_SEQUENTIAL requests (default 2,000) one after the other on one kept-alive
 *   TLS connection and times each with the monotonic clock: p50/p90/p99 in microseconds
 *   (request written → answer read; after the phase's pipeline has caught up).
 *
 * - `jitUsPerRequest`: of Kafka's and Elasticsearch's figures, what their JIT compiler threads
 *   spent. The JVMs keep compiling for many minutes after they start: on a stack started
 *   minutes before, Elasticsearch's compiler took about half of its CPU; after several minutes
 *   of load, ~13 %. BENCH_WARMUP_SECONDS (default 3) lengthens the warm-up for steady-state figures.
 *
 * Knobs: BENCH_SECONDS (default 15) per phase; BENCH_CONNECTIONS (default 1,16,64);
 * BENCH_PHASES (get,set); VAULT_URL (default https://localhost:8443, the dev vault);
 * BENCH_TOKEN: a bearer token to send instead of one from Keyledger's identity service, or
 * `none` for no Authorization header — with VAULT_URL, this drives a peer (an Azure Key Vault
 * test double, another vault) with the same client and requests; process figures are then
 * only those of the processes found (BENCH_CA: the peer's CA file, else Keyledger's).
 */
type Phase = {
  connections: number;
  requests: number;
  perSecond: number;
  latencyMsP50: number;
  latencyMsP99: number;
  latencyMsMax: number;
  non2xx: number;
  errors: number;
  cpuUsPerRequest: Record<string, number>;
  /** Of `cpuUsPerRequest.kafka` and `.elasticsearch`, what their JIT compiler threads spent (warm-up, not steady state). */
  jitUsPerRequest: Record<string, number>;
  sqlPerRequest?: number;
  /**
   * Keyledger only: after the phase's last answer, how long until the audit record of a request
   * made then was searchable (the pipeline's backlog: relay, Kafka, ledger, index), and the
   * requests per second over the phase and that catch-up together: what the whole system,
   * audit index included, sustains. CPU figures include the catch-up.
   */
  auditCaughtUpMs?: number;
  /** One-connection phases: sequential requests timed to the microsecond (see the header). */
  sequentialLatencyUs?: SequentialLatency;
  /** SET phases against Keyledger: see the header; the catch-up above and this one run together. */
  objectStateCaughtUpMs?: number;
  perSecondAuditedAndSearchable?: number;
};

function cannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

/** The vault's statement counter (all schemas it writes), or undefined when it has none (a peer). */
async function statementsSent(base: string): Promise<number | undefined> {
  try {
    const res = await httpsRequest(`${base}/metrics`);
    if (res.status !== 200) return undefined;
    let total = 0;
    let seen = false;
    for (const line of res.text.split('\n')) {
      if (!line.startsWith('keyledger_db_statements_total{')) continue;
      total += Number(line.slice(line.lastIndexOf(' ') + 1));
      seen = true;
    }
    return seen ? total : undefined;
  } catch {
    return undefined;
  }
}

/** What the processes spend per second with no request at all (consumers polling, schedulers, the JVMs): subtracted from each phase. */
type Idle = { cpuPerSecond: Record<string, number>; sqlPerSecond: number };

/**
 * Idle rates as the per-process minimum over one-second windows: right after a warm-up the audit
 * pipeline is still draining (relay, audit consumer, Elasticsearch indexing the warm-up's records),
 * and a single window would count that backlog as idle work and drive per-request figures below zero.
 */
async function idleRates(base: string, seconds: number): Promise<Idle> {
  const windows = Math.max(1, Math.round(seconds));
  const cpuPerSecond: Record<string, number> = {};
  let sqlPerSecond = Number.POSITIVE_INFINITY;
  for (let i = 0; i < windows; i++) {
    const sql0 = await statementsSent(base);
    const cpu0 = cpuSnapshot(stackEnv.home);
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const elapsed = (performance.now() - t0) / 1000;
    const cpu1 = cpuSnapshot(stackEnv.home);
    const sql1 = await statementsSent(base);
    for (const k of Object.keys(cpu0) as (keyof typeof cpu0)[]) {
      const rate = k === 'client' ? 0 : (cpu1[k] - cpu0[k]) / elapsed;
      cpuPerSecond[k] = Math.min(cpuPerSecond[k] ?? Number.POSITIVE_INFINITY, rate);
    }
    // The two scrapes themselves are not idle work.
    sqlPerSecond = Math.min(sqlPerSecond, sql0 !== undefined && sql1 !== undefined ? (sql1 - sql0) / elapsed : 0);
  }
  return { cpuPerSecond, sqlPerSecond: Number.isFinite(sqlPerSecond) ? sqlPerSecond : 0 };
}

/** Where an audit record's searchability is checked (Keyledger only): a GET whose record id comes back in `x-ms-request-id`. */
type Marker = { readonly url: string; readonly headers: Record<string, string> };

/**
 * Makes one request and waits until its audit record is in the audit index (every record before
 * it on the same chain is then too: the ledger appends a chain in order and the indexer takes a
 * chain's entries as a prefix). Milliseconds from the request, or undefined after `limitMs`.
 */
async function auditCaughtUp(marker: Marker, limitMs = 180_000): Promise<number | undefined> {
  const t0 = performance.now();
  const res = await httpsRequest(marker.url, { headers: marker.headers });
  const id = res.headers['x-ms-request-id'];
  if (res.status !== 200 || typeof id !== 'string') throw new Error(`audit marker request: ${res.status}`);
  const alias = process.env.AUDIT_ES_ALIAS ?? 'keyledger-audit';
  while (performance.now() - t0 < limitMs) {
    const r = await fetch(`${stackEnv.elasticsearchUrl}/${alias}/_count`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ query: { ids: { values: [id] } } }) });
    if (r.ok && ((await r.json()) as { count?: number }).count === 1) return Math.round(performance.now() - t0);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return undefined;
}

/** Where a SET phase's lifecycle events are checked (Keyledger only): a secret PUT after the phase, and its tenant's object index. */
type ObjectMarker = { readonly url: string; readonly headers: Record<string, string>; readonly body: string; readonly name: string };

/**
 * Writes a new version of the marker secret and waits until the audit service's object index
 * names it the secret's latest version. Milliseconds from the write, or undefined after `limitMs`.
 */
async function objectStateCaughtUp(marker: ObjectMarker, limitMs = 180_000): Promise<number | undefined> {
  const t0 = performance.now();
  const res = await httpsRequest(marker.url, { method: 'PUT', headers: marker.headers, body: marker.body });
  const version = res.status === 200 ? (JSON.parse(res.text) as { id?: string }).id?.split('/').pop() : undefined;
  if (!version) throw new Error(`object-state marker write: ${res.status}`);
  const alias = process.env.AUDIT_OBJECTS_ALIAS ?? 'keyledger-objects';
  const query = { query: { bool: { filter: [{ term: { kind: 'secret' } }, { term: { name: marker.name } }, { term: { latest_version: version } }] } } };
  while (performance.now() - t0 < limitMs) {
    const r = await fetch(`${stackEnv.elasticsearchUrl}/${alias}/_count`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(query) });
    if (r.ok && ((await r.json()) as { count?: number }).count === 1) return Math.round(performance.now() - t0);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return undefined;
}

async function measured(base: string, connections: number, opts: autocannon.Options, idle: Idle, marker: Marker | undefined, objectMarker?: ObjectMarker): Promise<Phase> {
  const sqlBefore = await statementsSent(base);
  const cpuBefore = cpuSnapshot(stackEnv.home);
  const jitBefore = jitSnapshot(stackEnv.home);
  const t0 = performance.now();
  const r = await cannon({ ...opts, connections });
  const answered = (performance.now() - t0) / 1000;
  const [caughtUp, objectsCaughtUp] = await Promise.all([marker ? auditCaughtUp(marker) : undefined, objectMarker ? objectStateCaughtUp(objectMarker) : undefined]);
  const elapsed = (performance.now() - t0) / 1000;
  const cpuAfter = cpuSnapshot(stackEnv.home);
  const jitAfter = jitSnapshot(stackEnv.home);
  const sqlAfter = await statementsSent(base);
  const requests = r.requests.total;
  const jitUs = (g: keyof typeof jitAfter): number => (requests > 0 ? Math.round(((jitAfter[g] - jitBefore[g]) * 1e6) / requests) : 0);
  for (const k of Object.keys(cpuAfter) as (keyof typeof cpuAfter)[]) cpuAfter[k] -= (idle.cpuPerSecond[k] ?? 0) * elapsed;
  return {
    connections,
    requests,
    perSecond: Math.round(r.requests.average),
    latencyMsP50: r.latency.p50,
    latencyMsP99: r.latency.p99,
    latencyMsMax: r.latency.max,
    non2xx: r.non2xx,
    errors: r.errors,
    cpuUsPerRequest: cpuPerRequest(cpuBefore, cpuAfter, requests),
    jitUsPerRequest: { kafka: jitUs('kafka'), elasticsearch: jitUs('elasticsearch') },
    // The metrics scrape itself is one request without statements: nothing to subtract.
    ...(sqlBefore !== undefined && sqlAfter !== undefined && requests > 0 ? { sqlPerRequest: Math.round(((sqlAfter - sqlBefore - idle.sqlPerSecond * elapsed) / requests) * 100) / 100 } : {}),
    ...(marker ? { auditCaughtUpMs: caughtUp ?? -1 } : {}),
    ...(objectMarker ? { objectStateCaughtUpMs: objectsCaughtUp ?? -1 } : {}),
    ...(marker
      ? {
          perSecondAuditedAndSearchable:
            caughtUp === undefined || (objectMarker !== undefined && objectsCaughtUp === undefined) ? 0 : Math.round(requests / (answered + Math.max(caughtUp, objectsCaughtUp ?? 0) / 1000)),
        }
      : {}),
  };
}

export async function run(): Promise<Record<string, unknown>> {
  const base = (process.env.VAULT_URL ?? 'https://localhost:8443').replace(/\/+$/, '');
  const seconds = Number(process.env.BENCH_SECONDS ?? 15);
  const levels = (process.env.BENCH_CONNECTIONS ?? '1,16,64').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
  const phases = new Set((process.env.BENCH_PHASES ?? 'get,set').split(','));
  const sequential = Math.max(100, Number(process.env.BENCH_SEQUENTIAL ?? 2_000) || 2_000);
  const given = process.env.BENCH_TOKEN;
  const token = given !== undefined && given !== '' ? given : await tokenFor(bootstrap().clientId, bootstrap().clientSecret, 'https://vault.localhost');
  const headers: Record<string, string> = { 'content-type': 'application/json', ...(token === 'none' ? {} : { authorization: `Bearer ${token}` }) };
  const run = suffix();
  const value = randomBytes(48).toString('base64');
  const body = JSON.stringify({ value, contentType: 'text/plain' });
  const tlsOptions = { ca: process.env.BENCH_CA ? (await import('node:fs')).readFileSync(process.env.BENCH_CA) : ca() };
  const log = (m: string): void => void process.stderr.write(`  ${m}\n`);

  // 64 secrets to read.
  const names = Array.from({ length: 64 }, (_, i) => `bench-get-${run}-${i}`);
  for (let i = 0; i < names.length; i += 16) {
    await Promise.all(
      names.slice(i, i + 16).map(async (n) => {
        const res = await httpsRequest(`${base}/secrets/${n}?api-version=7.6`, { method: 'PUT', headers, body });
        if (res.status !== 200) throw new Error(`seeding ${n}: ${res.status} ${res.text}`);
      }),
    );
  }

  // Warm-up: token cache, data key and secret caches, JIT.
  const warmup = Math.max(1, Number(process.env.BENCH_WARMUP_SECONDS ?? 3) || 3);
  log(`warm-up: GET, ${warmup} s, 64 connections`);
  await cannon({ url: base, connections: 64, duration: warmup, tlsOptions, requests: names.map((n) => ({ method: 'GET' as const, path: `/secrets/${n}/?api-version=7.6`, headers })) });

  // Keyledger (it has the statement counter): each phase's CPU window runs until its audit
  // records are searchable, and idle rates are measured only once the warm-up's are.
  const marker: Marker | undefined = (await statementsSent(base)) === undefined ? undefined : { url: `${base}/secrets/${names[0]}/?api-version=7.6`, headers };
  if (marker) log(`warm-up's audit records searchable after ${(await auditCaughtUp(marker)) ?? 'more than 180 000'} ms`);
  const objectMarker: ObjectMarker | undefined = marker ? { url: `${base}/secrets/bench-set-${run}-marker?api-version=7.6`, headers, body, name: `bench-set-${run}-marker` } : undefined;
  if (objectMarker) log(`earlier writes' object state caught up after ${(await objectStateCaughtUp(objectMarker)) ?? 'more than 180 000'} ms`);
  log('idle: 8 s without requests, the quietest second per process (background CPU and statements, subtracted from each phase)');
  const idle = await idleRates(base, Number(process.env.BENCH_IDLE_SECONDS ?? 8));
  const get: Record<string, Phase> = {};
  const set: Record<string, Phase> = {};
  for (const connections of levels) {
    if (phases.has('get')) {
      log(`GET: ${connections} connection(s), ${seconds} s`);
      let conn = 0;
      get[`c${connections}`] = await measured(base, connections, {
        url: base,
        duration: seconds,
        tlsOptions,
        setupClient: (client) => {
          const offset = conn++ % names.length;
          const order = [...names.slice(offset), ...names.slice(0, offset)];
          client.setRequests(order.map((n) => ({ method: 'GET', path: `/secrets/${n}/?api-version=7.6`, headers })));
        },
      }, idle, marker);
      if (connections === 1) {
        const phase = get[`c${connections}`] as Phase;
        phase.sequentialLatencyUs = await sequentialLatency(base, tlsOptions.ca, sequential, (i) => ({ method: 'GET', path: `/secrets/${names[i % names.length]}/?api-version=7.6`, headers }));
        log(`GET, sequential on one connection: p50 ${phase.sequentialLatencyUs.p50} µs, p99 ${phase.sequentialLatencyUs.p99} µs`);
      }
    }
    if (phases.has('set')) {
      log(`SET: ${connections} connection(s), ${seconds} s`);
      let writer = 0;
      set[`c${connections}`] = await measured(base, connections, {
        url: base,
        duration: seconds,
        tlsOptions,
        setupClient: (client) => {
          const name = `bench-set-${run}-${connections}-${writer++}`;
          client.setRequests([{ method: 'PUT', path: `/secrets/${name}?api-version=7.6`, headers, body }]);
        },
      }, idle, marker, objectMarker);
      if (connections === 1) {
        const phase = set[`c${connections}`] as Phase;
        const name = `bench-set-${run}-sequential`;
        phase.sequentialLatencyUs = await sequentialLatency(base, tlsOptions.ca, sequential, () => ({ method: 'PUT', path: `/secrets/${name}?api-version=7.6`, headers, body }));
        log(`SET, sequential on one connection: p50 ${phase.sequentialLatencyUs.p50} µs, p99 ${phase.sequentialLatencyUs.p99} µs`);
      }
    }
  }

  return {
    target: base,
    secondsPerPhase: seconds,
    warmupSeconds: warmup,
    idleCpuMsPerSecond: Object.fromEntries(Object.entries(idle.cpuPerSecond).map(([k, v]) => [k, Math.round(v * 1000)])),
    idleSqlPerSecond: Math.round(idle.sqlPerSecond),
    valueBytes: value.length,
    get,
    set,
    targets: { getPerSecondAt64: 7_000, getP99MsAt64: 25, getP50MsAt1: 0.5, setPerSecondAt64: 2_500 },
  };
}
