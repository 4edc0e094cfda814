import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { promisify } from 'node:util';
import autocannon from 'autocannon';
import { bootstrap, ca, httpsRequest, tokenFor } from '../support/identity.js';
import { suffix } from '../support/stack-env.js';

/**
 * REST sign throughput: `POST /keys/{name}/{version}/sign` RS256 (RSA 2048) and ES256 (P-256),
 * software and HSM (SoftHSM2) keys, over HTTPS with keep-alive at 64 concurrent connections
 * (autocannon) against the running services with audit on (the vault's record and the crypto
 * service's record of every call are durable before the answer), beside
 * `openssl speed -seconds 3 -multi 2 rsa2048 ecdsap256` measured in the same run. CPU
 * microseconds per operation of each process (vault, crypto, audit, identity, PostgreSQL, this
 * client) from /proc, as the crypto bench reports them.
 *
 * Needs the four services running; on a shared machine start and stop them inside the e2e lock
 * (`flock /tmp/keyledger-e2e.lock …`), as the e2e specs do.
 *
 * BENCH_SECONDS (default 10) per case; VAULT_URL (default https://localhost:8443, the dev vault);
 * BENCH_OPENSSL=0 skips the openssl ceiling.
 */
type CaseResult = {
  readonly algorithm: string;
  readonly keyType: string;
  readonly opsPerSec: number;
  readonly latencyMsP50: number;
  readonly latencyMsP99: number;
  readonly latencyMsMax: number;
  readonly requests: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly loadAverage: number;
  readonly cpuUsPerOp: Record<string, number>;
};

const run$ = promisify(execFile);

function cannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

/** Linux: user+system CPU ticks (1/100 s) of a process; 0 when unreadable. */
function ticks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** The processes whose CPU is accounted, by the command line that started them. */
const PROCESSES: Readonly<Record<string, RegExp>> = {
  vault: /apps\/vault\/src\/main\.js/,
  crypto: /apps\/crypto\/src\/main\.js/,
  audit: /apps\/audit\/src\/main\.js/,
  identity: /apps\/identity\/src\/main\.js/,
  postgres: /(^|\/)postgres(\s|\0|:|$)/,
};

function pidsByProcess(): Record<string, number[]> {
  const out: Record<string, number[]> = Object.fromEntries(Object.keys(PROCESSES).map((k) => [k, []]));
  if (process.platform !== 'linux') return out;
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let cmd = '';
    try {
      cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
    } catch {
      continue;
    }
    for (const [name, re] of Object.entries(PROCESSES)) if (re.test(cmd)) out[name]!.push(Number(entry));
  }
  return out;
}

/** µs of CPU per accounted process (PostgreSQL per backend pid, since backends come and go). */
type Snapshot = { readonly perPid: ReadonlyMap<number, number>; readonly client: number };
function snapshot(pids: Record<string, number[]>): Snapshot {
  const perPid = new Map<number, number>();
  for (const list of Object.values(pids)) for (const p of list) perPid.set(p, ticks(p) * 10_000);
  const u = process.cpuUsage();
  return { perPid, client: u.user + u.system };
}
function cpuPerOp(a: Snapshot, b: Snapshot, pidsAfter: Record<string, number[]>, ops: number): Record<string, number> {
  const out: Record<string, number> = {};
  if (ops === 0) return out;
  for (const [name, list] of Object.entries(pidsAfter)) {
    let us = 0;
    for (const p of list) us += (b.perPid.get(p) ?? 0) - (a.perPid.get(p) ?? 0);
    out[name] = Math.round(us / ops);
  }
  out.client = Math.round((b.client - a.client) / ops);
  return out;
}

async function opensslSpeed(): Promise<{ command: string; rsa2048SignPerSec: number; ecdsaP256SignPerSec: number }> {
  if (process.env.BENCH_OPENSSL === '0') return { command: 'skipped (BENCH_OPENSSL=0)', rsa2048SignPerSec: Number.NaN, ecdsaP256SignPerSec: Number.NaN };
  const args = ['speed', '-seconds', '3', '-multi', '2', 'rsa2048', 'ecdsap256'];
  const { stdout } = await run$('openssl', args, { maxBuffer: 4 * 1024 * 1024 });
  const rsa = /^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/m.exec(stdout);
  const ec = /^\s*256 bits ecdsa \(nistp256\)\s+\S+\s+\S+\s+([\d.]+)\s+([\d.]+)/m.exec(stdout);
  if (!rsa || !ec) throw new Error(`unexpected openssl speed output:\n${stdout.slice(-800)}`);
  return { command: `openssl ${args.join(' ')}`, rsa2048SignPerSec: Number(rsa[1]), ecdsaP256SignPerSec: Number(ec[1]) };
}

