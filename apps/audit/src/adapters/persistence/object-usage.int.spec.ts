import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { REPO_ROOT } from '#libs/platform';
import { testDb, uniqueTenant, type TestDb } from '#libs/testing';
import { sampleRecord } from '../../domain/audit-test.fixtures.js';
import { ObjectUsageRepository } from './object-usage.repository.js';

jest.setTimeout(60_000);

let t: TestDb;
let usage: ObjectUsageRepository;

beforeAll(async () => {
  t = await testDb('t_audit_usage');
  await t.db.migrate(join(REPO_ROOT, 'apps', 'audit', 'migrations'));
  usage = new ObjectUsageRepository(t.db);
});

afterAll(async () => {
  await t?.drop();
});

async function queued(tenant: string): Promise<number> {
  const [row] = await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.schema}.object_index_queue WHERE tenant = $1`, [tenant]);
  return Number(row?.n ?? 0);
}

async function uses(tenant: string): Promise<number> {
  const [row] = await t.db.query<{ n: string | null }>(`SELECT sum(use_count)::text AS n FROM ${t.schema}.object_usage WHERE tenant = $1`, [tenant]);
  return Number(row?.n ?? 0);
}

describe('object usage and the object index queue (real PostgreSQL)', () => {
  it('queues an object once while it waits, counting every use', async () => {
    const tenant = uniqueTenant();
    for (let batch = 0; batch < 3; batch++) {
      await t.db.transaction((tx) => usage.apply(tx, Array.from({ length: 4 }, (_, i) => sampleRecord({ n: batch * 4 + i, tenant, id: `${tenant}-${batch}-${i}` }))));
    }
    expect(await uses(tenant)).toBe(12);
    expect(await queued(tenant)).toBe(1);
  });

  it('queues the object anew while the indexer holds its queued key (it may already have read the old counters)', async () => {
    const tenant = uniqueTenant();
    await t.db.transaction((tx) => usage.apply(tx, [sampleRecord({ tenant, id: `${tenant}-first` })]));
    expect(await queued(tenant)).toBe(1);
    // The object indexer takes the queued key (locks and deletes it) and has not committed yet.
    const indexer = await t.db.checkout();
    try {
      await indexer.client.query('BEGIN');
      await indexer.client.query(`DELETE FROM ${t.schema}.object_index_queue WHERE id IN (SELECT id FROM ${t.schema}.object_index_queue WHERE tenant = $1 FOR UPDATE SKIP LOCKED)`, [tenant]);
      // A use committed meanwhile must not rely on that row: its own row is queued.
      await t.db.transaction((tx) => usage.apply(tx, [sampleRecord({ tenant, id: `${tenant}-second` })]));
      await indexer.client.query('COMMIT');
    } finally {
      indexer.release();
    }
    expect(await queued(tenant)).toBe(1);
    expect(await uses(tenant)).toBe(2);
  });
});
