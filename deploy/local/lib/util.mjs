// Shared helpers for the local stack scripts. Plain Node ESM: runs before any build.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const HOME = resolve(process.env.KEYLEDGER_HOME ?? join(REPO_ROOT, '.keyledger'));
export const DIRS = {
  home: HOME,
  lib: join(HOME, 'lib'),
  data: join(HOME, 'data'),
  logs: join(HOME, 'logs'),
  run: join(HOME, 'run'),
  tls: join(HOME, 'tls'),
  softhsm: join(HOME, 'softhsm'),
};

export const PORTS = {
  postgres: Number(process.env.KEYLEDGER_PG_PORT ?? 5432),
  kafka: Number(process.env.KEYLEDGER_KAFKA_PORT ?? 9092),
  kafkaController: Number(process.env.KEYLEDGER_KAFKA_CONTROLLER_PORT ?? 9093),
  elasticsearch: Number(process.env.KEYLEDGER_ES_PORT ?? 9200),
  elasticsearchTransport: Number(process.env.KEYLEDGER_ES_TRANSPORT_PORT ?? 9300),
};

export function ensureDirs() {
  for (const d of Object.values(DIRS)) mkdirSync(d, { recursive: true });
}

const tty = process.stdout.isTTY;
const paint = (code, s) => (tty ? `\x1b[${code}m${s}\x1b[0m` : s);
export const say = (component, msg) => console.log(`${paint('36', `[${component}]`)} ${msg}`);
export const warn = (component, msg) => console.error(`${paint('33', `[${component}]`)} ${msg}`);
export const fail = (component, msg) => console.error(`${paint('31', `[${component}]`)} ${msg}`);

export class StackError extends Error {}

/** Runs a command with inherited output (so progress shows); throws naming the step on failure. */
export function run(component, cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { stdio: opts.quiet ? 'pipe' : 'inherit', encoding: 'utf8', ...opts });
  if (res.error) throw new StackError(`${component}: cannot run ${cmd}: ${res.error.message}`);
  if (res.status !== 0) {
    const out = opts.quiet ? `\n${(res.stdout ?? '') + (res.stderr ?? '')}`.trimEnd() : '';
    throw new StackError(`${component}: "${[cmd, ...args].join(' ')}" exited with ${res.status}${out}`);
  }
  return res;
}

export function pidAlive(pid) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

export function readPid(file) {
  if (!existsSync(file)) return undefined;
  const n = Number(readFileSync(file, 'utf8').trim().split('\n')[0]);
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

/** Resolves true when nothing listens on host:port. */
export function portFree(port, host = '127.0.0.1') {
  return new Promise((resolvePromise) => {
    const srv = net.createServer();
    srv.once('error', () => resolvePromise(false));
    srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolvePromise(true)));
  });
}

export async function assertPortFree(port, component) {
  if (!(await portFree(port))) throw new StackError(`port ${port} (${component}) is already in use`);
}

export function tcpReachable(port, host = '127.0.0.1', timeoutMs = 500) {
  return new Promise((resolvePromise) => {
    const sock = net.connect({ port, host });
    const done = (ok) => {
      sock.destroy();
      resolvePromise(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(what, fn, timeoutMs, intervalMs = 250) {
  const deadline = Date.now() + timeoutMs;
  let last;
  while (Date.now() < deadline) {
    try {
      if (await fn()) return;
    } catch (err) {
      last = err;
    }
    await sleep(intervalMs);
  }
  throw new StackError(`${what} not ready after ${Math.round(timeoutMs / 1000)} s${last ? `: ${last.message}` : ''}`);
}

export const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;
