import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals';
import { EventRegistry, v } from '#libs/kernel';
import { testDb, uniqueTenant, waitFor, type TestDb } from '#libs/testing';
import { metricsRegistry } from '#libs/platform';
import { ConcurrencyError, EventStore, type InStatementWork } from './event-store.js';

jest.setTimeout(120_000);

const repoRoot = process.cwd();
const childScript = join(repoRoot, 'dist/libs/testing/src/group-commit.child.js');
const registry = new EventRegistry().define({ type: 'Noted', schemaVersion: 1, validate: v.object({ n: v.int }) });
const meta = { actor: 'spec', tenant: uniqueTenant() };
const noted = (n: number): { type: 'Noted'; data: { n: number } } => ({ type: 'Noted', data: { n } });

let t: TestDb;
let store: EventStore;
const children: ChildProcess[] = [];

beforeAll(async () => {
  t = await testDb('t_group_commit');
  store = t.eventStore(registry);
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await t?.drop();
});

describe('EventStore group commit', () => {
  it('appends committed together each decide on their own version: a conflict or a failing read-model update fails only its own append', async () => {
    await store.appendToStream('taken', 'no_stream', [noted(0)], { metadata: meta });
    const boom = new Error('read model refused');
    // Queued in one turn: they share transactions.
    const attempts = Array.from({ length: 20 }, (_, i) => {
      if (i === 7) return store.appendToStream('taken', 'no_stream', [noted(i)], { metadata: meta });
      if (i === 13) return store.appendToStream(`s${i}`, 'no_stream', [noted(i)], { metadata: meta, inTransaction: () => Promise.reject(boom) });
      return store.appendToStream(`s${i}`, 'no_stream', [noted(i), noted(i)], { metadata: meta, audit: [] });
    });
    const settled = await Promise.allSettled(attempts);
    settled.forEach((s, i) => {
      if (i === 7) expect(s.status === 'rejected' && s.reason instanceof ConcurrencyError).toBe(true);
      else if (i === 13) expect(s.status === 'rejected' && s.reason === boom).toBe(true);
      else expect(s.status).toBe('fulfilled');
    });
    const rows = await t.db.query<{ stream_id: string; n: string }>(`SELECT stream_id, count(*)::text AS n FROM ${t.schema}.events GROUP BY stream_id ORDER BY stream_id`);
    const counts = Object.fromEntries(rows.map((r) => [r.stream_id, Number(r.n)]));
    expect(counts.taken).toBe(1);
    expect(counts.s13).toBeUndefined();
    for (let i = 0; i < 20; i++) if (i !== 7 && i !== 13) expect(counts[`s${i}`]).toBe(2);
    // Every event has its outbox row, each stream its version.
    const [outbox] = await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.schema}.outbox`);
    expect(Number(outbox!.n)).toBe(1 + 18 * 2);
    const versions = await t.db.query<{ stream_id: string; version: string }>(`SELECT stream_id, version::text FROM ${t.schema}.streams WHERE stream_id <> 'taken'`);
    expect(versions.every((r) => r.version === '2')).toBe(true);
  });

  it('appends to distinct streams share one statement, yet each decides on its own version; a refused statement fails only the append that caused it', async () => {
    const sent = async (): Promise<number> => ((await metricsRegistry.getSingleMetric('keyledger_db_statements_total')?.get())?.values ?? []).filter((x) => x.labels.schema === t.schema).reduce((a, x) => a + x.value, 0);
    for (let i = 0; i < 12; i++) await store.appendToStream(`m${i}`, 'no_stream', [noted(i)], { metadata: meta });
    await store.appendToStream('m-taken', 'no_stream', [noted(97)], { metadata: meta });
    const before = await sent();
    // Queued in one turn: the first two go alone (two transactions in flight), the rest share one.
    const attempts = [
      ...Array.from({ length: 12 }, (_, i) => store.appendToStream(`m${i}`, i === 5 ? 4 : 1, [noted(i), noted(i)], { metadata: meta, audit: [] })),
      store.appendToStream('m-new', 'no_stream', [noted(99)], { metadata: meta }),
      store.appendToStream('m-taken', 'no_stream', [noted(98)], { metadata: meta }),
    ];
    const settled = await Promise.allSettled(attempts);
    settled.forEach((s, i) => {
      if (i === 5) expect(s.status === 'rejected' && s.reason instanceof ConcurrencyError && s.reason.actual === 1).toBe(true);
      else if (i === 13) expect(s.status === 'rejected' && s.reason instanceof ConcurrencyError && s.reason.actual === 1).toBe(true);
      else expect(s.status).toBe('fulfilled');
    });
    // One statement for the batch of distinct streams, one each for the two that went alone.
    expect((await sent()) - before).toBe(3);
    const rows = await t.db.query<{ stream_id: string; versions: string[]; xids: string[] }>(
      `SELECT stream_id, array_agg(stream_version::text ORDER BY stream_version) AS versions, array_agg(DISTINCT transaction_id::text) AS xids
         FROM ${t.schema}.events WHERE stream_id LIKE 'm%' GROUP BY stream_id`,
    );
    const by = new Map(rows.map((r) => [r.stream_id, r]));
    for (let i = 0; i < 12; i++) expect(by.get(`m${i}`)!.versions).toEqual(i === 5 ? ['1'] : ['1', '2', '3']);
    expect(by.get('m-new')!.versions).toEqual(['1']);
    expect(by.get('m-taken')!.versions).toEqual(['1']);
    // The shared batch is one transaction: its appends' events carry one transaction id.
    const latest = (id: string): string => by.get(id)!.xids.sort((a, b) => Number(a) - Number(b)).at(-1)!;
    expect(new Set(['m3', 'm4', 'm6', 'm11'].map(latest)).size).toBe(1);
    const [outbox] = await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.schema}.outbox WHERE message_key LIKE 'm%'`);
    const [events] = await t.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${t.schema}.events WHERE stream_id LIKE 'm%'`);
    expect(outbox!.n).toBe(events!.n);

    // PostgreSQL refuses one append's data (jsonb cannot hold U+0000): the shared statement
    // writes nothing, then each append is committed on its own and only that one fails.
    const refusing = [0, 1, 2, 3, 4, 5].map((i) =>
      store.appendToStream(`r${i}`, 'no_stream', [noted(i)], { metadata: meta, messages: [{ topic: 'spec', key: `r${i}`, headers: {}, payload: { note: i === 4 ? 'nul\u0000' : 'fine' } }] }),
    );
    const outcomes = await Promise.allSettled(refusing);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    const written = await t.db.query<{ stream_id: string }>(`SELECT stream_id FROM ${t.schema}.events WHERE stream_id LIKE 'r%' ORDER BY stream_id`);
    expect(written.map((r) => r.stream_id)).toEqual(['r0', 'r1', 'r2', 'r3', 'r5']);
  });

  it('read-model work carried by the append statement is written with the append and only then, grouped or not', async () => {
    await t.db.query(`CREATE TABLE ${t.schema}.noted_rm (stream_id text PRIMARY KEY, version bigint NOT NULL, n integer NOT NULL)`);
    const work = (streamId: string, version: number, n: number): InStatementWork => ({
      key: 'noted-rm',
      sql: (first) => ({
        ctes: `rm AS (INSERT INTO ${t.schema}.noted_rm (stream_id, version, n) SELECT $${first}::text, $${first + 1}::bigint, $${first + 2}::int FROM s
                 ON CONFLICT (stream_id) DO UPDATE SET version = EXCLUDED.version, n = EXCLUDED.n RETURNING 1)`,
        select: '(SELECT count(*) FROM rm)',
      }),
      values: [streamId, version, n],
    });
    const append = (target: EventStore, streamId: string, expected: number | 'no_stream' | 'any', n: number) =>
      target.appendToStream(streamId, expected, [noted(n)], { metadata: meta, inStatement: (recorded) => work(streamId, recorded[0]!.streamVersion, n) });
    const ungrouped = new EventStore(t.db, registry, 'test', `keyledger.${t.schema}.events.v1`, { groupCommit: false });
    const rm = async (streamId: string) => (await t.db.query<{ version: string; n: number }>(`SELECT version::text, n FROM ${t.schema}.noted_rm WHERE stream_id = $1`, [streamId]))[0];

    // Grouped: several in one transaction, one of them conflicting (it writes nothing, its work neither).
    const settled = await Promise.allSettled([append(store, 'rm-a', 'no_stream', 1), append(store, 'rm-b', 'no_stream', 2), append(store, 'rm-a', 'no_stream', 3)]);
    expect(settled.map((x) => x.status)).toEqual(['fulfilled', 'fulfilled', 'rejected']);
    expect(await rm('rm-a')).toEqual({ version: '1', n: 1 });
    expect(await rm('rm-b')).toEqual({ version: '1', n: 2 });
    // Alone and with no work of its own in the transaction: one statement, its own transaction.
    const sent = async (): Promise<number> => ((await metricsRegistry.getSingleMetric('keyledger_db_statements_total')?.get())?.values ?? []).filter((x) => x.labels.schema === t.schema).reduce((a, x) => a + x.value, 0);
    const before = await sent();
    await append(store, 'rm-a', 1, 4);
    expect((await sent()) - before).toBe(1);
    await expect(append(store, 'rm-a', 1, 5)).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await rm('rm-a')).toEqual({ version: '2', n: 4 });
    // Not grouped (no group commit, or no exact expected version): the same work, after the events.
    await append(ungrouped, 'rm-a', 2, 6);
    await append(store, 'rm-a', 'any', 7);
    await expect(append(ungrouped, 'rm-a', 2, 8)).rejects.toBeInstanceOf(ConcurrencyError);
    expect(await rm('rm-a')).toEqual({ version: '4', n: 7 });
  });

  it('a process killed with SIGKILL while group-committing loses no acknowledged append and leaves no partial one', async () => {
    expect(existsSync(childScript)).toBe(true);
    const child = spawn(process.execPath, ['--enable-source-maps', childScript, t.schema, '32'], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    children.push(child);
    const acked = new Map<string, number>();
    let buffer = '';
    child.stdout!.on('data', (d: Buffer) => {
      buffer += d.toString();
      const lines = buffer.split('\n');
      buffer = lines.pop() ?? '';
      for (const line of lines) {
        const m = /^ack (\S+) (\d+)$/.exec(line);
        if (m) acked.set(m[1]!, Math.max(acked.get(m[1]!) ?? 0, Number(m[2])));
      }
    });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    await waitFor(() => [...acked.values()].reduce((a, b) => a + b, 0) >= 600, { timeoutMs: 90_000, what: `600 acknowledged appends (child: ${stderr.slice(0, 300)})` });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(child.signalCode).toBe('SIGKILL');

    const events = await t.db.query<{ stream_id: string; versions: string[] }>(
      `SELECT stream_id, array_agg(stream_version::text ORDER BY stream_version) AS versions FROM ${t.schema}.events WHERE stream_id LIKE 'w%' GROUP BY stream_id`,
    );
    const streams = new Map((await t.db.query<{ stream_id: string; version: string }>(`SELECT stream_id, version::text FROM ${t.schema}.streams WHERE stream_id LIKE 'w%'`)).map((r) => [r.stream_id, Number(r.version)]));
    const byStream = new Map(events.map((r) => [r.stream_id, r.versions.map(Number)]));
    for (const [stream, last] of acked) {
      const versions = byStream.get(stream) ?? [];
      // Every acknowledged append is there (a later one may be too: committed, the ack not yet printed) …
      expect(versions.length).toBeGreaterThanOrEqual(last);
      // … without gaps, and the stream's version is its last event's.
      expect(versions).toEqual(versions.map((_, i) => i + 1));
      expect(streams.get(stream)).toBe(versions.length);
    }
    // Nothing half-written: each committed event has its outbox row.
    const [counts] = await t.db.query<{ events: string; outbox: string }>(
      `SELECT (SELECT count(*) FROM ${t.schema}.events WHERE stream_id LIKE 'w%')::text AS events,
              (SELECT count(*) FROM ${t.schema}.outbox WHERE message_key LIKE 'w%')::text AS outbox`,
    );
    expect(counts!.outbox).toBe(counts!.events);
  });
});
