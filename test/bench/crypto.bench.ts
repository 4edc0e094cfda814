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
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { constants, createPublicKey, publicEncrypt, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
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

type Case = { readonly name: string; readonly keyType: string; readonly hsm: boolean; readonly op: () => Promise<unknown> };
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
};

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
await startCryptoService({ name: ${JSON.stringify(BENCH_SCHEMA)} });`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
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

/** Calls `op` with the bench's concurrency for `ms` (JIT, caches, connection pools warm). */
async function exercise(op: () => Promise<unknown>, ms: number): Promise<void> {
  const until = performance.now() + ms;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < until) await op().catch(() => undefined);
    }),
  );
}

async function measure(c: Case): Promise<CaseResult> {
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
  await exercise(c.op, 2_000);
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(Array.from({ length: concurrency }, () => loop(end)));
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number): number => Math.round((latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * p))] ?? 0) * 100) / 100;
  return { keyType: c.keyType, hsm: c.hsm, opsPerSec: Math.round(latencies.length / elapsed), p50Ms: pct(0.5), p99Ms: pct(0.99), ops: latencies.length, errors, loadAverage };
}

/** `openssl speed -seconds 3 -multi 2 rsa2048 ecdsap256`: sign/s of each, both cores. */
async function opensslSpeed(): Promise<{ command: string; rsa2048SignPerSec: number; ecdsaP256SignPerSec: number }> {
  const args = ['speed', '-seconds', '3', '-multi', '2', 'rsa2048', 'ecdsap256'];
  const { stdout } = await run$('openssl', args, { maxBuffer: 4 * 1024 * 1024 });
  const rsa = /^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/m.exec(stdout);
  const ec = /^\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/m.exec(stdout);
  if (!rsa || !ec) throw new Error(`unexpected openssl speed output:\n${stdout.slice(-800)}`);
  return { command: `openssl ${args.join(' ')}`, rsa2048SignPerSec: Number(rsa[1]), ecdsaP256SignPerSec: Number(ec[1]) };
}

export async function run(): Promise<Record<string, unknown>> {
  const { client, address, started } = await target();
  const tenant = `bench-${randomBytes(4).toString('hex')}`;
  const vault = 'bench';
  const ctx = (operationName: string): CallContext => ({ tenantId: tenant, objectId: 'bench', appId: 'bench', callerIp: '127.0.0.1', correlationId: `bench-${randomBytes(6).toString('hex')}`, requestUri: `bench:${operationName}`, operationName });
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
    ];
    const results: Record<string, Record<string, CaseResult | string>> = {};
    // The software signing cases sit between two openssl measurements, so the ceiling they
    // are compared with is taken under the same conditions (the machine may be shared).
    process.stderr.write('  warm-up …\n');
    for (const c of cases) await exercise(c.op, 1_000);
    process.stderr.write('  openssl speed (before) …\n');
    const before = await opensslSpeed();
    const order = ['rsa2048Sign.software', 'es256Sign.software'];
    const sorted = [...cases.filter((c) => order.includes(c.name)), ...cases.filter((c) => !order.includes(c.name))];
    let after: Awaited<ReturnType<typeof opensslSpeed>> | undefined;
    for (const c of sorted) {
      if (!after && !order.includes(c.name)) {
        process.stderr.write('  openssl speed (after) …\n');
        after = await opensslSpeed();
      }
      const [group, kind] = c.name.split('.') as [string, string];
      process.stderr.write(`  ${c.name} …\n`);
      (results[group] ??= {})[kind] = await measure(c);
    }
    results.dataKeyGenerate!.hsm = 'n/a: data keys are AES keys under the in-memory vault KEK; the root (HSM or dev) only wraps the KEK once per vault';

    const a = after ?? before;
    const openssl = {
      command: before.command,
      rsa2048SignPerSec: Math.round((before.rsa2048SignPerSec + a.rsa2048SignPerSec) / 2),
      ecdsaP256SignPerSec: Math.round((before.ecdsaP256SignPerSec + a.ecdsaP256SignPerSec) / 2),
      before: { rsa2048SignPerSec: before.rsa2048SignPerSec, ecdsaP256SignPerSec: before.ecdsaP256SignPerSec },
      after: { rsa2048SignPerSec: a.rsa2048SignPerSec, ecdsaP256SignPerSec: a.ecdsaP256SignPerSec },
    };
    const sw = (group: string): number => (results[group]!.software as CaseResult).opsPerSec;
    const rsaRatio = sw('rsa2048Sign') / openssl.rsa2048SignPerSec;
    const ecRatio = sw('es256Sign') / openssl.ecdsaP256SignPerSec;
    return {
      service: { address, startedForBench: started !== null, schema: started ? BENCH_SCHEMA : 'of the running service', audit: 'on (one durable audit record per call, group commit)', transport: 'gRPC, mutual TLS, one HTTP/2 connection' },
      load: { concurrency, secondsPerCase: seconds, clientInSameMachine: true, cpus: cpus().length },
      ...results,
      openssl,
      targets: {
        rsa2048SoftwareSignVsOpenssl2Core: Math.round(rsaRatio * 1000) / 1000,
        rsa2048SoftwareSignTarget: 0.6,
        rsa2048SoftwareSignMet: rsaRatio >= 0.6,
        es256SoftwareSignVsOpenssl2Core: Math.round(ecRatio * 1000) / 1000,
        es256SoftwareSignTarget: 0.15,
        es256SoftwareSignMet: ecRatio >= 0.15,
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
