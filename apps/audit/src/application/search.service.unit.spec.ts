import { describe, expect, it } from '@jest/globals';
import type { Client as EsClient } from '@elastic/elasticsearch';
import { DomainError } from '#libs/kernel';
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
