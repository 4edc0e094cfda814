import type { AuditRecord } from '#libs/contracts';

/**
 * Defence in depth on the consuming side: producers already refuse records carrying sensitive
 * fields (`assertAuditSafe` in libs/contracts); should one get through anyway, the ledger
 * keeps the record (dropping an audit record would be worse) without those fields, and lists
 * their paths in `properties.extra.redactedFields`. Same field names as the producer check.
 */
const SENSITIVE_KEYS = /^(value|secret|password|token|access_token|client_secret|client_assertion|plaintext|ciphertext|digest|key_material|k|d|p|q|dp|dq|qi)$/i;

/** Whether any member name at any depth is a sensitive one (no copy: the common case). */
function hasSensitiveKey(o: unknown): boolean {
  if (typeof o !== 'object' || o === null) return false;
  if (Array.isArray(o)) return o.some(hasSensitiveKey);
  for (const k in o) {
    if (!Object.prototype.hasOwnProperty.call(o, k)) continue;
    if (SENSITIVE_KEYS.test(k) || hasSensitiveKey((o as Record<string, unknown>)[k])) return true;
  }
  return false;
}

export function redactRecord(record: AuditRecord): { readonly record: AuditRecord; readonly redacted: readonly string[] } {
  if (!hasSensitiveKey(record.properties) && !hasSensitiveKey(record.identity)) return { record, redacted: [] };
  const redacted: string[] = [];
  const walk = (o: unknown, path: string): unknown => {
    if (typeof o !== 'object' || o === null) return o;
    if (Array.isArray(o)) return o.map((v, i) => walk(v, `${path}[${i}]`));
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) {
      if (SENSITIVE_KEYS.test(k)) redacted.push(`${path}${k}`);
      else out[k] = walk(v, `${path}${k}.`);
    }
    return out;
  };
  const properties = walk(record.properties ?? {}, 'properties.') as AuditRecord['properties'];
  const identity = walk(record.identity ?? {}, 'identity.') as AuditRecord['identity'];
  if (redacted.length === 0) return { record, redacted };
  const extra = { ...(typeof properties.extra === 'object' && properties.extra !== null ? properties.extra : {}), redactedFields: redacted.join(',').slice(0, 1024) };
  return { record: { ...record, properties: { ...properties, extra }, identity }, redacted };
}

const RESULT_TYPES = new Set(['Success', 'Failure']);

/** Checks an audit record v1 taken from Kafka; returns the problems (field names only, never values). */
export function auditRecordProblems(data: unknown): string[] {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return ['record is not an object'];
  const r = data as Record<string, unknown>;
  const problems: string[] = [];
  const str = (k: string, max = 2048, optional = false): void => {
    const v = r[k];
    if (v === undefined && optional) return;
    if (typeof v !== 'string' || (v.length === 0 && !optional) || v.length > max) problems.push(`${k} must be a string of at most ${max} characters`);
  };
  if (r['schemaVersion'] !== 1) problems.push('schemaVersion must be 1');
  str('id', 200);
  str('time', 64);
  if (typeof r['time'] === 'string' && Number.isNaN(Date.parse(r['time']))) problems.push('time is not a date');
  str('tenant', 200);
  str('source', 100);
  if (typeof r['resourceId'] !== 'string') problems.push('resourceId must be a string');
  str('operationName', 200);
  if (typeof r['operationVersion'] !== 'string') problems.push('operationVersion must be a string');
  if (!RESULT_TYPES.has(String(r['resultType']))) problems.push('resultType must be Success or Failure');
  if (typeof r['resultSignature'] !== 'string') problems.push('resultSignature must be a string');
  if (typeof r['durationMs'] !== 'number' || !Number.isFinite(r['durationMs'])) problems.push('durationMs must be a number');
  if (typeof r['callerIpAddress'] !== 'string') problems.push('callerIpAddress must be a string');
  if (typeof r['correlationId'] !== 'string') problems.push('correlationId must be a string');
  for (const k of ['identity', 'properties']) if (typeof r[k] !== 'object' || r[k] === null || Array.isArray(r[k])) problems.push(`${k} must be an object`);
  return problems;
}
