/**
 * After a kill -9 of PostgreSQL its postmaster.pid stays behind, and on a busy machine the pid
 * in it soon belongs to another process: `stack:up` must not take that process for a running
 * server (it did, and the crash matrix's PostgreSQL never came back). Only a live process that
 * is a PostgreSQL server counts.
 */
import { spawn } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { REPO_ROOT } from '#libs/platform';

type Postgres = { livePostmasterPid: (dataDir: string) => number | undefined };
const load = async (): Promise<Postgres> => (await import(pathToFileURL(join(REPO_ROOT, 'deploy/local/lib/postgres.mjs')).href)) as Postgres;

const dir = mkdtempSync(join(tmpdir(), 'kl-stale-pid-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('stale postmaster.pid', () => {
  it('a pid file naming another live process, a dead pid or no file: no running server', async () => {
    const { livePostmasterPid } = await load();
    expect(livePostmasterPid(dir)).toBeUndefined();
    writeFileSync(join(dir, 'postmaster.pid'), `${process.pid}\n${dir}\n`);
    expect(livePostmasterPid(dir)).toBeUndefined();
    writeFileSync(join(dir, 'postmaster.pid'), '2147483646\n');
    expect(livePostmasterPid(dir)).toBeUndefined();
  });

  it('a pid file naming a live process whose program is postgres: running', async () => {
    const { livePostmasterPid } = await load();
    const fake = join(dir, 'postgres');
    copyFileSync('/bin/sleep', fake);
    chmodSync(fake, 0o755);
    const child = spawn(fake, ['30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 200));
      writeFileSync(join(dir, 'postmaster.pid'), `${child.pid}\n${dir}\n`);
      expect(livePostmasterPid(dir)).toBe(child.pid);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
