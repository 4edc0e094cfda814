import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals';
import { testDb, uniqueTenant, waitFor, type TestDb } from '#libs/testing';
import { CommitOrderConflictError, ConcurrencyError, START, checkpointOf, type EventStore, type GlobalCheckpoint, type RecordedEvent } from './event-store.js';
import { EventRegistry, v } from '#libs/kernel';
import { metricsRegistry } from '#libs/platform';

jest.setTimeout(120_000);

type Counted = { readonly type: 'Counted'; readonly data: { readonly n: number } };
const registry = new EventRegistry().define({ type: 'Counted', schemaVersion: 1, validate: v.object({ n: v.int }) });
const counted = (n: number): Counted => ({ type: 'Counted', data: { n } });

let t: TestDb;
let store: EventStore;
const meta = { actor: 'spec', tenant: uniqueTenant() };

beforeAll(async () => {
  t = await testDb('t_spine_reads');
  store = t.eventStore(registry);
});

afterAll(async () => {
  await t?.drop();
});

async function readAllPaged(from: GlobalCheckpoint, pageSize: number): Promise<RecordedEvent[]> {
  const out: RecordedEvent[] = [];
  let cp = from;
  for (;;) {
    const page = await store.readAll(cp, pageSize);
    if (page.length === 0) return out;
    out.push(...page);
    cp = checkpointOf(page[page.length - 1]!);
  }
}

describe('EventStore reads: numeric order (not text order) past 9, 99, …', () => {
  it('readStream returns versions 1..N in order for a stream with more than 9 events', async () => {
    await store.appendToStream('long', 'no_stream', Array.from({ length: 25 }, (_, i) => counted(i + 1)), { metadata: meta });
    const events = await store.readStream('long');
    expect(events.map((e) => e.streamVersion)).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect((await store.readStream('long', 11)).map((e) => e.streamVersion)).toEqual(Array.from({ length: 15 }, (_, i) => i + 11));
  });

  it('readAll pages through many transactions without skipping or repeating, positions ascending within a transaction', async () => {
    const head = await readAllPaged(START, 1000);
    const from = head.length > 0 ? checkpointOf(head[head.length - 1]!) : START;
    const written: string[] = [];
    for (let i = 0; i < 30; i++) {
      const res = await store.appendToStream(`paged-${i % 4}`, 'any', Array.from({ length: 1 + (i % 5) }, (_, k) => counted(k)), { metadata: meta, outbox: false });
      written.push(...res.events.map((e) => e.metadata.eventId));
    }
    // Commit-order reads wait for transactions in flight anywhere in the cluster: let them finish.
    await waitFor(async () => (await readAllPaged(from, 1000)).length >= written.length, { what: 'the reader horizon to pass our appends' });
    for (const pageSize of [1, 3, 7, 1000]) {
      const read = await readAllPaged(from, pageSize);
      expect(read.map((e) => e.metadata.eventId)).toEqual(written);
    }
  });
});

describe('EventStore: stream order equals commit-reader order', () => {
  it('a caller transaction that got its id before the writer of the previous version is refused (CommitOrderConflictError) instead of sorting before it', async () => {
    await store.appendToStream('ordered', 'no_stream', [counted(1)], { metadata: meta });
    let writerB: Promise<unknown> | undefined;
    const attempt = t.db.transaction(async (tx) => {
      // Transaction A writes first (it now has a transaction id) …
      await store.appendInTransaction(tx, 'elsewhere', 'any', [counted(0)], { metadata: meta });
      // … meanwhile B appends version 2 of "ordered" and commits, with a later transaction id …
      writerB = store.appendToStream('ordered', 1, [counted(2)], { metadata: meta });
      await writerB;
      // … then A appends version 3: readers would see it before version 2.
      await store.appendInTransaction(tx, 'ordered', 'any', [counted(3)], { metadata: meta });
    });
    const err = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CommitOrderConflictError);
    expect(err).toBeInstanceOf(ConcurrencyError); // callers that retry on conflicts retry this too
    expect((await store.readStream('ordered')).map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(await store.readStream('elsewhere')).toEqual([]); // A rolled back entirely

    // Retried as a new transaction it goes through, after version 2.
    await t.db.transaction(async (tx) => {
      await store.appendInTransaction(tx, 'elsewhere', 'any', [counted(0)], { metadata: meta });
      await store.appendInTransaction(tx, 'ordered', 'any', [counted(3)], { metadata: meta });
    });
    const ordered = async (): Promise<number[]> => (await readAllPaged(START, 1000)).filter((e) => e.streamId === 'ordered').map((e) => e.streamVersion);
    await waitFor(async () => (await ordered()).length >= 3, { what: 'the reader horizon' });
    expect(await ordered()).toEqual([1, 2, 3]);
  });

  it('two appends to the same stream inside one caller transaction are fine', async () => {
    await t.db.transaction(async (tx) => {
      await store.appendInTransaction(tx, 'twice', 'no_stream', [counted(1)], { metadata: meta });
      await store.appendInTransaction(tx, 'twice', 1, [counted(2)], { metadata: meta });
    });
    expect((await store.readStream('twice')).map((e) => e.streamVersion)).toEqual([1, 2]);
  });
});

