import { describe, it, expect, beforeAll, beforeEach, afterEach, afterAll, jest } from '@jest/globals';
import type { Client as EsClient } from '@elastic/elasticsearch';
import { EventRegistry, v } from '#libs/kernel';
import { START, checkpointOf, type EventStore, type GlobalCheckpoint } from '#libs/eventstore';
import { testDb, testEs, testLogger, uniqueName, uniqueTenant, waitFor, sleep, type TestDb } from '#libs/testing';
import { loadCheckpoint, saveCheckpoint } from './checkpoint.store.js';
import { EsBulkError } from './es-index.manager.js';
import { compareCheckpoints, ProjectionRunner, type RebuildProgress } from './projection.runner.js';
import type { EsOperation, EsProjection, ProjectedEvent } from './projection.types.js';

jest.setTimeout(180_000);

type SecretSet = { readonly type: 'SecretSet'; readonly data: { readonly name: string; readonly version: string; readonly contentType: string } };
type SecretDeleted = { readonly type: 'SecretDeleted'; readonly data: { readonly name: string } };
type SecretEvent = SecretSet | SecretDeleted;

const registry = new EventRegistry()
  .define({ type: 'SecretSet', schemaVersion: 1, validate: v.object({ name: v.nonEmpty, version: v.nonEmpty, contentType: v.string }) })
  .define({ type: 'SecretDeleted', schemaVersion: 1, validate: v.object({ name: v.nonEmpty }) });

const tenant = uniqueTenant();
const meta = { actor: 'spec', tenant };

/** One document per secret (`_id` = stream id): latest version wins, deletion removes it. */
function secretsProjection(alias: string, opts: { broken?: () => boolean } = {}): EsProjection<SecretEvent> {
  return {
    kind: 'elasticsearch',
    name: `secrets-search:${alias}`,
    alias,
    settings: { number_of_shards: 1, number_of_replicas: 0 },
    mappings: {
      dynamic: 'strict',
      properties: {
        name: { type: 'keyword' },
        version: { type: 'keyword' },
        contentType: { type: 'keyword' },
        tenant: { type: 'keyword' },
        streamVersion: { type: 'integer' },
        updatedAt: { type: 'date' },
      },
    },
    toOperations: (events: readonly ProjectedEvent<SecretEvent>[]): EsOperation[] =>
      events.map((e) => {
        switch (e.type) {
          case 'SecretSet':
            return {
              op: 'update',
              id: e.streamId,
              document: {
                name: e.data.name,
                version: e.data.version,
                contentType: e.data.contentType,
                tenant: e.tenant,
                // A deliberately unmappable value while "broken": the bulk item fails.
                streamVersion: opts.broken?.() && e.data.contentType === 'poison' ? 'not-a-number' : e.streamVersion,
                updatedAt: e.time,
              },
            };
          case 'SecretDeleted':
            return { op: 'delete', id: e.streamId };
        }
      }),
  };
}

/** What the projection must contain after `events`, computed independently of it. */
function model(events: readonly { streamId: string; streamVersion: number; type: string; data: Record<string, unknown> }[]): Map<string, Record<string, unknown>> {
  const docs = new Map<string, Record<string, unknown>>();
  for (const e of events) {
    if (e.type === 'SecretDeleted') docs.delete(e.streamId);
    else docs.set(e.streamId, { name: e.data.name, version: e.data.version, contentType: e.data.contentType, tenant, streamVersion: e.streamVersion });
  }
  return docs;
}

let t: TestDb;
let store: EventStore;
let es: EsClient;
const aliases: string[] = [];
const runners: ProjectionRunner[] = [];
const schemas: TestDb[] = [];

beforeAll(async () => {
  es = testEs();
});

// Each test reads the whole event log of its own schema.
beforeEach(async () => {
  t = await testDb('t_proj_es');
  schemas.push(t);
  store = t.eventStore(registry);
});

afterEach(async () => {
  await Promise.allSettled(runners.splice(0).map((r) => r.stop()));
});

afterAll(async () => {
  for (const s of schemas) await s.drop();
  for (const alias of aliases) {
    await es.indices.delete({ index: `${alias}-v*`, allow_no_indices: true, ignore_unavailable: true }).catch(() => undefined);
    await es.indices.deleteIndexTemplate({ name: `${alias}-projection` }).catch(() => undefined);
  }
  await es?.close();
});

function track(runner: ProjectionRunner): ProjectionRunner {
  runners.push(runner);
  return runner;
}

function newAlias(): string {
  const alias = uniqueName('t_proj_secrets');
  aliases.push(alias);
  return alias;
}

async function documents(index: string): Promise<Map<string, Record<string, unknown>>> {
  await es.indices.refresh({ index });
  const res = await es.search<Record<string, unknown>>({ index, size: 10_000, query: { match_all: {} } });
  const out = new Map<string, Record<string, unknown>>();
  for (const hit of res.hits.hits) {
    const { updatedAt: _ignored, ...rest } = hit._source ?? {};
    out.set(hit._id!, rest);
  }
  return out;
}

