/**
 * Where the stack under proof is and how to hurt it: the same environment variables as
 * `deploy/local` (KEYLEDGER_HOME, KEYLEDGER_*_PORT) and the services (VAULT_PORT, …), so a
 * proof runs against an isolated stack on other ports as easily as against the default one.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { keyledgerHome, REPO_ROOT } from '#libs/platform';

const num = (name: string, fallback: number): number => Number(process.env[name] ?? fallback);

export const HOME = keyledgerHome();
export const PORTS = {
  vault: num('VAULT_PORT', 8443),
  audit: num('AUDIT_PORT', 8444),
  identity: num('IDENTITY_PORT', 9443),
  crypto: num('CRYPTO_PORT', 9444),
  postgres: num('KEYLEDGER_PG_PORT', 5432),
  kafka: num('KEYLEDGER_KAFKA_PORT', 9092),
  elasticsearch: num('KEYLEDGER_ES_PORT', 9200),
};
export const DATABASE_URL = process.env.DATABASE_URL ?? `postgres://keyledger:keyledger@127.0.0.1:${PORTS.postgres}/keyledger`;
export const ELASTICSEARCH_URL = process.env.ELASTICSEARCH_URL ?? `http://127.0.0.1:${PORTS.elasticsearch}`;
export const AUDIT_ALIAS = process.env.AUDIT_ES_ALIAS ?? 'keyledger-audit';
export const VAULT_URL = `https://localhost:${PORTS.vault}`;
export const AUDIT_URL = `https://localhost:${PORTS.audit}`;

export const NODE_SERVICES = ['vault', 'crypto', 'audit', 'identity'] as const;
export const STACK_COMPONENTS = ['postgres', 'kafka', 'elasticsearch'] as const;
export type NodeService = (typeof NODE_SERVICES)[number];
export type StackComponent = (typeof STACK_COMPONENTS)[number];
export type Component = NodeService | StackComponent;
export const COMPONENTS: readonly Component[] = [...NODE_SERVICES, ...STACK_COMPONENTS];

export type Bootstrap = { tenantId: string; clientId: string; clientSecret: string; authorityHost: string };
export const bootstrap = (): Bootstrap => JSON.parse(readFileSync(join(HOME, 'bootstrap.json'), 'utf8')) as Bootstrap;
/**
 * The identity service of the stack under proof: the one its port variable names when set (a
 * second set of services on other ports beside the default one, sharing KEYLEDGER_HOME, whose
 * vault trusts only that identity's issuer), else bootstrap.json's.
 */
export const authorityHost = (): string => (process.env.IDENTITY_PORT ? `https://localhost:${PORTS.identity}` : bootstrap().authorityHost);
export const caCert = (): Buffer => readFileSync(join(HOME, 'tls', 'ca.crt'));

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The pid listening on a TCP port of this machine (ss from iproute2). */
export function pidOnPort(port: number): number | undefined {
  const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' });
  const m = /pid=(\d+)/.exec(out);
  return m ? Number(m[1]) : undefined;
}

function readPidFile(file: string): number | undefined {
  if (!existsSync(file)) return undefined;
  const n = Number(readFileSync(file, 'utf8').trim().split('\n')[0]);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

export function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** The main pid of a component: a Node service by its port, PostgreSQL's postmaster, Kafka's and Elasticsearch's JVM. */
export function mainPid(c: Component): number | undefined {
  switch (c) {
    case 'postgres':
      return readPidFile(join(HOME, 'data', 'postgres', 'postmaster.pid'));
    case 'kafka':
      return readPidFile(join(HOME, 'run', 'kafka.pid'));
    case 'elasticsearch':
      return readPidFile(join(HOME, 'run', 'elasticsearch.pid'));
    default:
      return pidOnPort(PORTS[c]);
  }
}

/** Direct children of a process (/proc/<pid>/task/<pid>/children). */
export function childrenOf(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** kill -9 of the component's main process and, for PostgreSQL, of its backends too (as a container kill would). Returns the pids killed. */
export function killComponent(c: Component): number[] {
  const pid = mainPid(c);
  if (!pid || !alive(pid)) throw new Error(`${c}: no running process to kill`);
  const pids = c === 'postgres' ? [pid, ...childrenOf(pid)] : [pid];
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  return pids;
}

export function stackCommand(sub: 'up' | 'status'): { status: number; stdout: string } {
  const res = spawnSync(process.execPath, [join(REPO_ROOT, 'deploy/local/stack.mjs'), sub], { encoding: 'utf8', env: process.env });
  return { status: res.status ?? 1, stdout: `${res.stdout ?? ''}${res.stderr ?? ''}` };
}

/** `stack.mjs <sub>` without blocking the event loop (the workload keeps running meanwhile). */
function stackCommandAsync(sub: 'up'): Promise<{ status: number; stdout: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [join(REPO_ROOT, 'deploy/local/stack.mjs'), sub], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-4_000)));
    child.stderr.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-4_000)));
    child.on('exit', (code) => resolve({ status: code ?? 1, stdout: out }));
  });
}

