/**
 * What one notifying commit costs PostgreSQL per listening connection (issue #16): commits a
 * one-row insert that calls `pg_notify` on a channel nobody listens to, while 0, 2, 4 or 6
 * other connections LISTEN on channels of their own, and prints PostgreSQL's CPU µs per commit
 * (utime + stime of every postgres process, `cpuSnapshot`). PostgreSQL signals every listening
 * backend of the database on each notifying commit whatever its channels, which is why a
 * process holds ONE LISTEN connection (`subscribeNotifications`). Counts interleaved, round
 * after round. Run it with the services stopped (their listeners would count too):
 *
 *   npm run build && node dist/test/bench/notify-cost.js
 *
 * Not part of `npm run bench` or `npm test`. Knobs: NOTIFY_COMMITS (per count and round,
 * 4000), NOTIFY_ROUNDS (3). Scratch schema `keyledger_notify_cost`, dropped at the end.
 */
import pg from 'pg';
import { keyledgerHome } from '#libs/platform';
import { cpuSnapshot } from './process-cpu.js';

const URL = process.env.DATABASE_URL ?? 'postgres://keyledger:keyledger@127.0.0.1:5432/keyledger';
const envInt = (name: string, def: number): number => {
  const n = Number(process.env[name] ?? def);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name} must be a positive integer`);
  return n;
};
const COMMITS = envInt('NOTIFY_COMMITS', 4_000);
const ROUNDS = envInt('NOTIFY_ROUNDS', 3);
const COUNTS = [0, 4, 6, 2];
const SCHEMA = 'keyledger_notify_cost';
const INSERT = `WITH i AS (INSERT INTO ${SCHEMA}.n (v) VALUES ($1) RETURNING 1) SELECT pg_notify('${SCHEMA}_nobody', '') FROM i`;

async function main(): Promise<void> {
  const home = keyledgerHome();
  const c = new pg.Client({ connectionString: URL });
  await c.connect();
  await c.query(`CREATE SCHEMA IF NOT EXISTS ${SCHEMA}; DROP TABLE IF EXISTS ${SCHEMA}.n; CREATE TABLE ${SCHEMA}.n (id bigserial PRIMARY KEY, v text)`);
  const listeners: pg.Client[] = [];
  const setListeners = async (k: number): Promise<void> => {
    while (listeners.length > k) await listeners.pop()?.end();
    while (listeners.length < k) {
      const l = new pg.Client({ connectionString: URL });
      await l.connect();
      await l.query(`LISTEN ${SCHEMA}_other_${listeners.length}`);
      listeners.push(l);
    }
  };
  const perCount = new Map<number, number[]>();
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      for (const k of COUNTS) {
        await setListeners(k);
        for (let i = 0; i < 300; i++) await c.query({ name: 'notify_cost', text: INSERT, values: ['x'] });
        const before = cpuSnapshot(home).postgres;
        const started = performance.now();
        for (let i = 0; i < COMMITS; i++) await c.query({ name: 'notify_cost', text: INSERT, values: ['x'.repeat(100)] });
        const wallUs = ((performance.now() - started) * 1000) / COMMITS;
        const pgUs = ((cpuSnapshot(home).postgres - before) * 1e6) / COMMITS;
        perCount.set(k, [...(perCount.get(k) ?? []), Math.round(pgUs)]);
        process.stdout.write(`round ${round}: ${k} listening connections: PostgreSQL CPU ${pgUs.toFixed(0)} µs per notifying commit (wall ${wallUs.toFixed(0)} µs)\n`);
      }
    }
  } finally {
    await setListeners(0);
    await c.query(`DROP SCHEMA ${SCHEMA} CASCADE`).catch(() => undefined);
    await c.end();
  }
  const summary = Object.fromEntries([...perCount].sort(([a], [b]) => a - b).map(([k, v]) => [`${k} listeners`, v]));
  process.stdout.write(`${JSON.stringify({ pgCpuUsPerNotifyingCommit: summary })}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
