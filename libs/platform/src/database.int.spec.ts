/**
 * A connection lost while it is checked out of the pool (PostgreSQL restarted, the backend
 * terminated: 57P01) must fail the work that holds it — never the process. Before, the pooled
 * client inside `transaction` had no 'error' listener and Node exited on the unhandled event.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Database } from './database.js';

const URL = process.env.DATABASE_URL ?? 'postgres://keyledger:keyledger@127.0.0.1:5432/keyledger';
let db: Database;
let admin: Database;

beforeAll(async () => {
  db = await Database.connect(URL, 't_database_loss', { max: 2, applicationName: 'keyledger-spec-db-loss' });
  admin = await Database.connect(URL, 't_database_loss', { max: 1 });
});

afterAll(async () => {
  await admin.query('DROP SCHEMA IF EXISTS t_database_loss CASCADE');
  await db.close();
  await admin.close();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('Database: a connection lost while checked out', () => {
  it('fails the transaction that holds it, keeps the process alive, and the pool serves the next one', async () => {
    const unhandled: unknown[] = [];
    const onUncaught = (err: unknown): void => {
      unhandled.push(err);
    };
    process.on('uncaughtException', onUncaught);
    try {
      const outcome = db.transaction(async (tx) => {
        const [me] = await tx.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        // The backend is terminated while the transaction holds the connection idle: the server's
        // "terminating connection" arrives as an 'error' event, not as a query's rejection.
        await admin.query('SELECT pg_terminate_backend($1)', [me!.pid]);
        await sleep(300);
        await tx.query('SELECT 1');
        return 'committed';
      });
      await expect(outcome).rejects.toThrow();
      expect(unhandled).toEqual([]);
      // The broken connection was discarded, not returned to the pool.
      expect(await db.transaction(async (tx) => (await tx.query<{ n: number }>('SELECT 1 AS n'))[0]!.n)).toBe(1);
      expect(await db.query<{ n: number }>('SELECT 2 AS n')).toEqual([{ n: 2 }]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('a checked-out connection that is lost is reported and discarded on release', async () => {
    const held = await db.checkout();
    const pid = (await held.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    for (let i = 0; i < 50 && held.lost() === undefined; i++) await sleep(20);
    expect(held.lost()).toBeInstanceOf(Error);
    held.release();
    const after = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid'))[0]!.pid;
    expect(after).not.toBe(pid);
  });
});
