import { describe, it, expect, beforeEach, afterEach, afterAll, jest } from '@jest/globals';
import { EventRegistry, v } from '#libs/kernel';
import { checkpointOf, type EventStore, type GlobalCheckpoint } from '#libs/eventstore';
import type { Sql } from '#libs/platform';
import { testDb, testLogger, uniqueTenant, type TestDb } from '#libs/testing';
import { ProjectionRunner } from './projection.runner.js';
import type { PgProjection, ProjectedEvent } from './projection.types.js';

jest.setTimeout(120_000);

type SecretSet = { readonly type: 'SecretSet'; readonly data: { readonly name: string } };
type SecretDeleted = { readonly type: 'SecretDeleted'; readonly data: { readonly name: string } };
type SecretEvent = SecretSet | SecretDeleted;

const registry = new EventRegistry()
  .define({ type: 'SecretSet', schemaVersion: 1, validate: v.object({ name: v.nonEmpty }) })
  .define({ type: 'SecretDeleted', schemaVersion: 1, validate: v.object({ name: v.nonEmpty }) });

/** Live secrets per tenant, and how many versions were ever set. */
function countsProjection(table: string, opts: { failOn?: () => string | undefined } = {}): PgProjection<SecretEvent> {
  return {
    kind: 'postgres',
    name: `secret-counts:${table}`,
    init: async (sql) => {
      await sql.query(`CREATE TABLE IF NOT EXISTS ${table} (tenant text PRIMARY KEY, live int NOT NULL, versions int NOT NULL)`);
    },
    reset: async (tx) => {
      await tx.query(`DELETE FROM ${table}`); // DELETE, not TRUNCATE: readers keep seeing the old rows until commit
    },
    handle: async (events: readonly ProjectedEvent<SecretEvent>[], tx: Sql) => {
      for (const e of events) {
        if (opts.failOn?.() === e.data.name) throw new Error('projection bug');
        const live = e.type === 'SecretDeleted' ? -1 : e.streamVersion === 1 ? 1 : 0;
        const versions = e.type === 'SecretSet' ? 1 : 0;
        await tx.query(
          `INSERT INTO ${table} (tenant, live, versions) VALUES ($1, $2, $3)
           ON CONFLICT (tenant) DO UPDATE SET live = ${table}.live + EXCLUDED.live, versions = ${table}.versions + EXCLUDED.versions`,
          [e.tenant, live, versions],
        );
      }
    },
  };
}

let t: TestDb;
let store: EventStore;
const cleanups: (() => Promise<unknown>)[] = [];

beforeEach(async () => {
  t = await testDb('t_proj_pg');
  store = t.eventStore(registry);
});

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  await t.drop();
});

afterAll(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

type History = { readonly expected: Map<string, { live: number; versions: number }>; readonly head: GlobalCheckpoint; readonly events: number };

/** Appends a history; returns the read model it must produce and the checkpoint of its last event. */
async function writeHistory(tenants: readonly string[], secrets: number): Promise<History> {
  const expected = new Map<string, { live: number; versions: number }>();
  let head: GlobalCheckpoint | undefined;
  let events = 0;
  const append = async (stream: string, tenant: string, type: 'SecretSet' | 'SecretDeleted'): Promise<void> => {
    const res = await store.appendToStream(stream, 'any', [{ type, data: { name: stream } }], { metadata: { actor: 'spec', tenant } });
    head = checkpointOf(res.events[0]!);
    events++;
  };
  for (const tenant of tenants) {
    for (let s = 0; s < secrets; s++) {
      const stream = `${tenant}/secret-${s}`;
      const versions = 1 + (s % 3);
      for (let k = 0; k < versions; k++) await append(stream, tenant, 'SecretSet');
      if (s % 4 === 0) await append(stream, tenant, 'SecretDeleted');
      const e = expected.get(tenant) ?? { live: 0, versions: 0 };
      expected.set(tenant, { live: e.live + (s % 4 === 0 ? 0 : 1), versions: e.versions + versions });
    }
  }
  return { expected, head: head!, events };
}

async function readModel(table: string): Promise<Map<string, { live: number; versions: number }>> {
  const rows = await t.db.query<{ tenant: string; live: number; versions: number }>(`SELECT tenant, live, versions FROM ${table}`);
  return new Map(rows.map((r) => [r.tenant, { live: r.live, versions: r.versions }]));
}

describe('PostgreSQL projection', () => {
  it('applies events in commit order and saves the checkpoint in the same transaction', async () => {
    const table = `${t.schema}.secret_counts`;
    const { expected, head, events } = await writeHistory([uniqueTenant(), uniqueTenant()], 10);
    const runner = new ProjectionRunner(store, countsProjection(table), { batchSize: 7, logger: testLogger() });
    await runner.init();
    const read = await runner.catchUp({ until: head });
    expect(read).toBe(events);
    expect(await readModel(table)).toEqual(expected);
    expect((await runner.checkpoint())?.checkpoint).toEqual(head);
    expect(await runner.catchUp()).toBe(0);
  });

  it('a failing batch rolls back both the read-model change and the checkpoint', async () => {
    const table = `${t.schema}.secret_counts`;
    const tenant = uniqueTenant();
    let failOn: string | undefined = `${tenant}/secret-5`;
    const { expected, head } = await writeHistory([tenant], 8);
    const runner = new ProjectionRunner(store, countsProjection(table, { failOn: () => failOn }), { batchSize: 1_000, logger: testLogger() });
    await runner.init();
    await expect(runner.catchUp({ until: head })).rejects.toThrow('projection bug');
    expect(await readModel(table)).toEqual(new Map()); // the events before the failing one were rolled back too
    expect(await runner.checkpoint()).toBeNull();
    failOn = undefined;
    await runner.catchUp({ until: head });
    expect(await readModel(table)).toEqual(expected);
  });

  it('two runners of one projection (two instances) never apply an event twice', async () => {
    const table = `${t.schema}.secret_counts`;
    const { expected, head } = await writeHistory([uniqueTenant(), uniqueTenant(), uniqueTenant()], 12);
    const a = new ProjectionRunner(store, countsProjection(table), { batchSize: 5, logger: testLogger() });
    const b = new ProjectionRunner(store, countsProjection(table), { batchSize: 5, logger: testLogger() });
    await a.init();
    await Promise.all([a.catchUp({ until: head }), b.catchUp({ until: head }), a.catchUp({ until: head }), b.catchUp({ until: head })]);
    expect(await readModel(table)).toEqual(expected);
  });

  it('rebuild resets and replays in one transaction, ending at the same read model and checkpoint', async () => {
    const table = `${t.schema}.secret_counts`;
    const { expected, head, events } = await writeHistory([uniqueTenant(), uniqueTenant()], 9);
    const runner = new ProjectionRunner(store, countsProjection(table), { logger: testLogger() });
    await runner.init();
    await runner.catchUp({ until: head });
    // Corrupt the read model by hand: the rebuild must restore it from the log.
    await t.db.query(`UPDATE ${table} SET live = live + 100`);
    const result = await runner.rebuild({ batchSize: 4 });
    expect(result.events).toBe(events); // everything was visible already: the whole log in one go
    expect(await readModel(table)).toEqual(expected);
    expect((await runner.checkpoint())?.checkpoint).toEqual(head);
  });

});
