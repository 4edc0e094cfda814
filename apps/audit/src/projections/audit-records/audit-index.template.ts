import type { estypes } from '@elastic/elasticsearch';

/**
 * The composable index template of the audit-record indices `<alias>-v<generation>-YYYY.MM`:
 * a settings component and an ECS mappings component, composed by one index template.
 * `dynamic: false` keeps unknown fields in `_source` without mapping them, so a new record
 * property can never break indexing or explode the mapping. Everything a query, the API or a
 * Kibana saved object uses is mapped explicitly here.
 */
const keyword: estypes.MappingProperty = { type: 'keyword', ignore_above: 1024 };
/** Kept in `_source` (the record as received) but not indexed: it duplicates an ECS field above. */
const stored: estypes.MappingProperty = { type: 'keyword', index: false, doc_values: false };
const storedLong: estypes.MappingProperty = { type: 'long', index: false, doc_values: false };

/**
 * A keyword that is also copied into the free-text catch-all `keyledger.text`. Only the fields
 * people type free text about (operation, reason, URL, error, object, caller, correlation id):
 * every copy costs indexing time at thousands of records a second.
 */
const searchable = (): estypes.MappingProperty => ({ type: 'keyword', ignore_above: 1024, copy_to: ['keyledger.text'] });
/**
 * Indexed without doc values: found by term/prefix filters, never sorted or aggregated on — a
 * value (nearly) unique per record, where a terms aggregation means nothing. Doc values of
 * such fields are most of what the index keeps per record besides `_source`
 * (test/bench/audit-index-cost.ts: ~13% fewer bytes per record; CPU unchanged within noise).
 */
const filterOnly: estypes.MappingProperty = { type: 'keyword', ignore_above: 1024, doc_values: false };

/**
 * The mapping's version, kept in each index's mapping `_meta.mapping_version` (indices without
 * it: version 1). A mapping change reaches new indices only — the next month's, or every index
 * of a rebuild (`keyledger audit reindex`); an index keeps the mapping it was created with.
 */
export const AUDIT_MAPPING_VERSION = 2;

export const AUDIT_MAPPINGS: estypes.MappingTypeMapping = {
  _meta: { mapping_version: AUDIT_MAPPING_VERSION },
  dynamic: false,
  date_detection: false,
  properties: {
    '@timestamp': { type: 'date' },
    event: {
      properties: {
        id: keyword,
        action: searchable(),
        kind: keyword,
        category: keyword,
        type: keyword,
        outcome: keyword,
        duration: { type: 'long' },
        ingested: { type: 'date' },
        provider: keyword,
        dataset: keyword,
        module: keyword,
        reason: searchable(),
      },
    },
    user: { properties: { id: searchable(), name: keyword, domain: keyword } },
    source: { properties: { ip: { type: 'ip', ignore_malformed: true }, address: keyword } },
    http: { properties: { request: { properties: { method: keyword } }, response: { properties: { status_code: { type: 'long' } } } } },
    url: { properties: { original: { ...searchable(), doc_values: false } as estypes.MappingProperty } },
    user_agent: { properties: { original: keyword } },
    tls: { properties: { version: keyword } },
    error: { properties: { code: searchable() } },
    service: { properties: { name: keyword } },
    keyledger: {
      properties: {
        tenant: keyword,
        chain: keyword,
        seq: { type: 'long' },
        hash: filterOnly,
        correlation_id: { ...searchable(), doc_values: false } as estypes.MappingProperty,
        vault: keyword,
        object: {
          properties: {
            kind: keyword,
            collection: keyword,
            name: keyword,
            version: keyword,
            ref: searchable(),
            id: filterOnly,
          },
        },
        algorithm: keyword,
        is_rbac_authorized: { type: 'boolean' },
        applied_assignment_id: keyword,
        /** Catch-all for free-text search (filled by copy_to, not in _source). */
        text: { type: 'text' },
      },
    },
    // The Azure AuditEvent record as received. Fields that duplicate an ECS field are kept in
    // _source only (search those through their ECS name); the rest is indexed.
    azure: {
      properties: {
        schemaVersion: { type: 'integer', index: false, doc_values: false },
        id: stored,
        time: { type: 'date', index: false, doc_values: false },
        tenant: stored,
        source: stored,
        resourceId: keyword,
        operationName: keyword,
        operationVersion: keyword,
        category: stored,
        resultType: keyword,
        resultSignature: keyword,
        resultDescription: stored,
        durationMs: storedLong,
        callerIpAddress: stored,
        correlationId: stored,
        identity: { properties: { oid: keyword, appid: keyword, tid: keyword, upn: keyword, idtyp: keyword } },
        properties: {
          properties: {
            requestUri: stored,
            httpMethod: stored,
            id: stored,
            algorithm: stored,
            isRbacAuthorized: { type: 'boolean', index: false, doc_values: false },
            appliedAssignmentId: stored,
            clientInfo: stored,
            tlsVersion: stored,
            errorCode: stored,
            vault: keyword,
            collection: keyword,
            objectName: keyword,
            objectVersion: keyword,
            extra: { type: 'flattened' },
          },
        },
      },
    },
  },
};

