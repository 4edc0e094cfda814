import type { Client as EsClient, estypes } from '@elastic/elasticsearch';
import { DomainError } from '#libs/kernel';
import type { AuditDocument } from '../domain/audit-document.js';
import type { ObjectDocument } from '../projections/object-state/object-index.definition.js';

/** `*` = every tenant (deployment operators only). */
export type TenantScope = string;

export type RecordQuery = {
  readonly tenant: TenantScope;
  /** Object name, `vault/collection/name`, or an object id (URL). */
  readonly object?: string;
  /** Principal object id, app id or UPN. */
  readonly principal?: string;
  /** Operation name, e.g. SecretGet, Authentication. */
  readonly operation?: string;
  readonly outcome?: 'success' | 'failure';
  readonly vault?: string;
  /** Producing service: identity, vault, crypto, audit. */
  readonly service?: string;
  readonly from?: Date;
  readonly to?: Date;
  /** Free text over the searchable fields. */
  readonly text?: string;
  readonly pageSize: number;
  readonly order: 'asc' | 'desc';
  readonly continuationToken?: string;
};

export type RecordPage = { readonly value: readonly AuditDocument[]; readonly continuationToken: string | null; readonly total: number };

export type UsageDimension = 'key' | 'principal' | 'operation' | 'algorithm';

export type UsageQuery = Omit<RecordQuery, 'pageSize' | 'order' | 'continuationToken'> & {
  readonly by: readonly UsageDimension[];
  readonly size: number;
  /** Only objects of this collection (secrets, keys, certificates). */
  readonly collection?: string;
  /** Also a date histogram of the window in buckets of this many milliseconds. */
  readonly intervalMs?: number;
};

export type UsageBucket = { readonly key: string; readonly count: number; readonly success: number; readonly failure: number; readonly lastAt: string | null };
/** One bucket of the usage histogram: operations that started in [time, time + interval). */
export type UsageTimeBucket = { readonly time: string; readonly count: number; readonly success: number; readonly failure: number };

export type UsageReport = {
  readonly from: string | null;
  readonly to: string | null;
  readonly total: number;
  /** How operations are counted: `operations` (each request once) or `records` (every record of the named service). */
  readonly counting: 'operations' | 'records';
  /** The histogram's bucket width in milliseconds, when one was asked for. */
  readonly intervalMs?: number;
  readonly overTime?: readonly UsageTimeBucket[];
  readonly byKey?: readonly UsageBucket[];
  readonly byPrincipal?: readonly UsageBucket[];
  readonly byOperation?: readonly UsageBucket[];
  /** Cryptographic operations by algorithm (RS256, RSA-OAEP-256…). */
  readonly byAlgorithm?: readonly UsageBucket[];
};

/**
 * A request the vault answers that needs the crypto service leaves two records: the vault's
 * (the operation as the caller asked it: HTTP status, RBAC decision, the object as named) and
 * the crypto service's record of its step, which carries the same request URI (`url.original`,
 * https://…). Counting operations drops those crypto steps, so each operation counts once; the
 * crypto service's records without a request URI (checkpoint signing, the issuing CA, scheduled
 * work) are the only record of their operation and stay counted.
 */
export const CRYPTO_STEP_OF_A_REQUEST: estypes.QueryDslQueryContainer = { bool: { filter: [{ term: { 'service.name': 'crypto' } }, { prefix: { 'url.original': 'https://' } }] } };

/** Most buckets a usage histogram may have. */
export const MAX_HISTOGRAM_BUCKETS = 1_500;

const DIMENSION_FIELD: Readonly<Record<UsageDimension, string>> = { key: 'keyledger.object.ref', principal: 'user.id', operation: 'event.action', algorithm: 'keyledger.algorithm' };

/** Searches and aggregations over the audit alias (Elasticsearch), and object state over the objects alias. */
export class AuditSearchService {
  constructor(
    private readonly es: EsClient,
    private readonly alias: string,
    private readonly objectsAlias: string,
  ) {}

