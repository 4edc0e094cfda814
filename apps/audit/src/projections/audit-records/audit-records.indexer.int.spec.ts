import net from 'node:net';
import { Client as EsClient } from '@elastic/elasticsearch';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createEsClient, createLogger, REPO_ROOT } from '#libs/platform';
import { stackEnv, testDb, testEs, uniqueName, uniqueTenant, type TestDb } from '#libs/testing';
import { LedgerRepository } from '../../adapters/persistence/ledger.repository.js';
import { toAuditDocument, type AuditDocument } from '../../domain/audit-document.js';
import { sampleRecord } from '../../domain/audit-test.fixtures.js';
import { AuditSearchService } from '../../application/search.service.js';
import { canonicalJson } from '../../domain/canonical-json.js';
import { AUDIT_MAPPINGS, AUDIT_MAPPING_VERSION } from './audit-index.template.js';
import { AuditRecordsIndexer, bulkIndexLines, EsUnavailableError, type ReindexProgress } from './audit-records.indexer.js';

jest.setTimeout(120_000);

const es = testEs();
const alias = uniqueName('t_audit_idx').replace(/_/g, '-');
let t: TestDb;
let ledger: LedgerRepository;
let indexer: AuditRecordsIndexer;
const logger = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');

beforeAll(async () => {
  t = await testDb('t_audit_idx');
  await t.db.migrate(join(REPO_ROOT, 'apps', 'audit', 'migrations'));
  ledger = new LedgerRepository(t.db);
  indexer = new AuditRecordsIndexer(t.db, es, { alias, refreshInterval: '100ms', replicas: 0, batchSize: 50 }, logger);
  await indexer.ensureTemplates();
});

afterAll(async () => {
  await es.indices.delete({ index: `${alias}-v*`, ignore_unavailable: true, allow_no_indices: true }).catch(() => undefined);
  await es.indices.deleteIndexTemplate({ name: alias }).catch(() => undefined);
  for (const c of [`${alias}@settings`, `${alias}@mappings`]) await es.cluster.deleteComponentTemplate({ name: c }).catch(() => undefined);
  await es.close();
  await t?.drop();
});

async function append(tenant: string, n: number, batch = 'a'): Promise<string[]> {
  const records = Array.from({ length: n }, (_, i) => sampleRecord({ n: i, tenant, id: `${tenant}-${batch}${i + 1}`, ...(i % 3 === 0 ? { resultType: 'Failure' as const, resultSignature: '403' } : {}) }));
  await t.db.transaction((tx) => ledger.append(tx, records));
  return records.map((r) => r.id);
}

async function countFor(tenant: string, index = alias): Promise<number> {
  await es.indices.refresh({ index });
  return (await es.count({ index, query: { term: { 'keyledger.tenant': tenant } } })).count;
}

/** A TCP relay to the real Elasticsearch that can be cut (connections refused) and restored: an outage of ES as the indexer sees it. */
async function cuttableRelay(target: URL): Promise<{ url: string; cut: () => Promise<void>; restore: () => Promise<void>; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: target.hostname, port: Number(target.port) });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as net.AddressInfo).port;
  const cut = (): Promise<void> =>
    new Promise((r) => {
      server.close(() => r());
      for (const s of sockets) s.destroy();
    });
  return {
    url: `http://127.0.0.1:${port}`,
    cut,
    restore: () => new Promise((r) => server.listen(port, '127.0.0.1', r)),
    close: () => (server.listening ? cut() : Promise.resolve()),
  };
}

/**
 * A TCP relay to the real Elasticsearch that black-holes any request larger than `maxBytes`
 * (bytes sent since the last answer on the connection): an Elasticsearch that cannot take big
 * bulks within the client's timeout, as a node just restarted on a loaded machine.
 */
async function smallRequestsRelay(target: URL, maxBytes: number): Promise<{ url: string; close: () => Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: target.hostname, port: Number(target.port) });
    let pending = 0;
    let stalled = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => undefined);
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (chunk: Buffer) => {
      pending += chunk.length;
      if (pending > maxBytes) stalled = true;
      if (!stalled) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      pending = 0;
      client.write(chunk);
    });
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () =>
      new Promise((r) => {
        server.close(() => r());
        for (const s of sockets) s.destroy();
      }),
  };
}

