import 'reflect-metadata';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Column, DataSource, Entity, PrimaryColumn } from 'typeorm';
import { Database, openTypeOrm } from '#libs/platform';
import { stackEnv, suffix } from '../support/stack-env.js';

@Entity({ name: 'probe' })
class Probe {
  @PrimaryColumn('text')
  id!: string;

  @Column('jsonb')
  body!: { n: number };
}

describe('PostgreSQL (local stack)', () => {
  const schema = `t_stack_${suffix()}`;
  let db: Database;
  let ds: DataSource;

  beforeAll(async () => {
    db = await Database.connect(stackEnv.databaseUrl, schema);
    await db.query(`CREATE TABLE ${schema}.probe (id text PRIMARY KEY, body jsonb NOT NULL)`);
    ds = await openTypeOrm(stackEnv.databaseUrl, schema, [Probe]);
  });
  afterAll(async () => {
    await ds.destroy();
    await db.query(`DROP SCHEMA ${schema} CASCADE`);
    await db.close();
  });

  it('writes and reads through typeorm', async () => {
    const repo = ds.getRepository(Probe);
    await repo.save({ id: 'a', body: { n: 1 } });
    await repo.save({ id: 'b', body: { n: 2 } });
    const found = await repo.findOneByOrFail({ id: 'b' });
    expect(found.body).toEqual({ n: 2 });
    expect(await repo.count()).toBe(2);
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
