import { describe, expect, it } from '@jest/globals';
import type { Client as EsClient } from '@elastic/elasticsearch';
import { DomainError } from '#libs/kernel';
import { mappedFields } from '../projections/audit-records/audit-index.template.js';
import { AuditSearchService, CRYPTO_STEP_OF_A_REQUEST, type UsageQuery } from './search.service.js';

// The usage request the service sends to Elasticsearch, and how it reads the answer (a stub client).
type Request = { query: { bool: { filter: unknown[]; must_not?: unknown[] } }; aggs: Record<string, { date_histogram?: { fixed_interval: string; min_doc_count: number; extended_bounds: { min: number; max: number } } }> };

function service(answer: Record<string, unknown>): { svc: AuditSearchService; sent: Request[] } {
  const sent: Request[] = [];
  const es = { search: async (req: Request) => (sent.push(req), answer) } as unknown as EsClient;
  return { svc: new AuditSearchService(es, 'keyledger-audit', 'keyledger-objects'), sent };
}

const outcome = (success: number, failure: number) => ({ buckets: [{ key: 'success', doc_count: success }, ...(failure ? [{ key: 'failure', doc_count: failure }] : [])] });
const from = new Date('2026-12-07T10:00:00.000Z');
const to = new Date('2026-12-07T10:05:00.000Z');
const base: UsageQuery = { tenant: 't1', by: ['operation'], size: 10, from, to, object: 'dev/keys/k' };

describe('usage: each operation once, and over time', () => {
  it('leaves out the crypto service\'s step of a vault request unless a service is named', async () => {
    const { svc, sent } = service({ hits: { total: { value: 0 } }, aggregations: {} });
    expect((await svc.usage(base)).counting).toBe('operations');
    expect(sent[0]!.query.bool.must_not).toEqual([CRYPTO_STEP_OF_A_REQUEST]);
    expect((await svc.usage({ ...base, service: 'crypto' })).counting).toBe('records');
    expect(sent[1]!.query.bool.must_not).toBeUndefined();
  });

  it('asks for a date histogram over the whole window (empty buckets too) and reads it with failures apart', async () => {
    const { svc, sent } = service({
      hits: { total: { value: 4 } },
      aggregations: {
        operation: { buckets: [{ key: 'KeySign', doc_count: 4, outcome: outcome(3, 1), last: { value: Date.parse('2026-12-07T10:03:10Z') } }] },
        overTime: { buckets: [0, 1, 2, 3, 4, 5].map((m) => ({ key: from.getTime() + m * 60_000, doc_count: m === 3 ? 4 : 0, outcome: m === 3 ? outcome(3, 1) : { buckets: [] } })) },
      },
    });
    const report = await svc.usage({ ...base, intervalMs: 60_000 });
    expect(sent[0]!.aggs['overTime']!.date_histogram).toEqual({ field: '@timestamp', fixed_interval: '60000ms', min_doc_count: 0, extended_bounds: { min: from.getTime(), max: to.getTime() } });
    expect(report.intervalMs).toBe(60_000);
    expect(report.overTime).toHaveLength(6);
    expect(report.overTime![3]).toEqual({ time: '2026-12-07T10:03:00.000Z', count: 4, success: 3, failure: 1 });
    expect(report.overTime![0]).toEqual({ time: '2026-12-07T10:00:00.000Z', count: 0, success: 0, failure: 0 });
    expect(report.byOperation).toEqual([{ key: 'KeySign', count: 4, success: 3, failure: 1, lastAt: '2026-12-07T10:03:10.000Z' }]);
  });

  it('refuses an interval that would make too many buckets, before asking Elasticsearch', async () => {
    const { svc, sent } = service({ hits: { total: { value: 0 } } });
    await expect(svc.usage({ ...base, from: new Date(to.getTime() - 7 * 86_400_000), intervalMs: 60_000 })).rejects.toThrow(DomainError);
    expect(sent).toHaveLength(0);
  });
});

/** Fields a request names: in its query (must be indexed), and in its sort and aggregations (must have doc values). */
function fieldsOf(req: Record<string, unknown>): { searched: Set<string>; sortedOrAggregated: Set<string> } {
  const searched = new Set<string>();
  const sortedOrAggregated = new Set<string>();
  const walkQuery = (q: unknown): void => {
    if (Array.isArray(q)) return q.forEach(walkQuery);
    if (typeof q !== 'object' || q === null) return;
    for (const [k, v] of Object.entries(q)) {
      if (['term', 'terms', 'prefix', 'range', 'wildcard', 'match'].includes(k)) for (const f of Object.keys(v as object)) searched.add(f);
      else if (k === 'simple_query_string') for (const f of (v as { fields: string[] }).fields) searched.add(f);
      else walkQuery(v);
    }
  };
  const walkAggs = (aggs: unknown): void => {
    for (const agg of Object.values((aggs ?? {}) as Record<string, Record<string, unknown>>)) {
      for (const [k, v] of Object.entries(agg)) {
        if (k === 'aggs') walkAggs(v);
        else if (typeof v === 'object' && v !== null && 'field' in v) sortedOrAggregated.add(String((v as { field: string }).field));
      }
    }
  };
  walkQuery(req['query']);
  walkAggs(req['aggs']);
  for (const s of (req['sort'] ?? []) as Record<string, unknown>[]) for (const f of Object.keys(s)) sortedOrAggregated.add(f);
  return { searched, sortedOrAggregated };
}

describe('the audit index mapping serves every query the service sends', () => {
  it('indexes every field searches and usage filter on, and keeps doc values for every sort and aggregation', async () => {
    const sent: Record<string, unknown>[] = [];
    const es = { search: async (req: Record<string, unknown>) => (sent.push(req), { hits: { total: { value: 0 }, hits: [] }, aggregations: {} }) } as unknown as EsClient;
    const svc = new AuditSearchService(es, 'keyledger-audit', 'keyledger-objects');
    const filters = { tenant: 't1', object: 'https://dev.vault.localhost/keys/k', principal: 'p', operation: 'KeySign', outcome: 'failure' as const, vault: 'dev', service: 'vault', from, to };
    await svc.search({ ...filters, text: 'db-password', pageSize: 10, order: 'desc' });
    await svc.usage({ ...filters, service: undefined, by: ['key', 'principal', 'operation', 'algorithm'], size: 10, collection: 'keys', intervalMs: 60_000 });
    const fields = mappedFields();
    const searched = new Set<string>();
    const sortedOrAggregated = new Set<string>();
    for (const req of sent) {
      const f = fieldsOf(req);
      f.searched.forEach((x) => searched.add(x));
      f.sortedOrAggregated.forEach((x) => sortedOrAggregated.add(x));
    }
    expect(searched.size).toBeGreaterThanOrEqual(15);
    expect(sortedOrAggregated).toEqual(new Set(['@timestamp', 'event.id', 'event.outcome', 'keyledger.object.ref', 'user.id', 'event.action', 'keyledger.algorithm']));
    const notSearchable = [...searched].filter((f) => !fields.has(f) || fields.get(f)!.endsWith(':stored'));
    const noDocValues = [...sortedOrAggregated].filter((f) => !fields.has(f) || fields.get(f)!.includes(':'));
    expect({ notSearchable, noDocValues }).toEqual({ notSearchable: [], noDocValues: [] });
  });
});