async function aliasTargets(alias: string): Promise<string[]> {
  return Object.keys(await es.indices.getAlias({ name: alias }));
}

/** Appends; returns the checkpoint of the last event (what a runner must reach). */
async function appendSecrets(prefix: string, secrets: number, rounds: number, deleteEvery = 0): Promise<GlobalCheckpoint> {
  let last: GlobalCheckpoint = START;
  for (let r = 0; r < rounds; r++) {
    for (let s = 0; s < secrets; s++) {
      const stream = `${prefix}-${s}`;
      if (deleteEvery > 0 && r === rounds - 1 && s % deleteEvery === 0) {
        last = checkpointOf((await store.appendToStream(stream, 'any', [{ type: 'SecretDeleted', data: { name: stream } }], { metadata: meta, outbox: false })).events[0]!);
      } else {
        last = checkpointOf((await store.appendToStream(stream, 'any', [{ type: 'SecretSet', data: { name: stream, version: `v${r}`, contentType: r % 2 ? 'text/plain' : 'application/json' } }], { metadata: meta, outbox: false })).events[0]!);
      }
    }
  }
  return last;
}

async function setSecret(stream: string, version = 'v0'): Promise<GlobalCheckpoint> {
  const res = await store.appendToStream(stream, 'any', [{ type: 'SecretSet', data: { name: stream, version, contentType: 'x' } }], { metadata: meta, outbox: false });
  return checkpointOf(res.events[0]!);
}

const reached = async (runner: ProjectionRunner, target: GlobalCheckpoint): Promise<boolean> => compareCheckpoints((await runner.checkpoint())?.checkpoint ?? START, target) >= 0;

async function allEvents(prefix: string): Promise<{ streamId: string; streamVersion: number; type: string; data: Record<string, unknown> }[]> {
  const rows = await t.db.query<{ stream_id: string; stream_version: string; type: string; data: Record<string, unknown> }>(
    `SELECT stream_id, stream_version::text, type, data FROM ${t.schema}.events WHERE stream_id LIKE $1 ORDER BY transaction_id, position`,
    [`${prefix}-%`],
  );
  return rows.map((r) => ({ streamId: r.stream_id, streamVersion: Number(r.stream_version), type: r.type, data: r.data }));
}

