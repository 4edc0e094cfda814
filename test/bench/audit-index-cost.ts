/**
 * What one audit record costs Elasticsearch, per index template (issue #16): bulk-indexes
 * realistic audit documents — records shaped like the vault's, turned into documents by the
 * real document builder and written as the indexer writes them (`bulkIndexLines`) — into
 * scratch indices created with a given template's settings and mappings, at a steady rate in
 * bulks like the live indexer's (~75 records every 50 ms at 1,500 records/s), and prints
 * Elasticsearch's JVM CPU µs per record (utime + stime of /proc/<pid>/stat, the pid of the
 * local stack's pid file, like the benchmarks) and index bytes per record. Variants run
 * interleaved, round after round, so a machine busier in one moment weighs on all of them.
 * Scratch indices (`keyledger-index-cost-*`, outside every template's pattern) are deleted.
 *
 *   npm run build && flock /tmp/keyledger-e2e.lock node dist/test/bench/audit-index-cost.js
 *
 * Not a benchmark of `npm run bench` (no results file) and never part of `npm test`. Knobs:
 * COST_RATE (records/s, 1500), COST_BULK (records per bulk, 75), COST_SECONDS (per variant and
 * round, 10), COST_ROUNDS (3), COST_VARIANTS (comma list of the names below, default
 * `baseline,current` when COST_BASELINE_DIST is set, else `current`), COST_BASELINE_DIST
 * (another checkout's dist/, e.g. /work/main/dist: its template and document builder are the
 * `baseline` variant).
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { estypes } from '@elastic/elasticsearch';
import { newAuditRecord, type AuditRecord } from '#libs/contracts';
import { keyledgerHome } from '#libs/platform';
import { testEs } from '#libs/testing';
import { toAuditDocument, type AuditDocument, type LedgerPosition } from '../../apps/audit/src/domain/audit-document.js';
import { canonicalJson } from '../../apps/audit/src/domain/canonical-json.js';
import { auditComponentTemplates, type AuditTemplateOptions } from '../../apps/audit/src/projections/audit-records/audit-index.template.js';
import { bulkIndexLines } from '../../apps/audit/src/projections/audit-records/audit-records.indexer.js';
import { cpuSnapshot } from './process-cpu.js';

type Builder = (record: AuditRecord, at: LedgerPosition) => AuditDocument;
type Variant = { readonly name: string; readonly settings: estypes.IndicesIndexSettings; readonly mappings: estypes.MappingTypeMapping; readonly build: Builder; readonly bulk?: number; readonly autoIds?: boolean; readonly ecsOnly?: boolean; readonly rate?: number };
type TemplateModule = { auditComponentTemplates: typeof auditComponentTemplates };
type DocumentModule = { toAuditDocument: Builder };

const envInt = (name: string, def: number): number => {
  const n = Number(process.env[name] ?? def);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number`);
  return Math.floor(n);
};
const RATE = envInt('COST_RATE', 1_500);
const BULK = envInt('COST_BULK', 75);
const SECONDS = envInt('COST_SECONDS', 10);
const ROUNDS = envInt('COST_ROUNDS', 3);
/** After the last bulk: the refreshes and merges its records cause are counted too. */
const TAIL_MS = 2_000;
const PREFIX = 'keyledger-index-cost';
const OPTIONS: AuditTemplateOptions = { alias: PREFIX, refreshInterval: '250ms', replicas: 0, translogDurability: 'async', translogSyncInterval: '1s' };

