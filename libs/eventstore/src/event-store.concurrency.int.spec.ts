import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals';
import fc from 'fast-check';
import { testDb, uniqueTenant, waitFor, type TestDb } from '#libs/testing';
import { ConcurrencyError, START, checkpointOf, type EventStore, type GlobalCheckpoint, type RecordedEvent } from './event-store.js';
import { EventRegistry, v } from '#libs/kernel';

jest.setTimeout(120_000);

type Noted = { readonly type: 'Noted'; readonly data: { readonly run: number; readonly writer: number; readonly tx: number; readonly i: number } };

const registry = new EventRegistry().define({ type: 'Noted', schemaVersion: 1, validate: v.object({ run: v.int, writer: v.int, tx: v.int, i: v.int }) });
const noted = (run: number, writer: number, tx: number, i: number): Noted => ({ type: 'Noted', data: { run, writer, tx, i } });

class RollbackRequested extends Error {
  constructor(readonly eventIds: readonly string[]) {
    super('rollback requested by the test');
  }
}

let t: TestDb;
let store: EventStore;
const tenant = uniqueTenant();
const meta = { actor: 'spec', tenant };

beforeAll(async () => {
  t = await testDb('t_spine_conc', { poolMax: 24 });
  store = t.eventStore(registry);
});

afterAll(async () => {
  await t?.drop();
});

describe('EventStore: optimistic concurrency', () => {
  it('two concurrent appends with the same expected version: exactly one succeeds, the other gets a typed ConcurrencyError', async () => {
    for (let round = 0; round < 20; round++) {
      const stream = `conc-${round}`;
      await store.appendToStream(stream, 'no_stream', [noted(0, 0, 0, 0)], { metadata: meta });
      // The first writer holds the stream lock a little, so the second really waits behind it.
      const slow = { metadata: meta, inTransaction: async (tx: { query: (q: string) => Promise<unknown> }) => void (await tx.query('SELECT pg_sleep(0.01)')) };
      const results = await Promise.allSettled([
        store.appendToStream(stream, 1, [noted(0, 1, 0, 0)], slow),
        store.appendToStream(stream, 1, [noted(0, 2, 0, 0), noted(0, 2, 0, 1)], slow),
      ]);
      const ok = results.filter((r) => r.status === 'fulfilled');
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(ok).toHaveLength(1);
      expect(failed).toHaveLength(1);
      const err = failed[0]!.reason as ConcurrencyError;
      expect(err).toBeInstanceOf(ConcurrencyError);
      expect(err.code).toBe('ConcurrencyConflict');
      expect(err.streamId).toBe(stream);
      expect(err.expected).toBe(1);
      const events = await store.readStream(stream);
      // Only the winner's events follow version 1, never a mix.
      const winner = events.slice(1).map((e) => (e.data as Noted['data']).writer);
      expect(new Set(winner).size).toBe(1);
      expect(events.map((e) => e.streamVersion)).toEqual(events.map((_, i) => i + 1));
      expect(await store.streamVersion(stream)).toBe(events.length);
    }
  });

  it('two concurrent creations with no_stream: exactly one succeeds', async () => {
    for (let round = 0; round < 20; round++) {
      const stream = `create-${round}`;
      const results = await Promise.allSettled([
        store.appendToStream(stream, 'no_stream', [noted(0, 1, 0, 0)], { metadata: meta }),
        store.appendToStream(stream, 'no_stream', [noted(0, 2, 0, 0)], { metadata: meta }),
      ]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected?.reason).toBeInstanceOf(ConcurrencyError);
      expect((await store.readStream(stream)).map((e) => e.streamVersion)).toEqual([1]);
    }
  });

  it('a stale expected version never overwrites', async () => {
    await store.appendToStream('stale', 'no_stream', [noted(0, 0, 0, 0), noted(0, 0, 0, 1)], { metadata: meta });
    await expect(store.appendToStream('stale', 1, [noted(0, 9, 0, 0)], { metadata: meta })).rejects.toBeInstanceOf(ConcurrencyError);
    await expect(store.appendToStream('stale', 'no_stream', [noted(0, 9, 0, 0)], { metadata: meta })).rejects.toBeInstanceOf(ConcurrencyError);
    expect((await store.readStream('stale')).map((e) => (e.data as Noted['data']).writer)).toEqual([0, 0]);
  });

  it("concurrent appends with 'any' to a new stream all succeed, with consecutive versions", async () => {
    for (let round = 0; round < 10; round++) {
      const stream = `any-${round}`;
      const results = await Promise.allSettled([1, 2, 3, 4].map((w) => store.appendToStream(stream, 'any', [noted(0, w, 0, 0)], { metadata: meta })));
      expect(results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason))).toEqual([]);
      expect((await store.readStream(stream)).map((e) => e.streamVersion)).toEqual([1, 2, 3, 4]);
    }
  });
});