export async function run(): Promise<Record<string, unknown>> {
  const b = bootstrap();
  const base = (process.env.VAULT_URL ?? 'https://localhost:8443').replace(/\/+$/, '');
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  const connections = 64;
  const token = await tokenFor(b.clientId, b.clientSecret, 'https://vault.localhost');
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const tlsOptions = { ca: ca() };
  const tag = suffix();

  const specs = [
    { algorithm: 'RS256', keyType: 'RSA', create: { kty: 'RSA', key_size: 2048 } },
    { algorithm: 'ES256', keyType: 'EC', create: { kty: 'EC', crv: 'P-256' } },
    { algorithm: 'RS256', keyType: 'RSA-HSM', create: { kty: 'RSA-HSM', key_size: 2048 } },
    { algorithm: 'ES256', keyType: 'EC-HSM', create: { kty: 'EC-HSM', crv: 'P-256' } },
  ] as const;

  process.stderr.write('  openssl speed …\n');
  const openssl = await opensslSpeed();

  const cases: Record<string, CaseResult> = {};
  const digest = createHash('sha256').update('keyledger bench').digest().toString('base64url');
  for (const s of specs) {
    const name = `bench-${s.keyType.toLowerCase()}-${tag}`;
    const created = await httpsRequest(`${base}/keys/${name}/create?api-version=7.6`, { method: 'POST', headers, body: JSON.stringify(s.create) });
    if (created.status !== 200) throw new Error(`creating ${name}: ${created.status} ${created.text}`);
    const kid = (created.json as { key: { kid: string } }).key.kid;
    const path = `${new URL(kid).pathname}/sign?api-version=7.6`;
    const body = JSON.stringify({ alg: s.algorithm, value: digest });
    const check = await httpsRequest(`${base}${path}`, { method: 'POST', headers, body });
    if (check.status !== 200) throw new Error(`signing with ${name}: ${check.status} ${check.text}`);
    const requests = [{ method: 'POST' as const, path, headers, body }];
    process.stderr.write(`  ${s.algorithm} ${s.keyType} …\n`);
    await cannon({ url: base, connections, duration: 2, tlsOptions, requests });
    const pids = pidsByProcess();
    const load = loadavg()[0] ?? 0;
    const before = snapshot(pids);
    const r = await cannon({ url: base, connections, duration: seconds, tlsOptions, requests });
    const after = snapshot(pids);
    cases[`${s.algorithm.toLowerCase()}${s.keyType.endsWith('-HSM') ? 'Hsm' : 'Software'}`] = {
      algorithm: s.algorithm,
      keyType: s.keyType,
      opsPerSec: Math.round(r.requests.average),
      latencyMsP50: r.latency.p50,
      latencyMsP99: r.latency.p99,
      latencyMsMax: r.latency.max,
      requests: r.requests.total,
      non2xx: r.non2xx,
      errors: r.errors,
      loadAverage: Math.round(load * 100) / 100,
      cpuUsPerOp: cpuPerOp(before, after, pids, r.requests.total),
    };
  }

  const ratio = (x: number, y: number): number => Math.round((x / y) * 1000) / 1000;
  return {
    target: base,
    connections,
    secondsPerCase: seconds,
    audit: 'on (vault and crypto records durable before each answer)',
    cases,
    openssl,
    ofOpenssl: {
      rs256Software: ratio(cases.rs256Software!.opsPerSec, openssl.rsa2048SignPerSec),
      es256Software: ratio(cases.es256Software!.opsPerSec, openssl.ecdsaP256SignPerSec),
    },
    targets: {
      rs256SoftwarePerSec: { target: 2500, met: cases.rs256Software!.opsPerSec >= 2500 },
      es256SoftwarePerSec: { target: 9000, met: cases.es256Software!.opsPerSec >= 9000 },
      p99Ms: { target: 50, met: cases.rs256Software!.latencyMsP99 <= 50 && cases.es256Software!.latencyMsP99 <= 50 },
    },
  };
}
