// Starts the four Keyledger services from dist/ as child processes and waits until they answer.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { DIRS, PORTS, REPO_ROOT, StackError, sleep } from './util.mjs';
import { databaseUrl } from './postgres.mjs';
import { softhsmPaths, softhsmModule } from './softhsm.mjs';

export const SERVICES = [
  { name: 'identity', port: Number(process.env.IDENTITY_PORT ?? 9443), what: 'OAuth2/OIDC token service' },
  { name: 'crypto', port: Number(process.env.CRYPTO_PORT ?? 9444), what: 'key custody (health; gRPC on its own port)' },
  { name: 'vault', port: Number(process.env.VAULT_PORT ?? 8443), what: 'Azure Key Vault REST API' },
  { name: 'audit', port: Number(process.env.AUDIT_PORT ?? 8444), what: 'audit search and verify API' },
];

/** The gRPC ports next to the HTTPS ones (the services read the same variables). */
export const GRPC_PORTS = {
  crypto: Number(process.env.CRYPTO_GRPC_PORT ?? 9445),
  vault: Number(process.env.VAULT_GRPC_PORT ?? 8445),
};

/**
 * The services' environment. Everything that names a port of the stack or of another service
 * is derived from the port variables (KEYLEDGER_PG_PORT, KEYLEDGER_KAFKA_PORT, KEYLEDGER_ES_PORT,
 * IDENTITY_PORT, CRYPTO_GRPC_PORT, …) unless set explicitly, so a second stack under another
 * KEYLEDGER_HOME on other ports runs beside the first without touching it.
 */
export function serviceEnv() {
  const hsm = softhsmPaths();
  const identity = SERVICES.find((s) => s.name === 'identity').port;
  const identityUrl = process.env.IDENTITY_URL ?? `https://localhost:${identity}`;
  return {
    ...process.env,
    KEYLEDGER_HOME: DIRS.home,
    DATABASE_URL: databaseUrl(),
    KAFKA_BROKERS: process.env.KAFKA_BROKERS ?? `127.0.0.1:${PORTS.kafka}`,
    ELASTICSEARCH_URL: process.env.ELASTICSEARCH_URL ?? `http://127.0.0.1:${PORTS.elasticsearch}`,
    IDENTITY_URL: identityUrl,
    IDENTITY_PUBLIC_URL: process.env.IDENTITY_PUBLIC_URL ?? identityUrl,
    CRYPTO_GRPC_TARGET: process.env.CRYPTO_GRPC_TARGET ?? `localhost:${GRPC_PORTS.crypto}`,
    SOFTHSM2_CONF: process.env.SOFTHSM2_CONF ?? hsm.conf,
    PKCS11_MODULE: process.env.PKCS11_MODULE ?? softhsmModule() ?? '',
    NODE_EXTRA_CA_CERTS: process.env.NODE_EXTRA_CA_CERTS ?? join(DIRS.tls, 'ca.crt'),
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
    // Request budgets ×100 Azure's on the development stack, so benchmarks and test suites
    // measure the service rather than the budget; a deployment gets Azure's (README "Throttling").
    VAULT_THROTTLE_LIMITS: process.env.VAULT_THROTTLE_LIMITS ?? 'keys-create=1000,keys=200000,secrets=400000,other=400000',
    // Every test and tool here calls from 127.0.0.1, many with deliberately wrong credentials.
    IDENTITY_FAILED_AUTH_PER_CLIENT: process.env.IDENTITY_FAILED_AUTH_PER_CLIENT ?? '1000',
    IDENTITY_FAILED_AUTH_PER_ADDRESS: process.env.IDENTITY_FAILED_AUTH_PER_ADDRESS ?? '10000',
    // Sign-in failures are counted in PostgreSQL (they outlive a restart): the same for sign-in pages.
    SIGN_IN_MAX_FAILURES_PER_ADDRESS: process.env.SIGN_IN_MAX_FAILURES_PER_ADDRESS ?? '10000',
  };
}

function getJson(port, path, ca) {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, ca, servername: 'localhost', timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode, body: JSON.parse(body) });
        } catch {
          resolve({ status: res.statusCode, body });
        }
      });
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