  async search(q: RecordQuery): Promise<RecordPage> {
    const after = q.continuationToken ? decodeToken(q.continuationToken) : undefined;
    const res = await this.es.search<AuditDocument>({
      index: this.alias,
      size: q.pageSize,
      query: { bool: { filter: this.filters(q), ...(q.text ? { must: [freeText(q.text)] } : {}) } },
      sort: [{ '@timestamp': { order: q.order } }, { 'event.id': { order: q.order } }],
      ...(after ? { search_after: after } : {}),
      track_total_hits: 10_000,
      ignore_unavailable: true,
      allow_no_indices: true,
    });
    const hits = res.hits.hits;
    const value = hits.map((h) => h._source!).filter(Boolean);
    const last = hits[hits.length - 1];
    const total = typeof res.hits.total === 'number' ? res.hits.total : (res.hits.total?.value ?? value.length);
    return { value, continuationToken: hits.length === q.pageSize && last?.sort ? encodeToken(last.sort) : null, total };
  }

  async usage(q: UsageQuery): Promise<UsageReport> {
    const filters = this.filters(q);
    if (q.collection) filters.push({ term: { 'keyledger.object.collection': q.collection.toLowerCase() } });
    // Naming a service counts that service's records as they are; otherwise each operation once.
    const counting = q.service ? 'records' : 'operations';
    const outcome: Record<string, estypes.AggregationsAggregationContainer> = { outcome: { terms: { field: 'event.outcome', size: 2 } } };
    const bucketAggs = (field: string): estypes.AggregationsAggregationContainer => ({
      terms: { field, size: q.size },
      aggs: { ...outcome, last: { max: { field: '@timestamp' } } },
    });
    const aggs: Record<string, estypes.AggregationsAggregationContainer> = {};
    for (const d of q.by) aggs[d] = bucketAggs(DIMENSION_FIELD[d]);
    if (q.intervalMs) {
      const to = q.to ?? new Date();
      const from = q.from ?? new Date(to.getTime() - q.intervalMs * 60);
      if ((to.getTime() - from.getTime()) / q.intervalMs > MAX_HISTOGRAM_BUCKETS) throw new DomainError('BadParameter', `"interval" makes more than ${MAX_HISTOGRAM_BUCKETS} buckets over this window; choose a wider one`);
      aggs['overTime'] = {
        date_histogram: { field: '@timestamp', fixed_interval: `${q.intervalMs}ms`, min_doc_count: 0, extended_bounds: { min: from.getTime(), max: to.getTime() } },
        aggs: outcome,
      };
    }
    const query: estypes.QueryDslQueryContainer = { bool: { filter: filters, ...(counting === 'operations' ? { must_not: [CRYPTO_STEP_OF_A_REQUEST] } : {}) } };
    const res = await this.es.search({ index: this.alias, size: 0, query, aggs, track_total_hits: true, ignore_unavailable: true, allow_no_indices: true });
    type Outcomes = { outcome: { buckets: { key: string; doc_count: number }[] } };
    const split = (b: Outcomes): { success: number; failure: number } => ({
      success: b.outcome.buckets.find((o) => o.key === 'success')?.doc_count ?? 0,
      failure: b.outcome.buckets.find((o) => o.key === 'failure')?.doc_count ?? 0,
    });
    const read = (name: string): UsageBucket[] => {
      const agg = (res.aggregations as Record<string, { buckets?: ({ key: string; doc_count: number; last: { value: number | null } } & Outcomes)[] }> | undefined)?.[name];
      return (agg?.buckets ?? []).map((b) => ({ key: String(b.key), count: b.doc_count, ...split(b), lastAt: b.last.value !== null ? new Date(b.last.value).toISOString() : null }));
    };
    const histogram = (): UsageTimeBucket[] => {
      const agg = (res.aggregations as Record<string, { buckets?: ({ key: number; doc_count: number } & Outcomes)[] }> | undefined)?.['overTime'];
      return (agg?.buckets ?? []).map((b) => ({ time: new Date(b.key).toISOString(), count: b.doc_count, ...split(b) }));
    };
    const total = typeof res.hits.total === 'number' ? res.hits.total : (res.hits.total?.value ?? 0);
    return {
      from: q.from?.toISOString() ?? null,
      to: q.to?.toISOString() ?? null,
      total,
      counting,
      ...(q.intervalMs ? { intervalMs: q.intervalMs, overTime: histogram() } : {}),
      ...(q.by.includes('key') ? { byKey: read('key') } : {}),
      ...(q.by.includes('principal') ? { byPrincipal: read('principal') } : {}),
      ...(q.by.includes('operation') ? { byOperation: read('operation') } : {}),
      ...(q.by.includes('algorithm') ? { byAlgorithm: read('algorithm') } : {}),
    };
  }

