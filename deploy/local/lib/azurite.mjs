// Azurite (npm `azurite`, blob service only): the local Azure Blob Storage that Managed HSM pool
// full backups are written to. Listens on 127.0.0.1:10000, data under .keyledger/data/azurite.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DIRS, REPO_ROOT, StackError, pidAlive, readPid, say, tcpReachable, waitFor } from './util.mjs';

export const AZURITE_PORT = Number(process.env.KEYLEDGER_AZURITE_PORT ?? 10000);
/** Azurite's well-known development account (documented by Microsoft; not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';

const paths = () => ({
  bin: join(REPO_ROOT, 'node_modules', 'azurite', 'dist', 'src', 'blob', 'main.js'),
  data: join(DIRS.data, 'azurite'),
  pid: join(DIRS.run, 'azurite.pid'),
  log: join(DIRS.logs, 'azurite.log'),
});

/** The blob endpoint of the local account, e.g. http://127.0.0.1:10000/devstoreaccount1. */
export const azuriteBlobEndpoint = () => `http://127.0.0.1:${AZURITE_PORT}/${AZURITE_ACCOUNT}`;

export function azuriteStatus() {
  const pid = readPid(paths().pid);
  return pid && pidAlive(pid) ? `pid ${pid}, ${azuriteBlobEndpoint()}` : undefined;
}

/** Starts azurite-blob in the background unless it already runs; waits for its port. */
export async function startAzurite() {
  const p = paths();
  if (azuriteStatus()) {
    say('azurite', `already running (${azuriteStatus()})`);
    return;
  }
  if (await tcpReachable(AZURITE_PORT)) throw new StackError(`azurite: port ${AZURITE_PORT} is already in use by another process (KEYLEDGER_AZURITE_PORT picks another)`);
  if (!existsSync(p.bin)) throw new StackError(`azurite: ${p.bin} is missing (npm ci installs the azurite devDependency)`);
  mkdirSync(p.data, { recursive: true });
  const out = openSync(p.log, 'a');
  const child = spawn(process.execPath, [p.bin, '--blobHost', '127.0.0.1', '--blobPort', String(AZURITE_PORT), '--location', p.data, '--skipApiVersionCheck', '--loose', '--silent', '--disableTelemetry'], {
    detached: true,
    stdio: ['ignore', out, out],
  });
  child.unref();
  writeFileSync(p.pid, String(child.pid));
  await waitFor('azurite (blob port)', () => tcpReachable(AZURITE_PORT), 30_000, 250);
  say('azurite', `blob service ${azuriteBlobEndpoint()} (pid ${child.pid}, data ${p.data})`);
}

export async function stopAzurite() {
  const p = paths();
  const pid = readPid(p.pid);
  if (!pid || !pidAlive(pid)) {
    rmSync(p.pid, { force: true });
    return false;
  }
  process.kill(pid, 'SIGTERM');
  await waitFor('azurite to stop', () => !pidAlive(pid), 15_000, 200);
  rmSync(p.pid, { force: true });
  return true;
}

export const azuriteDataDir = () => paths().data;