describe('Elasticsearch projection', () => {
  it('live projection and a rebuild from scratch produce the same documents; replays are idempotent; the live runner follows the new index', async () => {
    const alias = newAlias();
    const prefix = uniqueName('a');
    const projection = secretsProjection(alias);
    const head = await appendSecrets(prefix, 40, 6, 3);
    const runner = track(new ProjectionRunner(store, projection, { es, batchSize: 50, logger: testLogger() }));
    await runner.init();
    expect(await aliasTargets(alias)).toEqual([`${alias}-v1`]);
    await runner.catchUp({ until: head });
    const live = await documents(alias);
    const expected = model(await allEvents(prefix));
    expect(live).toEqual(expected);
    expect(live.size).toBe(40 - 14); // every third secret deleted

    // Replaying from the start into the same index changes nothing (deterministic _id).
    await saveCheckpoint(t.db, t.schema, projection.name, START, `${alias}-v1`);
    await runner.catchUp({ until: head });
    expect(await documents(alias)).toEqual(live);

    const progress: RebuildProgress[] = [];
    const result = await runner.rebuild({ batchSize: 37, keepOldIndex: true, onProgress: (p) => progress.push(p), progressIntervalMs: 0 });
    expect(result.previousIndex).toBe(`${alias}-v1`);
    expect(result.index).toBe(`${alias}-v2`);
    expect(result.events).toBe(240); // all visible already
    expect(await aliasTargets(alias)).toEqual([`${alias}-v2`]);
    // Same documents as the live projection built event by event.
    expect(await documents(`${alias}-v2`)).toEqual(await documents(`${alias}-v1`));
    expect(await documents(alias)).toEqual(expected);
    expect(new Set(progress.map((p) => p.phase))).toEqual(new Set(['replay', 'catch-up', 'final', 'done']));
    expect(progress.at(-1)!.events).toBe(result.events);
    expect((await loadCheckpoint(t.db, t.schema, projection.name))?.target).toBe(`${alias}-v2`);

    // New events go to the new index.
    await runner.catchUp({ until: await setSecret(`${prefix}-new`) });
    expect((await documents(alias)).get(`${prefix}-new`)).toMatchObject({ version: 'v0' });
    expect((await documents(`${alias}-v1`)).has(`${prefix}-new`)).toBe(false);

    // A second rebuild deletes the previous version by default.
    const again = await runner.rebuild({ batchSize: 500 });
    expect(again.index).toBe(`${alias}-v3`);
    expect(again.deletedIndices).toEqual([`${alias}-v2`]);
    expect(await es.indices.exists({ index: `${alias}-v2` })).toBe(false);
    expect(await es.indices.exists({ index: `${alias}-v1` })).toBe(true); // kept earlier on request
    expect(await documents(alias)).toEqual(model(await allEvents(prefix)));
  });

  it('the alias never points at a half-built index while a rebuild runs beside the live runner and new events keep arriving', async () => {
    const alias = newAlias();
    const prefix = uniqueName('b');
    const projection = secretsProjection(alias);
    // 3,000 events in 30 transactions, no deletions: the document count can only grow.
    for (let i = 0; i < 30; i++) {
      await store.appendToStream(`${prefix}-bulk-${i}`, 'no_stream', Array.from({ length: 100 }, (_, k) => ({ type: 'SecretSet' as const, data: { name: `${prefix}-bulk-${i}`, version: `v${k}`, contentType: 'x' } })), { metadata: meta, outbox: false });
    }
    const head = await appendSecrets(prefix, 200, 1);
    const runner = track(new ProjectionRunner(store, projection, { es, batchSize: 200, pollIntervalMs: 20, logger: testLogger() }));
    await runner.start();
    await waitFor(() => reached(runner, head), { what: 'the live runner to catch up' });
    await es.indices.refresh({ index: alias });
    const initial = (await es.count({ index: alias })).count;
    expect(initial).toBe(230);

    // Poll the alias all along: one index, the old or the new one, and never fewer documents than before.
    const seenIndices = new Set<string>();
    const problems: string[] = [];
    let polling = true;
    let polls = 0;
    let last = initial;
    const poller = (async () => {
      while (polling) {
        const targets = await aliasTargets(alias);
        const count = (await es.count({ index: alias })).count;
        polls++;
        if (targets.length !== 1) problems.push(`alias points at ${targets.length} indices`);
        for (const i of targets) seenIndices.add(i);
        if (count < last) problems.push(`document count fell from ${last} to ${count} on ${targets.join(',')}`);
        last = Math.max(last, count);
        await sleep(2);
      }
    })();
    let writing = true;
    let extra = 0;
    let lastLate = head;
    const writer = (async () => {
      while (writing) {
        lastLate = await setSecret(`${prefix}-late-${extra}`);
        extra++;
        await sleep(5);
      }
    })();

    const phases: string[] = [];
    const result = await runner.rebuild({ batchSize: 100, progressIntervalMs: 0, onProgress: (p) => phases.push(p.phase) });
    await sleep(300); // some more events for the live runner, now writing to the new index
    writing = false;
    await writer;
    await waitFor(() => reached(runner, lastLate), { what: 'the live runner to catch up after the swap' });
    await es.indices.refresh({ index: alias });
    await sleep(50);
    polling = false;
    await poller;
    await runner.stop();

    expect(problems).toEqual([]);
    expect(polls).toBeGreaterThan(10);
    expect(seenIndices).toEqual(new Set([`${alias}-v1`, `${alias}-v2`]));
    expect(result.index).toBe(`${alias}-v2`);
    expect(phases).toContain('final');
    expect(extra).toBeGreaterThan(0);
    expect(await es.indices.exists({ index: `${alias}-v1` })).toBe(false);
    expect((await es.count({ index: alias })).count).toBe(230 + extra);
    expect(await documents(alias)).toEqual(model(await allEvents(prefix)));
  });

  it('a failed bulk item fails the batch and never advances the checkpoint past it; the running loop retries until it goes through', async () => {
    const alias = newAlias();
    const prefix = uniqueName('c');
    let broken = true;
    const projection = secretsProjection(alias, { broken: () => broken });
    let head: GlobalCheckpoint = START;
    let poison: GlobalCheckpoint = START;
    for (let i = 0; i < 5; i++) {
      const res = await store.appendToStream(`${prefix}-${i}`, 'no_stream', [{ type: 'SecretSet', data: { name: `${prefix}-${i}`, version: 'v1', contentType: i === 2 ? 'poison' : 'x' } }], { metadata: meta, outbox: false });
      head = checkpointOf(res.events[0]!);
      if (i === 2) poison = head;
    }
    const runner = track(new ProjectionRunner(store, projection, { es, batchSize: 1_000, pollIntervalMs: 20, maxBackoffMs: 100, logger: testLogger() }));
    await runner.init();
    const before = async (): Promise<boolean> => compareCheckpoints((await runner.checkpoint())?.checkpoint ?? START, poison) < 0;

    const err = await runner.catchUp({ until: head }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(EsBulkError);
    const bulk = err as EsBulkError;
    expect(bulk.failures).toHaveLength(1);
    expect(bulk.failures[0]!.id).toBe(`${prefix}-2`);
    expect(bulk.message).not.toContain('not-a-number'); // no document values in errors
    expect(await before()).toBe(true); // never past the failed document

    await runner.start(); // keeps retrying the same batch
    await sleep(300);
    expect(await before()).toBe(true);
    broken = false;
    await waitFor(() => reached(runner, head), { what: 'the batch to go through once fixed' });
    await runner.stop();
    const docs = await documents(alias);
    expect([...docs.keys()].sort()).toEqual([0, 1, 2, 3, 4].map((i) => `${prefix}-${i}`));
  });
});
