import type { AuditRecord } from '#libs/contracts';
import { collectionOfKind, objectRefKey, objectRefOfRecord } from './object-ref.js';

/**
 * The search document of one audit record: Elastic Common Schema names (`@timestamp`,
 * `event.*`, `user.*`, `source.ip`, `http.*`, `url.original`, …) so Kibana users feel at home,
 * Keyledger's own fields under `keyledger.*` (tenant, chain position, object), and the Azure
 * AuditEvent record unchanged under `azure.*`. Built in the service, indexed whole.
 */
export type AuditDocument = {
  readonly '@timestamp': string;
  readonly event: {
    readonly id: string;
    readonly action: string;
    readonly kind: 'event';
    readonly category: readonly string[];
    readonly type: readonly string[];
    readonly outcome: 'success' | 'failure';
    /** Nanoseconds (ECS). */
    readonly duration: number;
    readonly ingested: string;
    readonly provider: string;
    readonly dataset: 'keyledger.audit';
    readonly module: 'keyledger';
    readonly reason?: string;
  };
  readonly user?: { readonly id?: string; readonly name?: string; readonly domain?: string };
  readonly source?: { readonly ip?: string; readonly address: string };
  readonly http?: { readonly request?: { readonly method: string }; readonly response?: { readonly status_code: number } };
  readonly url?: { readonly original: string };
  readonly user_agent?: { readonly original: string };
  readonly tls?: { readonly version: string };
  readonly error?: { readonly code: string };
  readonly service: { readonly name: string };
  readonly keyledger: {
    readonly tenant: string;
    readonly chain: string;
    readonly seq: number;
    readonly hash: string;
    readonly correlation_id: string;
    readonly vault?: string;
    readonly object?: { readonly kind: string; readonly collection?: string; readonly name: string; readonly version?: string; readonly ref: string; readonly id?: string };
    readonly algorithm?: string;
    readonly is_rbac_authorized?: boolean;
    readonly applied_assignment_id?: string;
  };
  readonly azure: AuditRecord;
};

export type LedgerPosition = { readonly chain: string; readonly seq: number; readonly hash: string; readonly appendedAt: string };

const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

export function toAuditDocument(record: AuditRecord, at: LedgerPosition): AuditDocument {
  const p = record.properties ?? {};
  const id = record.identity ?? {};
  const ref = objectRefOfRecord(record);
  const status = /^\d{3}$/.test(record.resultSignature) ? Number(record.resultSignature) : undefined;
  const callerId = id.oid ?? id.appid;
  const ip = record.callerIpAddress ? (IPV4_MAPPED.exec(record.callerIpAddress)?.[1] ?? record.callerIpAddress) : undefined;
  const collection = ref ? collectionOfKind(ref.kind) : null;
  return {
    '@timestamp': record.time,
    event: {
      id: record.id,
      action: record.operationName,
      kind: 'event',
      category: [eventCategory(record)],
      type: eventTypes(record.operationName, status, record.resultType),
      outcome: record.resultType === 'Success' ? 'success' : 'failure',
      duration: Math.max(0, Math.round(record.durationMs * 1_000_000)),
      ingested: at.appendedAt,
      provider: record.source,
      dataset: 'keyledger.audit',
      module: 'keyledger',
      ...(record.resultDescription ? { reason: record.resultDescription } : {}),
    },
    ...(callerId || id.upn || id.tid ? { user: { ...(callerId ? { id: callerId } : {}), ...(id.upn ? { name: id.upn } : {}), ...(id.tid ? { domain: id.tid } : {}) } } : {}),
    ...(record.callerIpAddress ? { source: { ...(ip && looksLikeIp(ip) ? { ip } : {}), address: record.callerIpAddress } } : {}),
    ...(p.httpMethod || status !== undefined ? { http: { ...(p.httpMethod ? { request: { method: p.httpMethod } } : {}), ...(status !== undefined ? { response: { status_code: status } } : {}) } } : {}),
    ...(p.requestUri ? { url: { original: p.requestUri } } : {}),
    ...(p.clientInfo ? { user_agent: { original: p.clientInfo } } : {}),
    ...(p.tlsVersion ? { tls: { version: p.tlsVersion } } : {}),
    ...(p.errorCode ? { error: { code: p.errorCode } } : {}),
    service: { name: record.source },
    keyledger: {
      tenant: record.tenant,
      chain: at.chain,
      seq: at.seq,
      hash: at.hash,
      correlation_id: record.correlationId,
      ...(ref ? { vault: ref.vault } : p.vault ? { vault: p.vault.toLowerCase() } : {}),
      ...(ref
        ? { object: { kind: ref.kind, ...(collection ? { collection } : {}), name: ref.name, ...(ref.version ? { version: ref.version } : {}), ref: objectRefKey(ref), ...(p.id ? { id: p.id } : {}) } }
        : {}),
      ...(p.algorithm ? { algorithm: p.algorithm } : {}),
      ...(p.isRbacAuthorized !== undefined ? { is_rbac_authorized: p.isRbacAuthorized } : {}),
      ...(p.appliedAssignmentId ? { applied_assignment_id: p.appliedAssignmentId } : {}),
    },
    azure: record,
  };
}

function eventCategory(r: AuditRecord): string {
  if (r.operationName === 'Authentication') return 'authentication';
  if (r.source === 'identity') return 'iam';
  return 'api';
}

/** ECS event.type from the operation's verb and the answer. */
export function eventTypes(operation: string, status: number | undefined, result: AuditRecord['resultType']): string[] {
  const types: string[] = [];
  if (/(Get|List|Search|Query|Read|Backup|Verify|Stream|Show)/.test(operation)) types.push('access');
  else if (/(Delete|Purge|Revoke|Destroy)/.test(operation)) types.push('deletion');
  else if (/(Create|Set|Put|Import|Restore|Add)$/.test(operation) || /(Create|Import)/.test(operation)) types.push('creation');
  else if (/(Update|Patch|Rotate|Recover|Enable|Disable)/.test(operation)) types.push('change');
  else types.push('info');
  if (status === 401 || status === 403) types.push('denied');
  else if (result === 'Success') types.push('allowed');
  return types;
}

function looksLikeIp(s: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(s) || (s.includes(':') && /^[0-9a-fA-F:.]+$/.test(s));
}