/**
 * The outer supervisor of PostgreSQL, Kafka and Elasticsearch (the role systemd or a container
 * runtime plays in production): `npm run stack:up` brings back whatever is down, retried until
 * it succeeds (PostgreSQL refuses to start while killed backends still hold its shared memory).
 */
export async function restartStack(timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    const res = await stackCommandAsync('up');
    if (res.status === 0) return;
    last = res.stdout.split('\n').slice(-6).join('\n');
    await sleep(1_000);
  }
  throw new Error(`stack:up did not succeed within ${timeoutMs / 1000} s:\n${last}`);
}

export function httpsGet(port: number, path: string, timeoutMs = 3_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path, ca: caCert(), servername: 'localhost', timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', () => resolve({ status: 0, body: '' }));
    req.on('timeout', () => req.destroy());
  });
}

/** Every service answers /health 200 (its PostgreSQL, Kafka and Elasticsearch reachable). */
export async function allHealthy(): Promise<boolean> {
  const res = await Promise.all(NODE_SERVICES.map((s) => httpsGet(PORTS[s], '/health')));
  return res.every((r) => r.status === 200);
}

export async function waitUntil(what: string, fn: () => Promise<boolean> | boolean, timeoutMs: number, intervalMs = 250): Promise<number> {
  const started = Date.now();
  while (Date.now() - started < timeoutMs) {
    if (await fn()) return Date.now();
    await sleep(intervalMs);
  }
  throw new Error(`${what}: not within ${Math.round(timeoutMs / 1000)} s`);
}

/**
 * The services under `npm start` (deploy/local/start.mjs): reused when they already answer,
 * else started here and stopped by `stop()`.
 */
export async function ensureServices(log: (s: string) => void): Promise<{ stop: () => Promise<void> }> {
  if ((await httpsGet(PORTS.vault, '/health/live')).status === 200) {
    log(`services already running (vault on ${PORTS.vault}): using them`);
    return { stop: async () => undefined };
  }
  log('starting the services with npm start (deploy/local/start.mjs)');
  const child: ChildProcess = spawn(process.execPath, [join(REPO_ROOT, 'deploy/local/start.mjs')], { env: process.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-8_000)));
  child.stderr?.on('data', (c: Buffer) => (out = (out + c.toString()).slice(-8_000)));
  await waitUntil('npm start', async () => {
    if (child.exitCode !== null) throw new Error(`npm start exited (${child.exitCode}):\n${out}`);
    return out.includes('Keyledger is up');
  }, 300_000, 500);
  return {
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * Resident memory (bytes) of a process; with `tree` (PostgreSQL), the private anonymous memory of
 * it and its children: the backends' own memory, where a leak would show. Their shared buffers
 * are left out: a fixed-size cache (`shared_buffers`) whose pages become resident as the working
 * set warms, which a short soak took for an upward trend (PSS 321 → 355 MiB in CI's 2 minutes).
 */
export function rssBytes(pid: number | undefined, tree = false): number | undefined {
  if (!pid) return undefined;
  const field = (p: number, file: string, name: string): number => {
    try {
      const m = new RegExp(`${name}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${p}/${file}`, 'utf8'));
      return m ? Number(m[1]) * 1024 : 0;
    } catch {
      return 0;
    }
  };
  if (!tree) return field(pid, 'status', 'VmRSS');
  return [pid, ...childrenOf(pid)].reduce((sum, p) => sum + field(p, 'smaps_rollup', 'Anonymous'), 0);
}

/** Bytes under a directory (du -sb). */
export function dirBytes(dir: string): number | undefined {
  if (!existsSync(dir)) return undefined;
  const res = spawnSync('du', ['-sbL', dir], { encoding: 'utf8' });
  const n = Number((res.stdout ?? '').split(/\s/)[0]);
  return Number.isFinite(n) ? n : undefined;
}

export const kafkaDataDir = (): string => join(HOME, 'data', 'kafka');

/** Whether a directory exists and holds entries. */
export function nonEmpty(dir: string): boolean {
  return existsSync(dir) && readdirSync(dir).length > 0;
}
