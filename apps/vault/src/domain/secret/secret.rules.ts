import { badParameter } from '../vault.errors.js';

/**
 * Azure Key Vault's limits and input shapes for secrets (REST spec
 * `Security.KeyVault.Secrets`: SecretSetParameters, SecretUpdateParameters, SecretAttributes).
 * Pure: parses untrusted JSON into typed values or throws `BadParameter`. Messages never
 * echo a secret value.
 */
export const SECRET_NAME = /^[0-9a-zA-Z-]{1,127}$/;
export const SECRET_VERSION = /^[0-9a-f]{32}$/;
/** 25 KB, as Azure documents the largest secret value. */
export const MAX_SECRET_VALUE_BYTES = 25 * 1024;
export const MAX_CONTENT_TYPE_LENGTH = 255;
export const MAX_TAGS = 15;
export const MAX_TAG_LENGTH = 256;
/** Batch get (Keyledger extension): names per request. */
export const MAX_BATCH_NAMES = 25;

export type Tags = Readonly<Record<string, string>>;

/** The attributes a caller may set (created/updated/recoveryLevel are the service's). */
export type SecretAttributesInput = {
  readonly enabled?: boolean;
  /** Not before, unix seconds; null clears it. */
  readonly nbf?: number | null;
  /** Expires, unix seconds; null clears it. */
  readonly exp?: number | null;
};

export type SetSecretInput = {
  readonly value: string;
  readonly contentType: string | null;
  readonly tags: Tags | null;
  readonly attributes: SecretAttributesInput;
};

export type UpdateSecretInput = {
  readonly contentType?: string | null;
  readonly tags?: Tags | null;
  readonly attributes: SecretAttributesInput;
};

/** Azure compares names case-insensitively; the display name keeps the case of the first write. */
export const nameKey = (name: string): string => name.toLowerCase();

export function assertSecretName(name: string): string {
  if (!SECRET_NAME.test(name)) throw badParameter(`The request URI contains an invalid name: ${truncate(name, 160)}`, { reason: 'InvalidName' });
  return name;
}

export function assertSecretVersion(version: string): string {
  if (!SECRET_VERSION.test(version.toLowerCase())) throw badParameter(`The request URI contains an invalid version: ${truncate(version, 64)}`, { reason: 'InvalidVersion' });
  return version.toLowerCase();
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function truncate(s: string, max: number): string {
  return s.length > max ? `${s.slice(0, max)}…` : s;
}

function body(raw: unknown): Record<string, unknown> {
  if (raw === undefined || raw === null) throw badParameter('The request body is missing or is not a JSON object.', { reason: 'BodyMissing' });
  if (!isRecord(raw)) throw badParameter('The request body must be a JSON object.', { reason: 'BodyNotObject' });
  return raw;
}

export function parseContentType(raw: unknown): string | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'string') throw badParameter("Property 'contentType' must be a string.", { reason: 'ContentType' });
  if (raw.length > MAX_CONTENT_TYPE_LENGTH) {
    throw badParameter(`Property 'contentType' exceeds the maximum length of ${MAX_CONTENT_TYPE_LENGTH} characters.`, { reason: 'ContentType' });
  }
  return raw;
}

export function parseTags(raw: unknown): Tags | null {
  if (raw === undefined || raw === null) return null;
  if (!isRecord(raw)) throw badParameter("Property 'tags' must be an object of string values.", { reason: 'Tags' });
  const entries = Object.entries(raw);
  if (entries.length > MAX_TAGS) throw badParameter(`The number of tags (${entries.length}) exceeds the maximum of ${MAX_TAGS}.`, { reason: 'TooManyTags' });
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > MAX_TAG_LENGTH) throw badParameter(`Tag names must be 1 to ${MAX_TAG_LENGTH} characters.`, { reason: 'TagName' });
    if (typeof v !== 'string') throw badParameter(`The value of tag '${truncate(k, 64)}' must be a string.`, { reason: 'TagValue' });
    if (v.length > MAX_TAG_LENGTH) throw badParameter(`The value of tag '${truncate(k, 64)}' exceeds ${MAX_TAG_LENGTH} characters.`, { reason: 'TagValue' });
    out[k] = v;
  }
  return Object.freeze(out);
}

function unixSeconds(raw: unknown, field: string): number | null {
  if (raw === null) return null;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0 || raw > 253_402_300_799) {
    throw badParameter(`Property 'attributes.${field}' must be a time in unix seconds.`, { reason: 'Attributes' });
  }
  return raw;
}

export function parseAttributes(raw: unknown): SecretAttributesInput {
  if (raw === undefined || raw === null) return {};
  if (!isRecord(raw)) throw badParameter("Property 'attributes' must be an object.", { reason: 'Attributes' });
  const out: { enabled?: boolean; nbf?: number | null; exp?: number | null } = {};
  if (raw.enabled !== undefined && raw.enabled !== null) {
    if (typeof raw.enabled !== 'boolean') throw badParameter("Property 'attributes.enabled' must be a boolean.", { reason: 'Attributes' });
    out.enabled = raw.enabled;
  }
  if (raw.nbf !== undefined) out.nbf = unixSeconds(raw.nbf, 'nbf');
  if (raw.exp !== undefined) out.exp = unixSeconds(raw.exp, 'exp');
  return Object.freeze(out);
}

export function parseSetSecret(raw: unknown): SetSecretInput {
  const b = body(raw);
  const value = b.value;
  if (value === undefined || value === null) throw badParameter("Property 'value' is required.", { reason: 'ValueMissing' });
  if (typeof value !== 'string') throw badParameter("Property 'value' must be a string.", { reason: 'ValueType' });
  if (Buffer.byteLength(value, 'utf8') > MAX_SECRET_VALUE_BYTES) {
    throw badParameter(`The secret value is too large: the maximum size is ${MAX_SECRET_VALUE_BYTES} bytes.`, { reason: 'ValueTooLarge' });
  }
  return { value, contentType: parseContentType(b.contentType), tags: parseTags(b.tags), attributes: parseAttributes(b.attributes) };
}

export function parseUpdateSecret(raw: unknown): UpdateSecretInput {
  const b = body(raw);
  if (b.value !== undefined) throw badParameter("Property 'value' cannot be updated: set a new version instead.", { reason: 'ValueImmutable' });
  return {
    ...(b.contentType !== undefined ? { contentType: parseContentType(b.contentType) } : {}),
    ...(b.tags !== undefined ? { tags: parseTags(b.tags) } : {}),
    attributes: parseAttributes(b.attributes),
  };
}

/** `{"names": [...]}` of the batch-get extension: 1 to 25 valid, distinct names. */
export function parseBatchNames(raw: unknown): readonly string[] {
  const b = body(raw);
  const names = b.names;
  if (!Array.isArray(names) || names.length === 0 || names.length > MAX_BATCH_NAMES) {
    throw badParameter(`Property 'names' must list 1 to ${MAX_BATCH_NAMES} secret names.`, { reason: 'BatchNames' });
  }
  const seen = new Set<string>();
  const out: string[] = [];
  for (const n of names) {
    if (typeof n !== 'string') throw badParameter("Property 'names' must contain strings.", { reason: 'BatchNames' });
    assertSecretName(n);
    if (seen.has(nameKey(n))) continue;
    seen.add(nameKey(n));
    out.push(n);
  }
  return out;
}

export function parseBackupBlob(raw: unknown): string {
  const b = body(raw);
  if (typeof b.value !== 'string' || b.value.length === 0) throw badParameter("Property 'value' (the backup blob) is required.", { reason: 'BackupMissing' });
  return b.value;
}