describe("EventStore: several appends at 'any' in two statements (appendEachAnyInTransaction)", () => {
  it('gives what appending each in turn gives: new and existing streams, a stream named twice, consecutive versions, nothing published', async () => {
    await store.appendToStream('each-old', 'no_stream', [counted(1), counted(2)], { metadata: meta, outbox: false });
    const outboxBefore = await t.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${t.schema}.outbox`);
    const sent = async (): Promise<number> => ((await metricsRegistry.getSingleMetric('keyledger_db_statements_total')?.get())?.values ?? []).filter((x) => x.labels.schema === t.schema).reduce((a, x) => a + x.value, 0);
    const statements = await sent();
    const results = await t.db.transaction((tx) =>
      store.appendEachAnyInTransaction(tx, [
        { streamId: 'each-new', events: [counted(10)], metadata: meta },
        { streamId: 'each-old', events: [counted(3), counted(4)], metadata: { ...meta, correlationId: 'c-1' } },
        { streamId: 'each-new', events: [counted(11)], metadata: meta },
      ]),
    );
    // BEGIN, the streams, the events, COMMIT.
    expect((await sent()) - statements).toBe(4);
    expect(results.map((r) => [r.nextExpectedVersion, r.events.map((e) => [e.streamId, e.streamVersion, e.data.n])])).toEqual([
      [1, [['each-new', 1, 10]]],
      [4, [['each-old', 3, 3], ['each-old', 4, 4]]],
      [2, [['each-new', 2, 11]]],
    ]);
    expect(results[1]!.events.map((e) => e.metadata.correlationId)).toEqual(['c-1', 'c-1']);
    // Positions (what readers follow) ascend in the given order.
    const positions = results.flatMap((r) => r.events.map((e) => BigInt(e.position)));
    expect(positions).toEqual([...positions].sort((a, b) => (a < b ? -1 : 1)));
    const stored = await store.readStream('each-old');
    expect(stored.map((e) => [e.streamVersion, e.data])).toEqual([[1, { n: 1 }], [2, { n: 2 }], [3, { n: 3 }], [4, { n: 4 }]]);
    expect(stored.slice(2).map((e) => e.metadata.eventId)).toEqual(results[1]!.events.map((e) => e.metadata.eventId));
    expect((await store.readStream('each-new')).map((e) => [e.streamVersion, e.data])).toEqual([[1, { n: 10 }], [2, { n: 11 }]]);
    expect(await store.streamVersion('each-new')).toBe(2);
    expect(await t.db.query(`SELECT count(*)::int AS n FROM ${t.schema}.outbox`)).toEqual(outboxBefore);
    // An append at an exact version after them sees the versions they left.
    await store.appendToStream('each-old', 4, [counted(5)], { metadata: meta, outbox: false });
    expect(await store.streamVersion('each-old')).toBe(5);
  });

  it('an invalid event writes nothing, and a stream whose previous version a later transaction wrote is refused (CommitOrderConflictError)', async () => {
    const bad = { type: 'Counted', data: { n: 'one' } } as unknown as Counted;
    await expect(t.db.transaction((tx) => store.appendEachAnyInTransaction(tx, [{ streamId: 'each-bad', events: [counted(1)], metadata: meta }, { streamId: 'each-bad', events: [bad], metadata: meta }]))).rejects.toThrow();
    expect(await store.readStream('each-bad')).toEqual([]);
    expect(await store.streamVersion('each-bad')).toBe(0);

    await store.appendToStream('each-ordered', 'no_stream', [counted(1)], { metadata: meta });
    const attempt = t.db.transaction(async (tx) => {
      await store.appendInTransaction(tx, 'each-elsewhere', 'any', [counted(0)], { metadata: meta });
      await store.appendToStream('each-ordered', 1, [counted(2)], { metadata: meta });
      await store.appendEachAnyInTransaction(tx, [
        { streamId: 'each-fine', events: [counted(1)], metadata: meta },
        { streamId: 'each-ordered', events: [counted(3)], metadata: meta },
      ]);
    });
    const err = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(CommitOrderConflictError);
    expect((await store.readStream('each-ordered')).map((e) => e.data)).toEqual([{ n: 1 }, { n: 2 }]);
    expect(await store.readStream('each-fine')).toEqual([]);
    expect(await store.readStream('each-elsewhere')).toEqual([]);
  });
});
