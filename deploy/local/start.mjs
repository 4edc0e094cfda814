#!/usr/bin/env node
// npm start: bring the local stack up if needed, build, start the four services, print where they are.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { checkPrerequisites } from './lib/preflight.mjs';
import { SERVICES, startServices, stopServices } from './lib/services.mjs';
import { DIRS, REPO_ROOT, StackError, fail, say } from './lib/util.mjs';

/** The web console (apps/console): started after the four services, as a fifth supervised process. */
const CONSOLE = { name: 'console', port: Number(process.env.CONSOLE_PORT ?? 8446), what: 'web console' };

try {
  checkPrerequisites();
  const status = spawnSync(process.execPath, [join(REPO_ROOT, 'deploy/local/stack.mjs'), 'status'], { encoding: 'utf8' });
  if (status.status !== 0) {
    say('start', 'bringing the local stack up (the first run downloads Kafka and Elasticsearch jars through Maven)');
    const up = spawnSync(process.execPath, [join(REPO_ROOT, 'deploy/local/stack.mjs'), 'up'], { stdio: 'inherit' });
    if (up.status !== 0) throw new StackError('the local stack did not come up (see above)');
  }
  say('start', 'building');
  const build = spawnSync('npx', ['tsc', '-p', 'tsconfig.json'], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new StackError('build failed');
  const consoleBuild = spawnSync('npx', ['vite', 'build', '--config', 'apps/console/vite.config.mjs'], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (consoleBuild.status !== 0) throw new StackError('console build failed');
  let stopping = false;
  // Supervised: a service that dies (crash, kill -9) is started again with backoff; its
  // unfinished work is safe (outbox, inbox, offsets after commit) and it resumes on its own.
  const children = await startServices({
    services: [...SERVICES, CONSOLE],
    supervise: true,
    onRestart: (svc, code, signal, delayMs, tail) => {
      if (!stopping) fail(svc.name, `exited (${signal ?? code}); restarting in ${delayMs / 1000} s; last output:\n${tail.split('\n').slice(-5).join('\n')}`);
    },
    onExit: (svc, code, signal, tail) => {
      if (!stopping) fail(svc.name, `exited (${signal ?? code}) and could not be restarted; last output:\n${tail}`);
    },
  });
  say('start', 'Keyledger is up:');
  for (const s of SERVICES) say('start', `  ${s.name.padEnd(9)} https://localhost:${s.port}  ${s.what}`);
  const vaultPort = SERVICES.find((s) => s.name === 'vault').port;
  say('start', `  vaults    https://<name>.vault.localhost:${vaultPort}  (https://localhost:${vaultPort} serves the vault "dev")`);
  say('start', `  HSM pools https://<name>.managedhsm.localhost:${vaultPort}  (the pool "dev": HSM-backed keys only)`);
  say('start', `  console   https://localhost:${CONSOLE.port}/  the web console: sign in with a user from "npx keyledger user create --name alice"`);
  say('start', `CA file:     ${join(DIRS.tls, 'ca.crt')}   (export NODE_EXTRA_CA_CERTS=${join(DIRS.tls, 'ca.crt')})`);
  say('start', `Credentials: ${join(DIRS.home, 'bootstrap.json')}`);
  say('start', `Logs:        ${DIRS.logs}/<service>.log`);
  say('start', 'Ctrl-C stops the services (the stack keeps running: npm run stack:down stops it).');
  const shutdown = async () => {
    if (stopping) return;
    stopping = true;
    say('start', 'stopping services');
    await stopServices(children);
    process.exit(0);
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
} catch (err) {
  fail('start', err instanceof StackError ? err.message : err.stack ?? String(err));
  process.exit(1);
}