describe('EventStore: readAll follows commit order (property)', () => {
  type Tx = { readonly stream: number; readonly events: number; readonly delayMs: number; readonly rollback: boolean };
  const txArb: fc.Arbitrary<Tx> = fc.record({
    stream: fc.integer({ min: 0, max: 3 }),
    events: fc.integer({ min: 1, max: 3 }),
    delayMs: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 40 })),
    rollback: fc.integer({ min: 0, max: 3 }).map((x) => x === 0),
  });
  const scenarioArb = fc.array(fc.array(txArb, { minLength: 1, maxLength: 5 }), { minLength: 2, maxLength: 8 });

  it('a reader polling readAll during concurrent writes with random commit delays and rollbacks sees every committed event exactly once, in stream order, and never a rolled-back one', async () => {
    let run = 0;
    // Every run starts where the previous one's reader stopped (all earlier events consumed);
    // the first one after the events of the other tests in this schema.
    let from: GlobalCheckpoint = START;
    for (let batch = await store.readAll(from, 1000); batch.length > 0; batch = await store.readAll(from, 1000)) from = checkpointOf(batch[batch.length - 1]!);
    await fc.assert(
      fc.asyncProperty(scenarioArb, async (writers) => {
        run++;
        const committed = new Set<string>();
        const rolledBack = new Set<string>();
        const seen: RecordedEvent[] = [];
        let writing = true;

        const reader = (async () => {
          let cp = from;
          for (;;) {
            const batch = await store.readAll(cp, 5);
            for (const e of batch) seen.push(e);
            if (batch.length > 0) cp = checkpointOf(batch[batch.length - 1]!);
            else if (!writing) return cp;
            else await new Promise((r) => setTimeout(r, 1));
          }
        })();

        const writing$ = Promise.all(
          writers.map(async (txs, w) => {
            for (const [n, tx] of txs.entries()) {
              const events = Array.from({ length: tx.events }, (_, i) => noted(run, w, n, i));
              try {
                const res = await store.appendToStream(`run${run}-s${tx.stream}`, 'any', events, {
                  metadata: meta,
                  outbox: false,
                  inTransaction: async (sql, recorded) => {
                    // Positions are taken; the commit is delayed (or never happens).
                    if (tx.delayMs > 0) await sql.query('SELECT pg_sleep($1)', [tx.delayMs / 1000]);
                    if (tx.rollback) throw new RollbackRequested(recorded.map((r) => r.metadata.eventId));
                  },
                });
                for (const r of res.events) committed.add(r.metadata.eventId);
              } catch (err) {
                if (!(err instanceof RollbackRequested)) throw err;
                for (const id of err.eventIds) rolledBack.add(id);
              }
            }
          }),
        );
        let cp: GlobalCheckpoint;
        try {
          await writing$;
        } finally {
          writing = false;
          cp = await reader;
        }
        // Unrelated transactions elsewhere in the cluster may hold the horizon back a moment.
        const drain = async (): Promise<boolean> => {
          const batch = await store.readAll(cp, 100);
          for (const e of batch) seen.push(e);
          if (batch.length > 0) cp = checkpointOf(batch[batch.length - 1]!);
          return seen.filter((e) => committed.has(e.metadata.eventId)).length >= committed.size;
        };
        try {
          await waitFor(drain, { timeoutMs: 20_000, what: 'the reader to see every committed event' });
          await drain();
        } finally {
          from = cp; // the next run starts after everything this one wrote, whatever happens here
        }

        // Events of other tests in this schema may still show up if the horizon was held back
        // when the first run skipped them; this run's own streams are what is checked.
        const mine = seen.filter((e) => e.streamId.startsWith(`run${run}-`));
        const ids = mine.map((e) => e.metadata.eventId);
        const unexpected = mine
          .filter((e) => !committed.has(e.metadata.eventId))
          .map((e) => ({ ...(e.data as Noted['data']), stream: e.streamId, version: e.streamVersion, rolledBack: rolledBack.has(e.metadata.eventId) }));
        expect(unexpected).toEqual([]); // nothing that did not commit (nor from elsewhere)
        expect(new Set(ids).size).toBe(ids.length); // exactly once
        expect(new Set(ids)).toEqual(committed); // every committed one
        for (const id of ids) expect(rolledBack.has(id)).toBe(false);
        // Commit order: (transaction id, position) strictly increasing across all polls.
        for (let i = 1; i < seen.length; i++) {
          const a = seen[i - 1]!;
          const b = seen[i]!;
          const increasing = BigInt(a.transactionId) < BigInt(b.transactionId) || (a.transactionId === b.transactionId && BigInt(a.position) < BigInt(b.position));
          expect(increasing).toBe(true);
        }
        // Each stream's events arrive as versions 1, 2, 3, … in that order, matching readStream.
        const byStream = new Map<string, RecordedEvent[]>();
        for (const e of mine) byStream.set(e.streamId, [...(byStream.get(e.streamId) ?? []), e]);
        for (const [stream, events] of byStream) {
          expect(events.map((e) => e.streamVersion)).toEqual(events.map((_, i) => i + 1));
          expect((await store.readStream(stream)).map((e) => e.metadata.eventId)).toEqual(events.map((e) => e.metadata.eventId));
        }
      }),
      { numRuns: 80, interruptAfterTimeLimit: 25_000, markInterruptAsFailure: false },
    );
    expect(run).toBeGreaterThan(3);
  }, 60_000);
});