const log = (msg: string): void => void process.stderr.write(`  ${msg}\n`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function variantOf(name: string, templates: TemplateModule, build: Builder): Variant {
  const [settings, mappings] = templates.auditComponentTemplates(OPTIONS);
  return { name, settings: settings!.template.settings ?? {}, mappings: mappings!.template.mappings ?? {}, build };
}

/** This build's template and builder, another build's (`baseline`), and the experiments tried on the way (kept to be re-run). */
async function variants(): Promise<Map<string, Variant>> {
  const out = new Map<string, Variant>();
  const current = variantOf('current', { auditComponentTemplates }, toAuditDocument);
  out.set('current', current);
  const baseDist = process.env.COST_BASELINE_DIST;
  if (baseDist) {
    const url = (p: string): string => pathToFileURL(join(baseDist, p)).href;
    const templates = (await import(url('apps/audit/src/projections/audit-records/audit-index.template.js'))) as TemplateModule;
    const documents = (await import(url('apps/audit/src/domain/audit-document.js'))) as DocumentModule;
    out.set('baseline', variantOf('baseline', templates, documents.toAuditDocument));
  }
  for (const [name, change] of Object.entries(EXPERIMENTS)) out.set(name, { ...current, name, ...change(current) });
  return out;
}

/** A mapping with `change` applied to the property at each dotted path. */
function withProps(m: estypes.MappingTypeMapping, paths: readonly string[], change: (p: estypes.MappingProperty) => estypes.MappingProperty): estypes.MappingTypeMapping {
  const copy = structuredClone(m);
  for (const path of paths) {
    const parts = path.split('.');
    let props = copy.properties as Record<string, estypes.MappingProperty>;
    for (const part of parts.slice(0, -1)) props = (props[part] as { properties: Record<string, estypes.MappingProperty> }).properties;
    const last = parts[parts.length - 1]!;
    if (props[last]) props[last] = change(props[last]);
  }
  return copy;
}

/** Every leaf path of a mapping. */
function leaves(props: Record<string, estypes.MappingProperty> | undefined, prefix = ''): string[] {
  return Object.entries(props ?? {}).flatMap(([k, p]) => {
    const sub = (p as { properties?: Record<string, estypes.MappingProperty> }).properties;
    return sub ? leaves(sub, `${prefix}${k}.`) : [`${prefix}${k}`];
  });
}

/** Fields a query, sort or aggregation of the product names (API, CLI, Kibana saved objects, tests). */
const QUERIED = new Set([
  '@timestamp', 'event.id', 'event.action', 'event.type', 'event.outcome', 'event.reason', 'user.id', 'user.name', 'source.ip', 'http.response.status_code', 'url.original',
  'service.name', 'keyledger.tenant', 'keyledger.chain', 'keyledger.seq', 'keyledger.correlation_id', 'keyledger.vault', 'keyledger.object.kind', 'keyledger.object.collection',
  'keyledger.object.name', 'keyledger.object.ref', 'keyledger.object.id', 'keyledger.algorithm', 'keyledger.text', 'azure.identity.oid', 'azure.identity.appid',
]);
/** Kept in _source only: not indexed, no doc values, copied nowhere. */
function off(p: estypes.MappingProperty): estypes.MappingProperty {
  const type = (p as { type?: string }).type;
  if (type === 'text') return { type: 'text', index: false };
  if (type === 'flattened') return { type: 'flattened', index: false, doc_values: false };
  const { copy_to: _copy, ignore_malformed: _malformed, ...rest } = p as estypes.MappingKeywordProperty & { ignore_malformed?: boolean };
  return { ...rest, index: false, doc_values: false } as estypes.MappingProperty;
}

const EXPERIMENTS: Record<string, (v: Variant) => Partial<Variant>> = {
  /** Lower bound: only what some query names is indexed; the rest is in _source only. */
  'x-minimal': (v) => ({ mappings: withProps(v.mappings, leaves(v.mappings.properties).filter((f) => !QUERIED.has(f)), off) }),
  /** The free-text catch-all gone (the cost of `keyledger.text`; the feature needs it). */
  'x-no-text': (v) => ({ mappings: withProps(withProps(v.mappings, ['keyledger.text'], off), leaves(v.mappings.properties), ({ copy_to: _copy, ...p }: estypes.MappingProperty & { copy_to?: unknown }) => p as estypes.MappingProperty) }),
  /** No doc values on keywords nothing sorts or aggregates on. */
  'x-no-docvalues': (v) => ({
    mappings: withProps(
      v.mappings,
      leaves(v.mappings.properties).filter((f) => !['@timestamp', 'event.id', 'event.action', 'event.type', 'event.outcome', 'event.reason', 'user.id', 'http.response.status_code', 'service.name', 'keyledger.object.kind', 'keyledger.object.ref', 'keyledger.algorithm', 'keyledger.seq'].includes(f)),
      (p) => ((p as { type?: string }).type === 'keyword' ? ({ ...p, doc_values: false } as estypes.MappingProperty) : p),
    ),
  }),
  /** azure.* in _source only, but the principal filter's oid and appid. */
  'x-azure-source-only': (v) => ({ mappings: withProps(v.mappings, leaves(v.mappings.properties).filter((f) => f.startsWith('azure.') && !['azure.identity.oid', 'azure.identity.appid'].includes(f)), off) }),
  /** Text catch-all without norms (scores are not used: results sort by time). */
  'x-text-no-norms': (v) => ({ mappings: withProps(v.mappings, ['keyledger.text'], (p) => ({ ...p, norms: false }) as estypes.MappingProperty) }),
  /** The proposal before it went into the template: azure.* duplicates of ECS fields in _source only, no norms on the text catch-all, no doc values on filter-only keywords. */
  'x-lean': (v) => {
    const dup = ['azure.operationName', 'azure.resultType', 'azure.identity.tid', 'azure.identity.upn', 'azure.properties.vault', 'azure.properties.collection', 'azure.properties.objectName', 'azure.properties.objectVersion'];
    const filterOnly = ['keyledger.hash', 'keyledger.correlation_id', 'keyledger.object.id', 'url.original', 'user_agent.original', 'source.address', 'keyledger.applied_assignment_id'];
    const m = withProps(withProps(withProps(v.mappings, dup, off), ['keyledger.text'], (p) => ({ ...p, norms: false }) as estypes.MappingProperty), filterOnly, (p) => ({ ...p, doc_values: false }) as estypes.MappingProperty);
    return { mappings: m };
  },
  /** Refreshes half as often (the 1 s search promise needs 250 ms; shown for scale). */
  'x-refresh-500ms': (v) => ({ settings: { ...v.settings, refresh_interval: '500ms' } }),
  /** Merges less eagerly: more segments per tier. */
  'x-merge-lazy': (v) => ({ settings: { ...v.settings, 'merge.policy.segments_per_tier': 30, 'merge.policy.max_merge_at_once': 30 } }),
  /** Bulks twice as big at the same rate (the indexer lingering 100 ms instead of 50). */
  'x-bulk-double': () => ({ bulk: BULK * 2 }),
  /** Ids chosen by Elasticsearch (no version lookup per document): what idempotent replays by record id cost; not an option. */
  'x-auto-ids': () => ({ autoIds: true }),
  /** Documents without the `azure` record (what the document's size costs; not an option: the record is what the API returns). */
  'x-ecs-only': () => ({ ecsOnly: true }),
  /** Twice the rate in bulks twice as big (what costs per second rather than per record). */
  'x-rate-double': () => ({ rate: RATE * 2, bulk: BULK * 2 }),
  /** Stored fields compressed harder (bytes against CPU). */
  'x-best-compression': (v) => ({ settings: { ...v.settings, codec: 'best_compression' } }),
};

/** Records shaped like the vault's and crypto's (operation-audit.ts): mostly secret reads by a few apps, some writes, signs, refusals. */
function sampleRecord(i: number): AuditRecord {
  const app = `2966c8e5-2fd9-419a-8c80-${String(i % 8).padStart(12, '0')}`;
  const name = `db-password-${i % 50}`;
  const version = (i % 50).toString(16).padStart(32, 'a');
  const kind = i % 20;
  const denied = kind === 19;
  const sign = kind === 18;
  const write = kind >= 16 && kind < 18;
  const collection = sign ? 'keys' : 'secrets';
  const op = sign ? 'KeySign' : write ? 'SecretSet' : 'SecretGet';
  const uri = `https://dev.vault.localhost:8443/${collection}/${name}${sign ? `/${version}/sign` : write ? '' : `/${version}`}?api-version=7.6`;
  return newAuditRecord({
    tenant: 'tenant-cost',
    source: 'vault',
    resourceId: '/vaults/dev',
    operationName: op,
    operationVersion: '7.6',
    resultType: denied ? 'Failure' : 'Success',
    resultSignature: denied ? '403' : '200',
    ...(denied ? { resultDescription: 'Forbidden' } : {}),
    durationMs: 1 + (i % 7),
    callerIpAddress: '::ffff:127.0.0.1',
    correlationId: randomUUID(),
    identity: { oid: `0b5c2c4e-8f0a-4c51-9a43-${String(i % 8).padStart(12, '0')}`, appid: app, tid: 'tenant-cost', idtyp: 'app' },
    properties: {
      requestUri: uri,
      httpMethod: write ? 'PUT' : sign ? 'POST' : 'GET',
      ...(denied ? {} : { id: `https://dev.vault.localhost:8443/${collection}/${name}/${version}` }),
      isRbacAuthorized: true,
      ...(denied ? { errorCode: 'Forbidden' } : { appliedAssignmentId: '11111111-1111-4111-8111-111111111111' }),
      clientInfo: 'azsdk-js-keyvault-secrets/4.10.0 core-rest-pipeline/1.22.2 Node/20.20.2 OS/(x64-Linux-6.18.44)',
      vault: 'dev',
      collection,
      objectName: name,
      ...(write || denied ? {} : { objectVersion: version }),
      ...(sign ? { algorithm: 'RS256' } : {}),
      tlsVersion: 'TLSv1.3',
    },
  });
}

type Measured = { cpuUsPerRecord: number; bytesPerRecord: number; bytesPerRecordMerged: number; records: number; seconds: number };

async function measure(es: ReturnType<typeof testEs>, v: Variant, round: number): Promise<Measured> {
  const index = `${PREFIX}-${v.name}-${round}-${randomBytes(3).toString('hex')}`;
  await es.indices.create({ index, settings: v.settings, mappings: v.mappings, wait_for_active_shards: 1 });
  const home = keyledgerHome();
  let seq = 0;
  const bulkOf = (n: number): string => {
    const lines: string[] = [];
    for (let k = 0; k < n; k++) {
      seq++;
      const record = sampleRecord(seq);
      const at = { chain: 'tenant-cost', seq, hash: randomBytes(32).toString('hex'), appendedAt: new Date().toISOString() };
      const [action, doc] = bulkIndexLines(index, { ...at, recordId: record.id, record: canonicalJson(record) }, v.build);
      lines.push(v.autoIds ? `{"index":{"_index":${JSON.stringify(index)}}}` : action, v.ecsOnly ? `${doc.slice(0, doc.indexOf(',"azure":'))}}` : doc);
    }
    return `${lines.join('\n')}\n`;
  };
  const send = async (body: string): Promise<void> => {
    const res = await es.transport.request<estypes.BulkResponse>({ method: 'POST', path: '/_bulk', bulkBody: body });
    if (res.errors) throw new Error(`bulk refused: ${JSON.stringify(res.items.find((it) => it.index?.error)?.index?.error)}`);
  };
  try {
    const size = v.bulk ?? BULK;
    await send(bulkOf(size)); // the index's first segment and mappings exist before the clock runs
    await sleep(500);
    const rate = v.rate ?? RATE;
    const bulks = Math.round((rate * SECONDS) / size);
    const everyMs = (size * 1000) / rate;
    const before = cpuSnapshot(home).elasticsearch;
    const started = performance.now();
    const inFlight: Promise<void>[] = [];
    for (let b = 0; b < bulks; b++) {
      const due = started + b * everyMs;
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      inFlight.push(send(bulkOf(size)));
      if (inFlight.length >= 4) await inFlight.shift();
    }
    await Promise.all(inFlight);
    const seconds = (performance.now() - started) / 1000;
    await sleep(TAIL_MS);
    const after = cpuSnapshot(home).elasticsearch;
    const records = bulks * size;
    await es.indices.flush({ index });
    const stats = await es.indices.stats({ index, metric: ['store', 'docs'] });
    const total = stats.indices?.[index]?.primaries;
    const docs = total?.docs?.count ?? 0;
    const bytes = total?.store?.size_in_bytes ?? 0;
    await es.indices.forcemerge({ index, max_num_segments: 1 });
    const merged = (await es.indices.stats({ index, metric: ['store'] })).indices?.[index]?.primaries?.store?.size_in_bytes ?? 0;
    return { cpuUsPerRecord: Math.round(((after - before) * 1e6) / records), bytesPerRecord: Math.round(bytes / docs), bytesPerRecordMerged: Math.round(merged / docs), records, seconds: Math.round(seconds * 10) / 10 };
  } finally {
    await es.indices.delete({ index }).catch(() => undefined);
  }
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : Math.round((s[m - 1]! + s[m]!) / 2);
};

async function main(): Promise<void> {
  const all = await variants();
  const names = (process.env.COST_VARIANTS ?? (all.has('baseline') ? 'baseline,current' : 'current')).split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) if (!all.has(n)) throw new Error(`unknown variant ${n}; known: ${[...all.keys()].join(', ')}`);
  const es = testEs();
  const stale = Object.keys(await es.indices.get({ index: `${PREFIX}-*`, allow_no_indices: true, expand_wildcards: 'all' }));
  for (const i of stale) await es.indices.delete({ index: i });
  const sample = bulkIndexLines('x', { chain: 'c', seq: 1, hash: '0'.repeat(64), appendedAt: new Date().toISOString(), recordId: 'r', record: canonicalJson(sampleRecord(1)) })[1];
  log(`rate ${RATE}/s, bulks of ${BULK}, ${SECONDS} s per variant and round, ${ROUNDS} rounds; document ~${Buffer.byteLength(sample)} bytes`);
  const idleBefore = cpuSnapshot(keyledgerHome()).elasticsearch;
  await sleep(2_000);
  log(`Elasticsearch idle: ${Math.round(((cpuSnapshot(keyledgerHome()).elasticsearch - idleBefore) * 1000) / 2)} ms CPU/s`);
  const results = new Map<string, Measured[]>(names.map((n) => [n, []]));
  for (let round = 0; round < ROUNDS; round++) {
    // Rotate the order each round: no variant always runs first or last.
    const order = names.map((_, k) => names[(k + round) % names.length]!);
    for (const n of order) {
      const m = await measure(es, all.get(n)!, round).catch((err: unknown) => {
        log(`round ${round + 1} ${n}: failed: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      });
      if (!m) continue;
      results.get(n)!.push(m);
      log(`round ${round + 1} ${n.padEnd(20)} ${String(m.cpuUsPerRecord).padStart(5)} µs/record  ${m.bytesPerRecord} B/record (${m.bytesPerRecordMerged} merged)  ${m.records} records in ${m.seconds} s`);
    }
  }
  const summary = Object.fromEntries(
    [...results].filter(([, ms]) => ms.length > 0).map(([n, ms]) => [n, { cpuUsPerRecordMedian: median(ms.map((m) => m.cpuUsPerRecord)), cpuUsPerRecord: ms.map((m) => m.cpuUsPerRecord), bytesPerRecord: median(ms.map((m) => m.bytesPerRecord)), bytesPerRecordMerged: median(ms.map((m) => m.bytesPerRecordMerged)) }]),
  );
  process.stdout.write(`${JSON.stringify({ rate: RATE, bulk: BULK, seconds: SECONDS, rounds: ROUNDS, variants: summary }, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`audit-index-cost: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