/** Spawns one service process (node dist/apps/<name>/src/main.js), its output appended to .keyledger/logs/<name>.log. */
function spawnService(svc, entry, onExit) {
  const main = join(REPO_ROOT, 'dist', 'apps', svc.name, 'src', 'main.js');
  if (!existsSync(main)) throw new StackError(`${svc.name}: ${main} not built; run "npm run build"`);
  const log = createWriteStream(join(DIRS.logs, `${svc.name}.log`), { flags: 'a' });
  // KEYLEDGER_NODE_ARGS: more Node options for every service, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
  // (a profile per process, written when it stops; NODE_OPTIONS refuses --cpu-prof).
  const extra = (process.env.KEYLEDGER_NODE_ARGS ?? '').split(/\s+/).filter((a) => a.length > 0);
  const child = spawn(process.execPath, ['--enable-source-maps', ...extra, main], { env: serviceEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  let stderr = '';
  child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
  entry.child = child;
  entry.startedAt = Date.now();
  entry.stderrTail = () => stderr;
  child.on('exit', (code, signal) => onExit?.(svc, code, signal, stderr));
  return entry;
}

/** Restart delays of a supervised service: 1 s doubling to 30 s; back to 1 s after a minute up. */
export const RESTART_BACKOFF = { firstMs: 1_000, maxMs: 30_000, stableMs: 60_000 };

/**
 * Spawns each service (node dist/apps/<name>/src/main.js) with its output in
 * .keyledger/logs/<name>.log; resolves once every service reports healthy.
 *
 * With `supervise`, a service that exits unasked (a crash, kill -9, an OOM kill) is started
 * again with backoff (RESTART_BACKOFF), and `onRestart(svc, code, signal, delayMs, tail)` is told;
 * `stopServices` ends supervision. Without it, `onExit` is told and nothing is restarted.
 */
export async function startServices({ onExit, onRestart, supervise = false, timeoutMs = 120_000, services = SERVICES } = {}) {
  const ca = readFileSync(join(DIRS.tls, 'ca.crt'));
  const children = [];
  for (const svc of services) {
    const entry = { ...svc, restarts: 0, backoffMs: RESTART_BACKOFF.firstMs, stopping: false };
    const exited = (s, code, signal, tail) => {
      if (!supervise || entry.stopping) return onExit?.(s, code, signal, tail);
      if (Date.now() - entry.startedAt > RESTART_BACKOFF.stableMs) entry.backoffMs = RESTART_BACKOFF.firstMs;
      const delay = entry.backoffMs;
      entry.backoffMs = Math.min(entry.backoffMs * 2, RESTART_BACKOFF.maxMs);
      onRestart?.(s, code, signal, delay, tail);
      entry.timer = setTimeout(() => {
        entry.timer = undefined;
        if (entry.stopping) return;
        entry.restarts++;
        try {
          spawnService(svc, entry, exited);
        } catch (err) {
          onExit?.(s, code, signal, `${tail}\n${err.message}`);
        }
      }, delay);
    };
    children.push(spawnService(svc, entry, exited));
  }
  const deadline = Date.now() + timeoutMs;
  for (const c of children) {
    for (;;) {
      if (c.child.exitCode !== null) throw new StackError(`${c.name} exited during start (code ${c.child.exitCode}):\n${c.stderrTail()}`);
      try {
        const res = await getJson(c.port, '/health', ca);
        if (res.status === 200) break;
        if (Date.now() > deadline) throw new StackError(`${c.name} not healthy: ${JSON.stringify(res.body)}`);
      } catch (err) {
        if (err instanceof StackError) throw err;
        if (Date.now() > deadline) throw new StackError(`${c.name} did not answer on port ${c.port}: ${err.message}`);
      }
      await sleep(300);
    }
  }
  return children;
}

export async function stopServices(children, timeoutMs = 15_000) {
  for (const c of children) {
    c.stopping = true;
    if (c.timer) clearTimeout(c.timer);
  }
  await Promise.all(
    children.map(
      ({ child }) =>
        new Promise((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
          child.once('exit', () => {
            clearTimeout(timer);
            resolve();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
}
