import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Database } from '#libs/platform';
import { stackEnv, suffix } from '../support/stack-env.js';

describe('PostgreSQL (local stack)', () => {
  const schema = `t_stack_${suffix()}`;
  let db: Database;

  beforeAll(async () => {
    db = await Database.connect(stackEnv.databaseUrl, schema);
    await db.query(`CREATE TABLE ${schema}.probe (id text PRIMARY KEY, body jsonb NOT NULL)`);
  });
  afterAll(async () => {
    await db.query(`DROP SCHEMA ${schema} CASCADE`);
    await db.close();
  });

  it('writes and reads jsonb rows in the service schema', async () => {
    await db.query(`INSERT INTO ${schema}.probe (id, body) VALUES ($1, $2), ($3, $4)`, ['a', { n: 1 }, 'b', { n: 2 }]);
    const found = await db.query<{ body: { n: number } }>(`SELECT body FROM ${schema}.probe WHERE id = $1`, ['b']);
    expect(found[0]?.body).toEqual({ n: 2 });
    expect((await db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${schema}.probe`))[0]?.n).toBe('2');
  });

  it('rolls a failed transaction back completely', async () => {
    await expect(
      db.transaction(async (tx) => {
        await tx.query(`INSERT INTO ${schema}.probe (id, body) VALUES ('c', '{"n":3}')`);
        await tx.query(`INSERT INTO ${schema}.probe (id, body) VALUES ('c', '{"n":4}')`);
      }),
    ).rejects.toThrow(/duplicate key/);
    expect(await db.query(`SELECT id FROM ${schema}.probe WHERE id = 'c'`)).toEqual([]);
  });
});
