// Once per e2e run: start the four services against the local stack, unless they already run.
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SERVICES, startServices } from '../../deploy/local/lib/services.mjs';
import { DIRS } from '../../deploy/local/lib/util.mjs';

function healthy(port, ca) {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/health/live', ca, servername: 'localhost', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

// KEYLEDGER_E2E_SERVICES=identity,vault limits which services are required (default: all four).
const wanted = (process.env.KEYLEDGER_E2E_SERVICES ?? '').split(',').filter(Boolean);
const selected = wanted.length ? SERVICES.filter((s) => wanted.includes(s.name)) : SERVICES;

export default async function globalSetup() {
  const ca = readFileSync(join(DIRS.tls, 'ca.crt'));
  const up = await Promise.all(selected.map((s) => healthy(s.port, ca)));
  if (up.every(Boolean)) {
    console.log('\n[e2e] using the services already running');
    return;
  }
  console.log('\n[e2e] starting services (logs in .keyledger/logs)');
  // Supervised as under npm start: a service killed by a spec (supervision.crash.e2e) comes back.
  globalThis.__KEYLEDGER_SERVICES__ = await startServices({
    services: selected,
    supervise: true,
    onRestart: (svc, code, signal, delayMs) => console.error(`[e2e] ${svc.name} exited (${signal ?? code}); restarting in ${delayMs} ms`),
    onExit: (svc, code, signal) => {
      if (!globalThis.__KEYLEDGER_STOPPING__) console.error(`[e2e] ${svc.name} exited (${signal ?? code})`);
    },
  });
}