describe('audit records → Elasticsearch (real ES)', () => {
  it('indexes ledger entries into monthly indices behind the alias, with _id = record id', async () => {
    const a = uniqueTenant();
    const b = uniqueTenant();
    const ids = await append(a, 120);
    await append(b, 30);
    await indexer.catchUp();
    expect(await countFor(a)).toBe(120);
    expect(await countFor(b)).toBe(30);
    const doc = await es.get<AuditDocument>({ index: (await indexer.indicesOf(`${alias}-v1`))[0]!, id: ids[0]! });
    expect(doc._source).toMatchObject({ event: { id: ids[0], action: 'SecretGet', outcome: 'failure' }, keyledger: { tenant: a, chain: a, seq: 1 }, azure: { id: ids[0] } });
    const mapping = await es.indices.getMapping({ index: alias });
    expect(Object.values(mapping)[0]?.mappings.properties?.['source']).toMatchObject({ properties: { ip: { type: 'ip' } } });
    expect(Object.keys(await es.indices.getAlias({ name: alias }))).toEqual([`${alias}-v1-${new Date().getUTCFullYear()}.${String(new Date().getUTCMonth() + 1).padStart(2, '0')}`]);
  });

  it('replays are idempotent: indexing the same entries again changes no count', async () => {
    const a = uniqueTenant();
    await append(a, 10);
    await indexer.catchUp();
    await t.db.query(`UPDATE ${t.schema}.search_progress SET seq = 0 WHERE chain = $1`, [a]);
    await indexer.catchUp();
    expect(await countFor(a)).toBe(10);
  });

  it('with Elasticsearch unreachable the ledger keeps its records and the index catches up later', async () => {
    const down = new AuditRecordsIndexer(t.db, createEsClient('http://127.0.0.1:9'), { alias, refreshInterval: '100ms', replicas: 0 }, logger);
    const a = uniqueTenant();
    await append(a, 25);
    await expect(down.stepLive()).rejects.toBeInstanceOf(EsUnavailableError);
    expect((await ledger.head(a))?.seq).toBe(25);
    await indexer.catchUp();
    expect(await countFor(a)).toBe(25);
  });

  it('the live loop re-indexes a batch whose bulk failed even when the step after it found nothing new (crash matrix: ES killed mid-run)', async () => {
    const relay = await cuttableRelay(new URL(stackEnv().elasticsearchUrl));
    // No client-side retries: the bulk fails while the relay is cut, not after it is restored.
    const client = new EsClient({ node: relay.url, maxRetries: 0, requestTimeout: 2_000 });
    const live = new AuditRecordsIndexer(t.db, client, { alias, refreshInterval: '100ms', replicas: 0, batchSize: 50, pollIntervalMs: 100, maxBackoffMs: 200 }, logger);
    const a = uniqueTenant();
    const count = (): Promise<number> => countFor(a).catch(() => 0); // the alias appears with the first document
    live.start();
    try {
      await append(a, 5, 'before');
      live.wake();
      for (let i = 0; i < 100 && (await count()) < 5; i++) await new Promise((r) => setTimeout(r, 200));
      expect(await countFor(a)).toBe(5);
      // Elasticsearch goes away; entries appended now are read by a step whose bulk fails,
      // and the next steps find nothing newer.
      await relay.cut();
      await append(a, 5, 'during');
      live.wake();
      await new Promise((r) => setTimeout(r, 3_000));
      await relay.restore();
      await append(a, 1, 'after');
      live.wake();
      for (let i = 0; i < 100 && (await count()) < 11; i++) await new Promise((r) => setTimeout(r, 200));
      expect(await countFor(a)).toBe(11);
    } finally {
      await live.stop();
      await client.close();
      await relay.close();
    }
  });

  it('the live loop shrinks its batch when Elasticsearch cannot take a big bulk in time, instead of retrying it whole for ever', async () => {
    const a = uniqueTenant();
    const docBytes = JSON.stringify(toAuditDocument(sampleRecord({ n: 1, tenant: a, id: `${a}-x` }), { chain: a, seq: 1, hash: 'f'.repeat(64), appendedAt: new Date().toISOString() })).length + 80;
    await indexer.ensureTemplates(); // through the direct client: templates are small anyway
    const relay = await smallRequestsRelay(new URL(stackEnv().elasticsearchUrl), docBytes * 40);
    const client = new EsClient({ node: relay.url, maxRetries: 0, requestTimeout: 1_000 });
    const live = new AuditRecordsIndexer(t.db, client, { alias, refreshInterval: '100ms', replicas: 0, batchSize: 400, pollIntervalMs: 100, maxBackoffMs: 200 }, logger);
    const count = (): Promise<number> => countFor(a).catch(() => 0);
    // the monthly index exists before the relay is in the way (its creation is one small request)
    await append(uniqueTenant(), 1, 'warm');
    await indexer.catchUp();
    await append(a, 400, 'big');
    live.start();
    try {
      for (let i = 0; i < 300 && (await count()) < 400; i++) await new Promise((r) => setTimeout(r, 200));
      expect(await count()).toBe(400);
    } finally {
      await live.stop();
      await client.close();
      await relay.close();
    }
  });

  it('the live loop indexes a backlog in growing steps and, once it keeps up, goes back to small ones', async () => {
    const a = uniqueTenant();
    const client = new EsClient({ node: stackEnv().elasticsearchUrl });
    // Records per bulk request, as sent (a step above 200 records goes as two requests).
    const bulks: number[] = [];
    const request = client.transport.request.bind(client.transport);
    client.transport.request = ((params: { path: string; bulkBody?: unknown }, options?: unknown) => {
      if (params.path === '/_bulk' && typeof params.bulkBody === 'string') bulks.push(params.bulkBody.split('\n').filter((l) => l.length > 0).length / 2);
      return request(params as Parameters<typeof request>[0], options as Parameters<typeof request>[1]);
    }) as typeof client.transport.request;
    const live = new AuditRecordsIndexer(t.db, client, { alias, refreshInterval: '100ms', replicas: 0, batchSize: 400, liveBatchSize: 20, pollIntervalMs: 100, lingerMs: 10 }, logger);
    await append(a, 1_500, 'backlog');
    live.start();
    try {
      for (let i = 0; i < 300 && (await countFor(a)) < 1_500; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await countFor(a)).toBe(1_500);
      // Started at 20 records, doubled while steps came back full: larger bulks for the backlog.
      expect(bulks[0]).toBeLessThanOrEqual(20);
      expect(Math.max(...bulks)).toBeGreaterThan(100);
      // Caught up, a trickle of records goes out in steps of at most the live size again.
      const seen = bulks.length;
      for (let k = 0; k < 6; k++) {
        await append(a, 15, `trickle${k}`);
        await new Promise((r) => setTimeout(r, 150));
      }
      for (let i = 0; i < 100 && (await countFor(a)) < 1_590; i++) await new Promise((r) => setTimeout(r, 100));
      expect(await countFor(a)).toBe(1_590);
      const after = bulks.slice(seen + 2);
      expect(after.length).toBeGreaterThan(0);
      expect(Math.max(...after)).toBeLessThanOrEqual(20);
    } finally {
      await live.stop();
      await client.close();
    }
  });

  it('rebuilds into a new generation and moves the alias atomically, reporting progress', async () => {
    const a = uniqueTenant();
    await append(a, 40);
    await indexer.catchUp();
    await es.indices.refresh({ index: alias });
    const before = await es.count({ index: alias });
    const progress: ReindexProgress[] = [];
    const result = await indexer.rebuild((p) => progress.push(p));
    expect(result.target).toBe(`${alias}-v2`);
    expect(progress.at(-1)).toMatchObject({ phase: 'done', projection: 'records' });
    expect(Object.keys(await es.indices.getAlias({ name: alias })).every((i) => i.startsWith(`${alias}-v2-`))).toBe(true);
    expect(await indexer.indicesOf(`${alias}-v1`)).toEqual([]);
    await es.indices.refresh({ index: alias });
    expect((await es.count({ index: alias })).count).toBe(before.count);
    // Live indexing continues into the new generation.
    await append(a, 5, 'b');
    await indexer.catchUp();
    expect(await countFor(a)).toBe(45);
  });

  it('with an async translog, the live loop moves its progress only past operations Elasticsearch has synced (kill -9 loses nothing the progress counts)', async () => {
    const asyncAlias = `${alias}-async`;
    const live = new AuditRecordsIndexer(t.db, es, { alias: asyncAlias, refreshInterval: '100ms', replicas: 0, batchSize: 50, pollIntervalMs: 100, translogDurability: 'async', translogSyncInterval: '2s' }, logger);
    const a = uniqueTenant();
    // The generation is the schema's (a rebuild above may have moved it).
    const target = live.target(await live.generation());
    const progress = async (): Promise<number> => {
      const rows = await t.db.query<{ seq: string }>(`SELECT seq::text FROM ${t.schema}.search_progress WHERE target = $1 AND chain = $2`, [target, a]);
      return Number(rows[0]?.seq ?? 0);
    };
    /** The shard's persisted checkpoint: the operations (sequence numbers) its translog has synced. */
    const persisted = async (): Promise<number> => {
      const stats = await es.indices.stats({ index: `${target}-*`, metric: 'docs', level: 'shards' });
      const shard = Object.values(Object.values(stats.indices ?? {})[0]?.shards ?? {}).flat()[0];
      return Number(shard?.seq_no?.local_checkpoint ?? -1);
    };
    /** The highest sequence number of the operations that wrote this chain's documents up to `seq`. */
    const seqNoUpTo = async (seq: number): Promise<number> => {
      await es.indices.refresh({ index: `${target}-*` });
      const res = await es.search({ index: `${target}-*`, size: 100, seq_no_primary_term: true, query: { bool: { filter: [{ term: { 'keyledger.chain': a } }, { range: { 'keyledger.seq': { lte: seq } } }] } } });
      return Math.max(-1, ...res.hits.hits.map((h) => h._seq_no ?? -1));
    };
    live.start();
    try {
      await append(a, 30, 'x');
      live.wake();
      await append(a, 30, 'y');
      live.wake();
      // Whenever progress says `p`, the operations of entries 1..p are synced (read in this
      // order: the checkpoint only grows, so a violation can be missed but never invented).
      const seen: { progress: number; seqNo: number; persisted: number }[] = [];
      for (let i = 0; i < 150; i++) {
        const p = await progress();
        const seqNo = p > 0 ? await seqNoUpTo(p) : -1;
        seen.push({ progress: p, seqNo, persisted: await persisted().catch(() => -1) });
        if (p === 60) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(seen.filter((x) => x.seqNo > x.persisted)).toEqual([]);
      expect(seen.at(-1)?.progress).toBe(60);
      expect(await countFor(a, asyncAlias)).toBe(60);
      const settings = await es.indices.getSettings({ index: `${target}-*` });
      expect(Object.values(settings)[0]?.settings?.index?.translog).toMatchObject({ durability: 'async', sync_interval: '2s' });
    } finally {
      await live.stop();
      await es.indices.delete({ index: `${asyncAlias}-v*`, ignore_unavailable: true, allow_no_indices: true }).catch(() => undefined);
      await es.indices.deleteIndexTemplate({ name: asyncAlias }).catch(() => undefined);
      for (const c of [`${asyncAlias}@settings`, `${asyncAlias}@mappings`]) await es.cluster.deleteComponentTemplate({ name: c }).catch(() => undefined);
    }
  });
  it('an index created from the earlier mapping (every field indexed, no mapping version) keeps it; searches and usage over the alias span it and the current one', async () => {
    const a = uniqueTenant();
    await append(a, 6, 'm');
    await indexer.catchUp();
    const target = indexer.target(await indexer.generation());
    const current = (await indexer.indicesOf(target)).find((i) => i.endsWith(`${new Date().getUTCFullYear()}.${String(new Date().getUTCMonth() + 1).padStart(2, '0')}`))!;
    expect((await es.indices.getMapping({ index: current }))[current]?.mappings._meta).toEqual({ mapping_version: AUDIT_MAPPING_VERSION });
    // Version 1: the same fields, every one indexed with doc values as before (what an existing deployment's month holds).
    const v1 = (props: Record<string, unknown>): Record<string, unknown> =>
      Object.fromEntries(Object.entries(props).map(([k, p]) => {
        const { properties, ...rest } = p as { properties?: Record<string, unknown>; type?: string };
        if (properties) return [k, { ...rest, properties: v1(properties) }];
        const { index: _i, doc_values: _d, norms: _n, ...kept } = rest as Record<string, unknown>;
        return [k, kept];
      }));
    const old = `${target}-2001.01`;
    await es.indices.create({ index: old, mappings: { ...AUDIT_MAPPINGS, _meta: { mapping_version: 1 }, properties: v1(AUDIT_MAPPINGS.properties as Record<string, unknown>) } as typeof AUDIT_MAPPINGS, aliases: { [alias]: {} }, settings: { number_of_replicas: 0 } });
    try {
      const oldMapping = (await es.indices.getMapping({ index: old }))[old]!.mappings;
      expect(JSON.stringify(oldMapping)).not.toMatch(/"index":false|"doc_values":false/);
      const record = sampleRecord({ n: 99, tenant: a, id: `${a}-old`, time: '2001-01-15T10:00:00.000Z', properties: { ...sampleRecord().properties, algorithm: 'RS256', extra: { note: 'old' } } });
      const lines = bulkIndexLines(old, { recordId: record.id, record: canonicalJson(record), chain: a, seq: 1_000, hash: 'e'.repeat(64), appendedAt: '2001-01-15T10:00:00.000Z' });
      await es.transport.request({ method: 'POST', path: '/_bulk', bulkBody: `${lines.join('\n')}\n`, querystring: { refresh: 'true' } });
      await es.indices.refresh({ index: alias });
      expect(await indexer.indicesOlderThanMapping()).toContain(old);
      const search = new AuditSearchService(es, alias, `${alias}-objects`);
      const from = new Date('2000-12-01T00:00:00Z');
      const all = { tenant: a, from, pageSize: 50, order: 'asc' as const };
      // Every filter the API offers, each finding the record in the old index and those in the current one.
      const found = async (q: Partial<Parameters<AuditSearchService['search']>[0]>): Promise<string[]> => (await search.search({ ...all, ...q })).value.map((d) => d.event.id);
      expect(await found({})).toHaveLength(7);
      expect(await found({ object: 'db-password' })).toHaveLength(7);
      expect(await found({ object: 'dev/secrets/db-password' })).toHaveLength(7);
      expect(await found({ object: 'https://dev.vault.localhost:8443/secrets/db-password' })).toHaveLength(7);
      expect(await found({ principal: '0b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e01' })).toHaveLength(7);
      expect(await found({ principal: '2966c8e5-2fd9-419a-8c80-0c92362a70aa' })).toHaveLength(7);
      expect(await found({ operation: 'secretget', vault: 'DEV', service: 'vault' })).toHaveLength(7);
      expect(await found({ outcome: 'failure' })).toEqual([`${a}-m1`, `${a}-m4`]);
      expect(await found({ text: 'db-password' })).toHaveLength(7);
      expect(await found({ text: 'corr-99' })).toEqual([`${a}-old`]);
      const usage = await search.usage({ tenant: a, from, to: new Date(), by: ['key', 'principal', 'operation', 'algorithm'], size: 10, collection: 'secrets', intervalMs: 86_400_000 * 366 });
      expect(usage.total).toBe(7);
      expect(usage.byKey).toEqual([expect.objectContaining({ key: 'dev/secrets/db-password', count: 7, failure: 2 })]);
      expect(usage.byOperation).toEqual([expect.objectContaining({ key: 'SecretGet', count: 7 })]);
      expect(usage.byPrincipal).toEqual([expect.objectContaining({ key: '0b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e01', count: 7 })]);
      expect(usage.byAlgorithm).toEqual([expect.objectContaining({ key: 'RS256', count: 1 })]);
      expect(usage.overTime?.reduce((n, b) => n + b.count, 0)).toBe(7);
    } finally {
      await es.indices.delete({ index: old }).catch(() => undefined);
    }
  });
});
