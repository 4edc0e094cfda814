/**
 * A service process of this build started by a spec itself, beside the ones the e2e run uses,
 * on its own port and with its own environment (low budgets, a tight bound on concurrent work),
 * against the same local stack. Several vault or identity processes share one stack by design
 * (advisory locks, per-process consumer groups), so the shared services are left alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import https from 'node:https';
import { join } from 'node:path';
import { stackEnv } from '../../support/stack-env.js';
import { bootstrap, ca } from '../../support/identity.js';

export type Exit = { readonly code: number | null; readonly signal: NodeJS.Signals | null; readonly at: number };

export type SpawnedService = {
  readonly name: 'vault' | 'identity';
  readonly port: number;
  readonly child: ChildProcess;
  /** Resolves when the process has exited. */
  readonly exited: Promise<Exit>;
  /** The last 8 KB of its output (JSON log lines). */
  readonly output: () => string;
  /** SIGTERM and wait for the exit (SIGKILL after 30 s). */
  readonly stop: () => Promise<Exit>;
};

function live(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/health/live', ca: ca(), servername: 'localhost', timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

export async function spawnService(name: 'vault' | 'identity', port: number, env: Record<string, string>, timeoutMs = 120_000): Promise<SpawnedService> {
  const main = join(stackEnv.repoRoot, 'dist', 'apps', name, 'src', 'main.js');
  const identity = bootstrap().authorityHost;
  const child = spawn(process.execPath, ['--enable-source-maps', main], {
    env: {
      ...process.env,
      KEYLEDGER_HOME: stackEnv.home,
      DATABASE_URL: stackEnv.databaseUrl,
      KAFKA_BROKERS: stackEnv.kafkaBrokers.join(','),
      ELASTICSEARCH_URL: stackEnv.elasticsearchUrl,
      NODE_EXTRA_CA_CERTS: stackEnv.caFile,
      SOFTHSM2_CONF: stackEnv.softhsmConf,
      KAFKAJS_NO_PARTITIONER_WARNING: '1',
      LOG_LEVEL: 'warn',
      ...(name === 'vault'
        ? { VAULT_PORT: String(port), VAULT_GRPC_ENABLED: 'false', VAULT_DEFAULT_POOL: '', IDENTITY_URL: identity, CRYPTO_GRPC_TARGET: process.env.CRYPTO_GRPC_TARGET ?? `localhost:${process.env.CRYPTO_GRPC_PORT ?? 9445}` }
        : { IDENTITY_PORT: String(port), IDENTITY_PUBLIC_URL: `https://localhost:${port}` }),
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (c: Buffer): void => {
    out = (out + c.toString()).slice(-8_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<Exit>((resolve) => child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })));
  let gone = false;
  void exited.then(() => (gone = true));
  const deadline = Date.now() + timeoutMs;
  while (!(await live(port))) {
    if (gone) throw new Error(`${name} on ${port} exited before it served:\n${out}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${name} on ${port} did not serve within ${timeoutMs / 1000} s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  const stop = async (): Promise<Exit> => {
    if (!gone) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const e = await exited;
      clearTimeout(t);
      return e;
    }
    return exited;
  };
  return { name, port, child, exited, output: () => out, stop };
}
