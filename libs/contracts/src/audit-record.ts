import { createHmac, randomUUID } from 'node:crypto';

/**
 * Audit record contract v1 — Azure's AuditEvent fields. Published on
 * `keyledger.audit.records.v1`. Never carries secret values, key material, plaintext,
 * ciphertext, digests, tokens or client secrets; anything that must stay matchable but
 * is sensitive goes through `hmacField` with the deployment salt.
 */
export type AuditIdentity = {
  readonly oid?: string;
  readonly appid?: string;
  readonly tid?: string;
  readonly upn?: string;
  readonly idtyp?: string;
};

export type AuditProperties = {
  readonly requestUri?: string;
  readonly httpMethod?: string;
  /** Object id (for example https://dev.vault.localhost:8443/secrets/name/version). */
  readonly id?: string;
  readonly algorithm?: string;
  readonly isRbacAuthorized?: boolean;
  readonly appliedAssignmentId?: string;
  readonly clientInfo?: string;
  readonly tlsVersion?: string;
  readonly errorCode?: string;
  readonly vault?: string;
  readonly collection?: string;
  readonly objectName?: string;
  readonly objectVersion?: string;
  /** Free-form, non-sensitive, string values only. */
  readonly extra?: Readonly<Record<string, string>>;
};

export type AuditResultType = 'Success' | 'Failure';

export type AuditRecordV1 = {
  readonly schemaVersion: 1;
  readonly id: string;
  readonly time: string;
  readonly tenant: string;
  readonly source: string;
  readonly resourceId: string;
  readonly operationName: string;
  readonly operationVersion: string;
  readonly category: 'AuditEvent';
  readonly resultType: AuditResultType;
  /** HTTP status code as a string ("200", "403"), or a gRPC status name. */
  readonly resultSignature: string;
  readonly resultDescription?: string;
  readonly durationMs: number;
  readonly callerIpAddress: string;
  readonly correlationId: string;
  readonly identity: AuditIdentity;
  readonly properties: AuditProperties;
};

export type AuditRecord = AuditRecordV1;

/** HMAC-SHA256 with the deployment salt: matchable across records, useless to a reader. */
export function hmacField(salt: string | Buffer, value: string): string {
  return `hmac-sha256:${createHmac('sha256', salt).update(value, 'utf8').digest('hex')}`;
}

const FORBIDDEN_KEYS = /^(value|secret|password|token|access_token|client_secret|client_assertion|plaintext|ciphertext|digest|key_material|k|d|p|q|dp|dq|qi)$/i;

/** Defence in depth: refuses a record whose properties look like they carry sensitive fields. */
export function assertAuditSafe(record: AuditRecord): void {
  const walk = (o: unknown, path: string): void => {
    if (typeof o !== 'object' || o === null) return;
    for (const [k, v] of Object.entries(o)) {
      if (FORBIDDEN_KEYS.test(k)) throw new Error(`audit record field "${path}${k}" is not allowed`);
      walk(v, `${path}${k}.`);
    }
  };
  walk(record.properties, 'properties.');
  walk(record.identity, 'identity.');
}

export type AuditInput = Omit<AuditRecordV1, 'schemaVersion' | 'id' | 'time' | 'category'> & { readonly id?: string; readonly time?: string };

/** Fills the fixed fields of a v1 record. */
export function newAuditRecord(input: AuditInput): AuditRecordV1 {
  return { schemaVersion: 1, category: 'AuditEvent', id: input.id ?? randomUUID(), time: input.time ?? new Date().toISOString(), ...input } as AuditRecordV1;
}