export type AuditTemplateOptions = {
  /** Alias readers query; indices are `<alias>-v<generation>-YYYY.MM`. */
  readonly alias: string;
  readonly refreshInterval: string;
  readonly replicas: number;
  /**
   * `async`: the translog is fsynced every `translogSyncInterval` instead of before each bulk
   * answer (default `request`). The index is a projection of the ledger: the indexer moves its
   * progress only past operations older than a sync, and replays from there when Elasticsearch
   * lost acknowledged operations (see AuditRecordsIndexer).
   */
  readonly translogDurability?: 'request' | 'async';
  readonly translogSyncInterval?: string;
};

export const auditIndexPattern = (alias: string): string => `${alias}-v*`;

export function auditComponentTemplates(o: AuditTemplateOptions): { name: string; template: estypes.IndicesIndexState }[] {
  return [
    {
      name: `${o.alias}@settings`,
      template: { settings: { number_of_shards: 1, number_of_replicas: o.replicas, 'mapping.total_fields.limit': 2000, ...auditDynamicSettings(o) } as estypes.IndicesIndexSettings },
    },
    { name: `${o.alias}@mappings`, template: { mappings: AUDIT_MAPPINGS } },
  ];
}

/** The settings an existing index takes without reopening: applied to the live indices at start too. */
export function auditDynamicSettings(o: AuditTemplateOptions): Record<string, string> {
  return {
    refresh_interval: o.refreshInterval,
    'translog.durability': o.translogDurability ?? 'request',
    ...(o.translogDurability === 'async' ? { 'translog.sync_interval': o.translogSyncInterval ?? '1s' } : {}),
  };
}

export function auditIndexTemplate(o: AuditTemplateOptions): estypes.IndicesPutIndexTemplateRequest {
  return {
    name: o.alias,
    index_patterns: [auditIndexPattern(o.alias)],
    composed_of: auditComponentTemplates(o).map((c) => c.name),
    priority: 200,
    _meta: { managed_by: 'keyledger-audit', description: 'Keyledger audit records (ECS + azure.*)' },
  };
}

/**
 * Every mapped field path, e.g. `event.action`, `azure.properties.extra` (objects are not
 * listed), with its type; `<type>:stored` for fields kept in _source but not indexed (not
 * searchable, not aggregatable); `<type>:filter-only` for fields indexed without doc values
 * (searchable, but neither sortable nor aggregatable).
 */
export function mappedFields(mapping: estypes.MappingTypeMapping = AUDIT_MAPPINGS): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (props: Record<string, estypes.MappingProperty>, prefix: string): void => {
    for (const [name, p] of Object.entries(props)) {
      const path = `${prefix}${name}`;
      const sub = (p as { properties?: Record<string, estypes.MappingProperty> }).properties;
      if (sub) walk(sub, `${path}.`);
      else {
        const type = (p as { type?: string }).type ?? 'object';
        const { index, doc_values: docValues } = p as { index?: boolean; doc_values?: boolean };
        out.set(path, index === false ? `${type}:stored` : docValues === false ? `${type}:filter-only` : type);
      }
    }
  };
  walk(mapping.properties ?? {}, '');
  return out;
}