  async objects(q: { tenant: TenantScope; vault?: string; kind?: string; name?: string; status?: string; size: number }): Promise<ObjectDocument[]> {
    const filter: estypes.QueryDslQueryContainer[] = [];
    if (q.tenant !== '*') filter.push({ term: { tenant: q.tenant } });
    if (q.vault) filter.push({ term: { vault: q.vault.toLowerCase() } });
    if (q.kind) filter.push({ term: { kind: q.kind.toLowerCase().replace(/s$/, '') } });
    if (q.name) filter.push({ term: { name: q.name.toLowerCase() } });
    if (q.status) filter.push({ term: { status: q.status } });
    const res = await this.es.search<ObjectDocument>({ index: this.objectsAlias, size: q.size, query: { bool: { filter } }, sort: [{ ref: 'asc' }], ignore_unavailable: true, allow_no_indices: true });
    return res.hits.hits.map((h) => h._source!).filter(Boolean);
  }

  private filters(q: Omit<RecordQuery, 'pageSize' | 'order' | 'continuationToken'>): estypes.QueryDslQueryContainer[] {
    const f: estypes.QueryDslQueryContainer[] = [];
    if (q.tenant !== '*') f.push({ term: { 'keyledger.tenant': q.tenant } });
    if (q.object) {
      const o = q.object;
      f.push({
        bool: {
          minimum_should_match: 1,
          should: [
            { term: { 'keyledger.object.name': { value: o, case_insensitive: true } } },
            { term: { 'keyledger.object.ref': { value: o, case_insensitive: true } } },
            { term: { 'keyledger.object.id': { value: o } } },
            ...(o.startsWith('https://') ? [{ prefix: { 'keyledger.object.id': { value: o } } }] : []),
          ],
        },
      });
    }
    if (q.principal) {
      const p = q.principal;
      f.push({
        bool: {
          minimum_should_match: 1,
          should: [
            { term: { 'user.id': { value: p, case_insensitive: true } } },
            { term: { 'azure.identity.oid': { value: p, case_insensitive: true } } },
            { term: { 'azure.identity.appid': { value: p, case_insensitive: true } } },
            { term: { 'user.name': { value: p, case_insensitive: true } } },
          ],
        },
      });
    }
    if (q.operation) f.push({ term: { 'event.action': { value: q.operation, case_insensitive: true } } });
    if (q.outcome) f.push({ term: { 'event.outcome': q.outcome } });
    if (q.vault) f.push({ term: { 'keyledger.vault': { value: q.vault, case_insensitive: true } } });
    if (q.service) f.push({ term: { 'service.name': q.service } });
    if (q.from || q.to) f.push({ range: { '@timestamp': { ...(q.from ? { gte: q.from.toISOString() } : {}), ...(q.to ? { lte: q.to.toISOString() } : {}) } } });
    return f;
  }
}

function freeText(text: string): estypes.QueryDslQueryContainer {
  return { simple_query_string: { query: text, fields: ['keyledger.text'], default_operator: 'and', lenient: true } };
}

function encodeToken(sort: readonly unknown[]): string {
  return Buffer.from(JSON.stringify(sort), 'utf8').toString('base64url');
}

function decodeToken(token: string): estypes.SortResults {
  try {
    const v = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as unknown;
    if (Array.isArray(v) && v.length === 2 && v.every((x) => typeof x === 'string' || typeof x === 'number')) return v as estypes.SortResults;
  } catch {
    // fall through
  }
  throw new DomainError('BadParameter', 'continuationToken is not valid');
}
