/**
 * Crypto service throughput over gRPC (mutual TLS) with audit on (every call commits its
 * audit record before answering): ops/s and latency percentiles for RSA-2048 sign, ES256
 * sign, RSA-OAEP-256 decrypt, A256GCM encrypt and data-key generation, software and HSM
 * (SoftHSM2) keys, beside `openssl speed -seconds 3 -multi 2 rsa2048 ecdsap256` measured in
 * the same run on the same machine.
 *
 * Target: the service at CRYPTO_GRPC_ADDRESS when set; otherwise one started from dist/ for the
 * run (current build, PKCS#11 root in the local SoftHSM2 token, outbox relay on) on free ports
 * with a schema of its own (`crypto_bench`, dropped afterwards, so the audit rows a run writes
 * do not stay in the shared `crypto` outbox). BENCH_SECONDS (default 5) per
 * case, BENCH_CONCURRENCY (default 128) calls in flight (audit group commit: throughput grows with calls in flight).
 *
 * Unary cases make one call per operation. The `…Batch` cases (reported apart) send
 * BENCH_BATCH (default 64) operations per KeyOperationBatch call, BENCH_BATCH_CONCURRENCY
 * (default 8) calls in flight; each operation still gets its own audit record, durable before
 * the response leaves; their ops/s count operations, their latencies are per call.
 * Each case also reports CPU µs per operation of the service, its main thread, this client
 * and the service's PostgreSQL backends (Linux, service started for the run): less sensitive
 * than ops/s to other work on a shared machine.
 * Knobs for iterating: BENCH_CASES (comma list of case names or prefixes), BENCH_OPENSSL=0
 * (skip the openssl ceiling), BENCH_SERVICE_NODE_ARGS (e.g. `--cpu-prof --cpu-prof-dir=/tmp/p`),
 * BENCH_RELAY=0 (diagnosis: outbox relay off, see below).
 * Note: with the relay on, every audit record of a run (a full run: several hundred thousand)
 * is published to the shared keyledger.audit.records.v1 topic, as the service's would be.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { CryptoClient, type CallContext, type KeyVersion, type ObjectRef } from '#libs/crypto-client';
import { commonSchema, keyledgerHome, loadConfig, REPO_ROOT } from '#libs/platform';

const run$ = promisify(execFile);
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const concurrency = Number(process.env.BENCH_CONCURRENCY ?? 128);
const batchSize = Number(process.env.BENCH_BATCH ?? 64);
const batchConcurrency = Number(process.env.BENCH_BATCH_CONCURRENCY ?? 8);
/** Comma list of case names (or prefixes, e.g. `rsa2048Sign,es256Sign.software`) to run; default all. */
const only = (process.env.BENCH_CASES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
/** Extra node flags for the service started for the run (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`). */
const serviceNodeArgs = (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean);
/** BENCH_OPENSSL=0 skips the openssl ceiling (quicker iterations; the target ratios are then NaN). */
const withOpenssl = process.env.BENCH_OPENSSL !== '0';
/**
 * BENCH_RELAY=0 (diagnosis only): the service started for the run does not publish its outbox
 * to Kafka. Records are still durable before every answer, but their publication — part of
 * the real cost of audit — is left out; the figures say so (`service.outboxRelay`).
 */
const relayOn = process.env.BENCH_RELAY !== '0';

type Case = {
  readonly name: string;
  readonly keyType: string;
  readonly hsm: boolean;
  readonly op: () => Promise<unknown>;
  /** Operations per call (batch cases); default 1. */
  readonly opsPerCall?: number;
  /** Calls in flight; default BENCH_CONCURRENCY. */
  readonly concurrency?: number;
};
type CaseResult = {
  readonly keyType: string;
  readonly hsm: boolean;
  readonly opsPerSec: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly ops: number;
  readonly errors: number;
  /** 1-minute load average when the case started (the machine may be shared). */
  readonly loadAverage: number;
  /** CPU time per operation (µs) while measuring, by process: less sensitive to a shared machine than ops/s. */
  readonly cpuUsPerOp?: CpuPerOp;
  /** Batch cases: operations per call, calls in flight, calls/s (latencies are per call). */
  readonly batch?: { readonly size: number; readonly callsInFlight: number; readonly callsPerSec: number };
};
type CpuPerOp = { readonly service: number; readonly serviceMainThread: number; readonly client: number; readonly postgres: number };

/** Linux: user+system CPU ticks (1/100 s) of a process or one of its threads; 0 when unreadable. */
function ticks(pid: number, tid?: number): number {
  try {
    const stat = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** CPU accounting of a case: the service child, its main thread, this process, and the service's PostgreSQL backends. */
type CpuProbe = { readonly servicePid: number | null; readonly postgresPids: () => Promise<number[]> };
/** µs of CPU so far (PostgreSQL: per backend pid, since the pool may open or close connections meanwhile). */
type CpuSnapshot = { readonly service: number; readonly serviceMain: number; readonly client: number; readonly postgres: ReadonlyMap<number, number> };
async function cpuSnapshot(probe: CpuProbe | null): Promise<CpuSnapshot | null> {
  if (!probe?.servicePid || process.platform !== 'linux') return null;
  const pids = await probe.postgresPids();
  const u = process.cpuUsage();
  return {
    service: ticks(probe.servicePid) * 10_000,
    serviceMain: ticks(probe.servicePid, probe.servicePid) * 10_000,
    client: u.user + u.system,
    postgres: new Map(pids.map((p) => [p, ticks(p) * 10_000])),
  };
}
function cpuPerOp(a: CpuSnapshot | null, b: CpuSnapshot | null, ops: number): CpuPerOp | undefined {
  if (!a || !b || ops === 0) return undefined;
  const per = (x: number): number => Math.round(x / ops);
  // Backends alive at the end (a connection opened meanwhile counts from 0; one closed meanwhile is lost).
  let postgres = 0;
  for (const [pid, t] of b.postgres) postgres += t - (a.postgres.get(pid) ?? 0);
  return { service: per(b.service - a.service), serviceMainThread: per(b.serviceMain - a.serviceMain), client: per(b.client - a.client), postgres: per(postgres) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

async function answers(client: CryptoClient): Promise<boolean> {
  try {
    return !(await client.health({ deadlineMs: 3_000 })).sealed;
  } catch {
    return false;
  }
}

const BENCH_SCHEMA = 'crypto_bench';

/** The service to measure: the one at CRYPTO_GRPC_ADDRESS, or a child started from dist/. */
async function target(): Promise<{ client: CryptoClient; address: string; started: ChildProcess | null }> {
  const address = process.env.CRYPTO_GRPC_ADDRESS;
  if (address) {
    const running = CryptoClient.forDevCa({ address });
    if (!(await answers(running))) throw new Error(`no unsealed crypto service answers at ${address}`);
    return { client: running, address, started: null };
  }
  const app = join(REPO_ROOT, 'dist', 'apps', 'crypto', 'src', 'crypto.app.js');
  if (!existsSync(app)) throw new Error(`${app} not built`);
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  const home = keyledgerHome();
  const script = `const { startCryptoService } = await import(${JSON.stringify(pathToFileURL(app).href)});
await startCryptoService({ name: ${JSON.stringify(BENCH_SCHEMA)}, relay: ${relayOn} });`;
  const child = spawn(process.execPath, [...serviceNodeArgs, '--input-type=module', '-e', script], {
    env: {
      ...process.env,
      KEYLEDGER_HOME: home,
      SOFTHSM2_CONF: process.env.SOFTHSM2_CONF ?? join(home, 'softhsm', 'softhsm2.conf'),
      CRYPTO_PORT: String(httpPort),
      CRYPTO_GRPC_PORT: String(grpcPort),
      LOG_LEVEL: 'warn',
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
    },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const own = `localhost:${grpcPort}`;
  const client = CryptoClient.forDevCa({ address: own });
  const deadline = Date.now() + 60_000;
  while (!(await answers(client))) {
    if (child.exitCode !== null) throw new Error(`the crypto service exited (${child.exitCode})`);
    if (Date.now() > deadline) throw new Error('the crypto service did not become ready');
    await new Promise((r) => setTimeout(r, 300));
  }
  return { client, address: own, started: child };
}

/** Calls the case's op with its concurrency for `ms` (JIT, caches, connection pools warm). */
async function exercise(c: Case, ms: number): Promise<void> {
  const until = performance.now() + ms;
  await Promise.all(
    Array.from({ length: c.concurrency ?? concurrency }, async () => {
      while (performance.now() < until) await c.op().catch(() => undefined);
    }),
  );
}

async function measure(c: Case, probe: CpuProbe | null = null): Promise<CaseResult> {
  const loadAverage = Math.round(loadavg()[0]! * 100) / 100;
  const latencies: number[] = [];
  let errors = 0;
  const loop = async (until: number): Promise<void> => {
    while (performance.now() < until) {
      const t0 = performance.now();
      try {
        await c.op();
        latencies.push(performance.now() - t0);
      } catch {
        errors++;
      }
    }
  };
  await exercise(c, 2_000);
  const perCall = c.opsPerCall ?? 1;
  const inFlight = c.concurrency ?? concurrency;
  const cpu0 = await cpuSnapshot(probe);
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(Array.from({ length: inFlight }, () => loop(end)));
  const elapsed = (performance.now() - started) / 1000;
  const ops = latencies.length * perCall;
  const cpu1 = await cpuSnapshot(probe);
  const cpuUsPerOp = cpuPerOp(cpu0, cpu1, ops);
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0) * 100) / 100;
  return {
    keyType: c.keyType,
    hsm: c.hsm,
    opsPerSec: Math.round(ops / elapsed),
    p50Ms: pct(0.5),
    p99Ms: pct(0.99),
    ops,
    errors,
    loadAverage,
    ...(cpuUsPerOp ? { cpuUsPerOp } : {}),
    ...(c.opsPerCall ? { batch: { size: perCall, callsInFlight: inFlight, callsPerSec: Math.round(latencies.length / elapsed) } } : {}),
  };
}

/** `openssl speed -seconds 3 -multi 2 rsa2048 ecdsap256`: sign/s of each, both cores. */
async function opensslSpeed(): Promise<{ command: string; rsa2048SignPerSec: number; ecdsaP256SignPerSec: number }> {
  if (!withOpenssl) return { command: 'skipped (BENCH_OPENSSL=0)', rsa2048SignPerSec: Number.NaN, ecdsaP256SignPerSec: Number.NaN };
  const args = ['speed', '-seconds', '3', '-multi', '2', 'rsa2048', 'ecdsap256'];
  const { stdout } = await run$('openssl', args, { maxBuffer: 4 * 1024 * 1024 });
  const rsa = /^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/m.exec(stdout);
  const ec = /^\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/m.exec(stdout);
  if (!rsa || !ec) throw new Error(`unexpected openssl speed output:\n${stdout.slice(-800)}`);
  return { command: `openssl ${args.join(' ')}`, rsa2048SignPerSec: Number(rsa[1]), ecdsaP256SignPerSec: Number(ec[1]) };
}

export async function run(): Promise<Record<string, unknown>> {
  const { client, address, started } = await target();
  const probe: CpuProbe | null = started?.pid
    ? {
        servicePid: started.pid,
        postgresPids: async () => {
          const db = new pg.Client({ connectionString: loadConfig({ DATABASE_URL: commonSchema.DATABASE_URL }).DATABASE_URL });
          await db.connect();
          try {
            const { rows } = await db.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1', [`keyledger-${BENCH_SCHEMA}`]);
            return rows.map((r) => r.pid);
          } finally {
            await db.end();
          }
        },
      }
    : null;
  const tenant = `bench-${randomBytes(4).toString('hex')}`;
  const vault = 'bench';
  // Every call (every batch item) has its own correlation id, as a caller's requests would; a
  // counter keeps the client's own cost per call small (it shares the machine with the service).
  const runId = randomBytes(4).toString('hex');
  let calls = 0;
  const ctx = (operationName: string): CallContext => ({ tenantId: tenant, objectId: 'bench', appId: 'bench', callerIp: '127.0.0.1', correlationId: `bench-${runId}-${++calls}`, requestUri: `bench:${operationName}`, operationName });
  const refOf = (name: string): Required<ObjectRef> => ({ tenant, vault, collection: 'keys', name, version: randomBytes(16).toString('hex') });
  const names: string[] = [];
  const make = async (name: string, kty: string, extra: { keySize?: number; crv?: string; keyOps?: string[] } = {}): Promise<{ ref: Required<ObjectRef>; key: KeyVersion }> => {
    const ref = refOf(name);
    names.push(name);
    const { key } = await client.createKey({ ctx: ctx('KeyCreate'), ref, kty, ...extra });
    return { ref, key };
  };
  try {
    const rsa = await make('rsa', 'RSA', { keySize: 2048 });
    const rsaHsm = await make('rsa-hsm', 'RSA-HSM', { keySize: 2048 });
    const ec = await make('ec', 'EC', { crv: 'P-256' });
    const ecHsm = await make('ec-hsm', 'EC-HSM', { crv: 'P-256' });
    const aes = await make('aes', 'oct', { keySize: 256 });
    const aesHsm = await make('aes-hsm', 'oct-HSM', { keySize: 256 });
    const oaep = (k: KeyVersion): Buffer =>
      publicEncrypt(
        { key: createPublicKey({ key: { kty: 'RSA', n: k.key.n.toString('base64url'), e: k.key.e.toString('base64url') }, format: 'jwk' }), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha256' },
        randomBytes(32),
      );
    const rsaCt = oaep(rsa.key);
    const rsaHsmCt = oaep(rsaHsm.key);
    const digest = randomBytes(32);
    const plaintext = randomBytes(256);
    const secretRef = (): Required<ObjectRef> => ({ tenant, vault, collection: 'secrets', name: 'bench-secret', version: randomBytes(8).toString('hex') });
    /** BENCH_BATCH signatures per KeyOperationBatch call, each item with its own ctx (own audit record). */
    const batchCase = (name: string, keyType: string, hsm: boolean, ref: Required<ObjectRef>, algorithm: string): Case => ({
      name,
      keyType: `${keyType}, ${batchSize} per KeyOperationBatch call`,
      hsm,
      opsPerCall: batchSize,
      concurrency: batchConcurrency,
      op: async () => {
        const items = Array.from({ length: batchSize }, () => ({ ctx: ctx('KeySign'), ref, algorithm, value: digest }));
        const { results } = await client.keyOperationBatch({ operation: 'sign', items });
        const failed = results.filter((r) => r.errorCode !== '');
        if (failed.length > 0 || results.length !== batchSize) throw new Error(`${failed.length} of ${batchSize} items failed (${failed[0]?.errorCode ?? 'missing results'})`);
      },
    });

    const cases: Case[] = [
      { name: 'rsa2048Sign.software', keyType: 'RSA 2048 RS256', hsm: false, op: () => client.sign({ ctx: ctx('KeySign'), ref: rsa.ref, algorithm: 'RS256', value: digest }) },
      { name: 'rsa2048Sign.hsm', keyType: 'RSA-HSM 2048 RS256', hsm: true, op: () => client.sign({ ctx: ctx('KeySign'), ref: rsaHsm.ref, algorithm: 'RS256', value: digest }) },
      { name: 'es256Sign.software', keyType: 'EC P-256 ES256', hsm: false, op: () => client.sign({ ctx: ctx('KeySign'), ref: ec.ref, algorithm: 'ES256', value: digest }) },
      { name: 'es256Sign.hsm', keyType: 'EC-HSM P-256 ES256', hsm: true, op: () => client.sign({ ctx: ctx('KeySign'), ref: ecHsm.ref, algorithm: 'ES256', value: digest }) },
      { name: 'rsaOaep256Decrypt.software', keyType: 'RSA 2048 RSA-OAEP-256', hsm: false, op: () => client.decrypt({ ctx: ctx('KeyDecrypt'), ref: rsa.ref, algorithm: 'RSA-OAEP-256', value: rsaCt }) },
      { name: 'rsaOaep256Decrypt.hsm', keyType: 'RSA-HSM 2048 RSA-OAEP-256', hsm: true, op: () => client.decrypt({ ctx: ctx('KeyDecrypt'), ref: rsaHsm.ref, algorithm: 'RSA-OAEP-256', value: rsaHsmCt }) },
      { name: 'a256gcmEncrypt.software', keyType: 'oct 256 A256GCM (256-byte plaintext)', hsm: false, op: () => client.encrypt({ ctx: ctx('KeyEncrypt'), ref: aes.ref, algorithm: 'A256GCM', value: plaintext }) },
      { name: 'a256gcmEncrypt.hsm', keyType: 'oct-HSM 256 A256GCM (256-byte plaintext)', hsm: true, op: () => client.encrypt({ ctx: ctx('KeyEncrypt'), ref: aesHsm.ref, algorithm: 'A256GCM', value: plaintext }) },
      { name: 'dataKeyGenerate.software', keyType: 'AES-256 data key under the vault KEK', hsm: false, op: () => client.generateDataKey({ ctx: ctx('DataKeyGenerate'), ref: secretRef() }) },
      batchCase('rsa2048SignBatch.software', 'RSA 2048 RS256', false, rsa.ref, 'RS256'),
      batchCase('rsa2048SignBatch.hsm', 'RSA-HSM 2048 RS256', true, rsaHsm.ref, 'RS256'),
      batchCase('es256SignBatch.software', 'EC P-256 ES256', false, ec.ref, 'ES256'),
      batchCase('es256SignBatch.hsm', 'EC-HSM P-256 ES256', true, ecHsm.ref, 'ES256'),
    ];
    const selected = only.length === 0 ? cases : cases.filter((c) => only.some((o) => c.name === o || c.name.startsWith(`${o}.`)));
    const results: Record<string, Record<string, CaseResult | string>> = {};
    // The software signing cases sit between two openssl measurements, so the ceiling they
    // are compared with is taken under the same conditions (the machine may be shared).
    process.stderr.write('  warm-up …\n');
    for (const c of selected) await exercise(c, 1_000);
    process.stderr.write('  openssl speed (before) …\n');
    const before = await opensslSpeed();
    const order = ['rsa2048Sign.software', 'es256Sign.software', 'rsa2048SignBatch.software', 'es256SignBatch.software'];
    const sorted = [...selected.filter((c) => order.includes(c.name)), ...selected.filter((c) => !order.includes(c.name))];
    let after: Awaited<ReturnType<typeof opensslSpeed>> | undefined;
    for (const c of sorted) {
      if (!after && !order.includes(c.name)) {
        process.stderr.write('  openssl speed (after) …\n');
        after = await opensslSpeed();
      }
      const [group, kind] = c.name.split('.') as [string, string];
      process.stderr.write(`  ${c.name} …\n`);
      (results[group] ??= {})[kind] = await measure(c, probe);
    }
    if (results.dataKeyGenerate) results.dataKeyGenerate.hsm = 'n/a: data keys are AES keys under the in-memory vault KEK; the root (HSM or dev) only wraps the KEK once per vault';

    const a = after ?? before;
    const openssl = {
      command: before.command,
      rsa2048SignPerSec: Math.round((before.rsa2048SignPerSec + a.rsa2048SignPerSec) / 2),
      ecdsaP256SignPerSec: Math.round((before.ecdsaP256SignPerSec + a.ecdsaP256SignPerSec) / 2),
      before: { rsa2048SignPerSec: before.rsa2048SignPerSec, ecdsaP256SignPerSec: before.ecdsaP256SignPerSec },
      after: { rsa2048SignPerSec: a.rsa2048SignPerSec, ecdsaP256SignPerSec: a.ecdsaP256SignPerSec },
    };
    const sw = (group: string): number => (results[group]?.software as CaseResult | undefined)?.opsPerSec ?? Number.NaN;
    const rsaRatio = sw('rsa2048Sign') / openssl.rsa2048SignPerSec;
    const ecRatio = sw('es256Sign') / openssl.ecdsaP256SignPerSec;
    const rsaBatchRatio = sw('rsa2048SignBatch') / openssl.rsa2048SignPerSec;
    const ecBatchRatio = sw('es256SignBatch') / openssl.ecdsaP256SignPerSec;
    return {
      service: {
        address,
        startedForBench: started !== null,
        schema: started ? BENCH_SCHEMA : 'of the running service',
        audit: 'on (one durable audit record per operation, group commit)',
        outboxRelay: !started || relayOn ? 'on (audit records published to Kafka)' : 'OFF (BENCH_RELAY=0, diagnosis only: records durable in the outbox, not published)',
        transport: 'gRPC, mutual TLS, one HTTP/2 connection',
      },
      load: { concurrency, batchSize, batchConcurrency, secondsPerCase: seconds, clientInSameMachine: true, cpus: cpus().length },
      ...results,
      openssl,
      targets: {
        rsa2048SoftwareSignVsOpenssl2Core: Math.round(rsaRatio * 1000) / 1000,
        rsa2048SoftwareSignTarget: 0.6,
        rsa2048SoftwareSignMet: rsaRatio >= 0.6,
        es256SoftwareSignVsOpenssl2Core: Math.round(ecRatio * 1000) / 1000,
        es256SoftwareSignTarget: 0.15,
        es256SoftwareSignMet: ecRatio >= 0.15,
        // The same targets through KeyOperationBatch (one audit record per operation still).
        rsa2048SoftwareSignBatchVsOpenssl2Core: Math.round(rsaBatchRatio * 1000) / 1000,
        rsa2048SoftwareSignBatchMet: rsaBatchRatio >= 0.6,
        es256SoftwareSignBatchVsOpenssl2Core: Math.round(ecBatchRatio * 1000) / 1000,
        es256SoftwareSignBatchMet: ecBatchRatio >= 0.15,
      },
    };
  } finally {
    for (const name of names) await client.destroyKey({ ctx: ctx('KeyDestroy'), ref: { tenant, vault, collection: 'keys', name, version: '' } }).catch(() => undefined);
    await client.destroyDataKeys({ ctx: ctx('DataKeyDestroy'), ref: { tenant, vault, collection: 'secrets', name: 'bench-secret', version: '' } }).catch(() => undefined);
    client.close();
    if (started) {
      if (started.exitCode === null) {
        started.kill('SIGTERM');
        await new Promise((r) => started.once('exit', r));
      }
      const db = new pg.Client({ connectionString: loadConfig({ DATABASE_URL: commonSchema.DATABASE_URL }).DATABASE_URL });
      await db.connect();
      await db.query(`DROP SCHEMA IF EXISTS ${BENCH_SCHEMA} CASCADE`).finally(() => db.end());
    }
  }
}
