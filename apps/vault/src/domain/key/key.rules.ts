import { badParameter } from '../vault.errors.js';
import { assertSecretName, assertSecretVersion, parseTags as parseSecretTags, type Tags } from '../secret/secret.rules.js';

/**
 * Azure Key Vault's input shapes for keys (`keys.json`: KeyCreateParameters,
 * KeyImportParameters, KeyUpdateParameters, KeyReleasePolicy, KeyRotationPolicy). Pure:
 * parses untrusted JSON into typed values or throws `BadParameter`. Messages never echo key
 * material (a JWK's private parts are never read here, only passed on as text).
 */

/** Key names follow the same rules as secret names (1–127 of `0-9a-zA-Z-`), compared case-insensitively. */
export const assertKeyName = assertSecretName;
export const assertKeyVersion = assertSecretVersion;

/** Key types a vault accepts; `oct`/`oct-HSM` exist only in Managed HSM pools. */
export const VAULT_KEY_TYPES = ['RSA', 'RSA-HSM', 'EC', 'EC-HSM'] as const;
/** Key types a Managed HSM pool creates: HSM-backed only (the PKCS#11 token), symmetric keys included. */
export const POOL_KEY_TYPES = ['RSA-HSM', 'EC-HSM', 'oct-HSM'] as const;
export type VaultKeyType = (typeof VAULT_KEY_TYPES)[number] | (typeof POOL_KEY_TYPES)[number];
/** Which container a key request is for: the key types it accepts differ. */
export type KeyContainerKind = 'vault' | 'managedHsm';
export const OCT_KEY_SIZES = [128, 192, 256] as const;

/**
 * Azure's refusal of a key type the container does not serve, as recorded from Key Vault for
 * `oct` (400 `BadParameter` "Invalid kty value: oct", inner `KeyTypeNotSupported`); a Managed
 * HSM pool refuses software types (`RSA`, `EC`, `oct`) in the same words.
 */
const ktyNotSupported = (kty: string) => badParameter(`Invalid kty value: ${clip(kty)}`, { reason: 'KtyNotSupported', inner: 'KeyTypeNotSupported' });
export const RSA_KEY_SIZES = [2048, 3072, 4096] as const;
export const EC_CURVES = ['P-256', 'P-256K', 'P-384', 'P-521'] as const;
export const KEY_OPERATIONS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import', 'export'] as const;
/** The only RSA public exponent the crypto service generates with. */
export const RSA_PUBLIC_EXPONENT = 65537;
/** Largest base64url release policy document, characters. */
export const MAX_RELEASE_POLICY_CHARS = 16 * 1024;

export type KeyAttributesInput = {
  readonly enabled?: boolean;
  readonly nbf?: number | null;
  readonly exp?: number | null;
  readonly exportable?: boolean;
};

/** Azure's KeyReleasePolicy: the policy document travels base64url in `data`. */
export type ReleasePolicy = { readonly contentType: string; readonly immutable: boolean; readonly data: string };

export type CreateKeyInput = {
  readonly kty: VaultKeyType;
  readonly keySize: number | null;
  readonly crv: string | null;
  readonly keyOps: readonly string[];
  readonly attributes: KeyAttributesInput;
  readonly tags: Tags | null;
  readonly releasePolicy: ReleasePolicy | null;
};

export type ImportKeyInput = {
  /** The JWK as the client sent it (private parts included), re-serialized for the crypto service only. */
  readonly jwkJson: string;
  readonly kty: string;
  readonly hsm: boolean;
  readonly keyOps: readonly string[];
  readonly attributes: KeyAttributesInput;
  readonly tags: Tags | null;
  readonly releasePolicy: ReleasePolicy | null;
};

export type UpdateKeyInput = {
  readonly keyOps?: readonly string[];
  readonly attributes: KeyAttributesInput;
  readonly tags?: Tags | null;
  readonly releasePolicy?: ReleasePolicy;
};

export type LifetimeAction = {
  readonly trigger: { readonly timeAfterCreate?: string; readonly timeBeforeExpiry?: string };
  readonly action: { readonly type: 'Rotate' | 'Notify' };
};
export type RotationPolicyInput = { readonly lifetimeActions: readonly LifetimeAction[]; readonly expiryTime: string | null };

/** U+0000 and lone surrogates cannot be stored faithfully (PostgreSQL refuses the first, UTF-8 has no form for the others). */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const clean = (s: string): boolean => !s.includes('\u0000') && !LONE_SURROGATE.test(s);

/** Tags as for secrets, and refused when a name or value holds U+0000 or a lone surrogate. */
export function parseTags(raw: unknown): Tags | null {
  const tags = parseSecretTags(raw);
  if (tags !== null && Object.entries(tags).some(([k, v]) => !clean(k) || !clean(v))) {
    throw badParameter('Tag names and values must not contain U+0000 or unpaired surrogates.', { reason: 'TagValue' });
  }
  return tags;
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const clip = (s: string, max = 40): string => (s.length > max ? `${s.slice(0, max)}…` : s);

function body(raw: unknown): Record<string, unknown> {
  if (raw === undefined || raw === null) throw badParameter('The request body is missing or is not a JSON object.', { reason: 'BodyMissing' });
  if (!isRecord(raw)) throw badParameter('The request body must be a JSON object.', { reason: 'BodyNotObject' });
  return raw;
}

function unixSeconds(raw: unknown, field: string): number | null {
  if (raw === null) return null;
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < 0 || raw > 253_402_300_799) {
    throw badParameter(`Property 'attributes.${field}' must be a time in unix seconds.`, { reason: 'Attributes' });
  }
  return raw;
}

export function parseKeyAttributes(raw: unknown): KeyAttributesInput {
  if (raw === undefined || raw === null) return {};
  if (!isRecord(raw)) throw badParameter("Property 'attributes' must be an object.", { reason: 'Attributes' });
  const out: { enabled?: boolean; nbf?: number | null; exp?: number | null; exportable?: boolean } = {};
  for (const flag of ['enabled', 'exportable'] as const) {
    const v = raw[flag];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'boolean') throw badParameter(`Property 'attributes.${flag}' must be a boolean.`, { reason: 'Attributes' });
    out[flag] = v;
  }
  if (raw.nbf !== undefined) out.nbf = unixSeconds(raw.nbf, 'nbf');
  if (raw.exp !== undefined) out.exp = unixSeconds(raw.exp, 'exp');
  if (out.nbf != null && out.exp != null && out.exp < out.nbf) throw badParameter("Property 'attributes.exp' must not be before 'attributes.nbf'.", { reason: 'Attributes' });
  return Object.freeze(out);
}

export function parseKeyOps(raw: unknown): readonly string[] | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!Array.isArray(raw)) throw badParameter("Property 'key_ops' must be an array of key operations.", { reason: 'KeyOps' });
  const out: string[] = [];
  for (const op of raw) {
    if (typeof op !== 'string' || !(KEY_OPERATIONS as readonly string[]).includes(op)) {
      throw badParameter(`Invalid key operation '${typeof op === 'string' ? clip(op) : typeof op}'. Valid operations: ${KEY_OPERATIONS.join(', ')}.`, { reason: 'KeyOps' });
    }
    if (!out.includes(op)) out.push(op);
  }
  return Object.freeze(out);
}

export function parseReleasePolicy(raw: unknown): ReleasePolicy | null {
  if (raw === undefined || raw === null) return null;
  if (!isRecord(raw)) throw badParameter("Property 'release_policy' must be an object.", { reason: 'ReleasePolicy' });
  const contentType = raw.contentType === undefined || raw.contentType === null ? 'application/json; charset=utf-8' : raw.contentType;
  if (typeof contentType !== 'string' || contentType.length > 255 || !clean(contentType)) throw badParameter("Property 'release_policy.contentType' must be a string.", { reason: 'ReleasePolicy' });
  const immutable = raw.immutable === undefined || raw.immutable === null ? false : raw.immutable;
  if (typeof immutable !== 'boolean') throw badParameter("Property 'release_policy.immutable' must be a boolean.", { reason: 'ReleasePolicy' });
  const data = raw.data;
  if (typeof data !== 'string' || data.length === 0 || data.length > MAX_RELEASE_POLICY_CHARS || !/^[A-Za-z0-9_-]+={0,2}$/.test(data)) {
    throw badParameter("Property 'release_policy.data' must be the base64url encoding of the policy document.", { reason: 'ReleasePolicy' });
  }
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(data, 'base64url').toString('utf8'));
  } catch {
    throw badParameter('The release policy is not a valid JSON document.', { reason: 'ReleasePolicy' });
  }
  if (!isRecord(doc)) throw badParameter('The release policy must be a JSON object.', { reason: 'ReleasePolicy' });
  return Object.freeze({ contentType, immutable, data: data.replace(/=+$/, '') });
}

function parseKty(raw: unknown, kind: KeyContainerKind): VaultKeyType {
  if (raw === undefined || raw === null || raw === '') throw badParameter("Property 'kty' is required.", { reason: 'Kty' });
  if (typeof raw !== 'string') throw badParameter("Property 'kty' must be a string.", { reason: 'Kty' });
  if (kind === 'managedHsm') {
    if ((POOL_KEY_TYPES as readonly string[]).includes(raw)) return raw as VaultKeyType;
    if (raw === 'RSA' || raw === 'EC' || raw === 'oct') throw ktyNotSupported(raw);
    throw badParameter(`The value '${clip(raw)}' of property 'kty' is not valid. Valid key types: ${POOL_KEY_TYPES.join(', ')}.`, { reason: 'Kty' });
  }
  if (raw === 'oct' || raw === 'oct-HSM') {
    throw badParameter(`Key type '${raw}' is not supported in a key vault: symmetric keys are available only in a Managed HSM.`, { reason: 'KtyNotSupported' });
  }
  if (!(VAULT_KEY_TYPES as readonly string[]).includes(raw)) {
    throw badParameter(`The value '${clip(raw)}' of property 'kty' is not valid. Valid key types: ${VAULT_KEY_TYPES.join(', ')}.`, { reason: 'Kty' });
  }
  return raw as VaultKeyType;
}

const isRsa = (kty: string): boolean => kty === 'RSA' || kty === 'RSA-HSM';

/** `POST /keys/{name}/create` in a vault, or (`kind` managedHsm) in a Managed HSM pool. */
export function parseCreateKey(raw: unknown, kind: KeyContainerKind = 'vault'): CreateKeyInput {
  const b = body(raw);
  const kty = parseKty(b.kty, kind);
  let keySize: number | null = null;
  let crv: string | null = null;
  if (kty === 'oct-HSM') {
    if (b.key_size !== undefined && b.key_size !== null) {
      if (typeof b.key_size !== 'number' || !(OCT_KEY_SIZES as readonly number[]).includes(b.key_size)) {
        throw badParameter(`Invalid key size: ${typeof b.key_size === 'number' ? b.key_size : clip(String(b.key_size))}. Symmetric keys must be 128, 192 or 256 bits.`, { reason: 'KeySize' });
      }
      keySize = b.key_size;
    } else keySize = 256;
    if (b.crv !== undefined && b.crv !== null) throw badParameter("Property 'crv' is valid only for EC keys.", { reason: 'Crv' });
    if (b.public_exponent !== undefined && b.public_exponent !== null) throw badParameter("Property 'public_exponent' is valid only for RSA keys.", { reason: 'PublicExponent' });
  } else if (isRsa(kty)) {
    if (b.key_size !== undefined && b.key_size !== null) {
      if (typeof b.key_size !== 'number' || !(RSA_KEY_SIZES as readonly number[]).includes(b.key_size)) {
        throw badParameter(`Invalid key size: ${typeof b.key_size === 'number' ? b.key_size : clip(String(b.key_size))}. RSA keys must be 2048, 3072 or 4096 bits.`, { reason: 'KeySize' });
      }
      keySize = b.key_size;
    } else keySize = 2048;
    if (b.public_exponent !== undefined && b.public_exponent !== null && b.public_exponent !== RSA_PUBLIC_EXPONENT) {
      throw badParameter(`Invalid public exponent: only ${RSA_PUBLIC_EXPONENT} is supported.`, { reason: 'PublicExponent' });
    }
    if (b.crv !== undefined && b.crv !== null) throw badParameter("Property 'crv' is valid only for EC keys.", { reason: 'Crv' });
  } else {
    if (b.crv !== undefined && b.crv !== null) {
      if (typeof b.crv !== 'string' || !(EC_CURVES as readonly string[]).includes(b.crv)) {
        throw badParameter(`Invalid curve name '${typeof b.crv === 'string' ? clip(b.crv) : typeof b.crv}'. Valid curves: ${EC_CURVES.join(', ')}.`, { reason: 'Crv' });
      }
      crv = b.crv;
    } else crv = 'P-256';
    const sizeOf: Record<string, number> = { 'P-256': 256, 'P-256K': 256, 'P-384': 384, 'P-521': 521 };
    if (b.key_size !== undefined && b.key_size !== null && b.key_size !== sizeOf[crv]) {
      throw badParameter(`Invalid key size for curve ${crv}.`, { reason: 'KeySize' });
    }
    if (b.public_exponent !== undefined && b.public_exponent !== null) throw badParameter("Property 'public_exponent' is valid only for RSA keys.", { reason: 'PublicExponent' });
  }
  const attributes = parseKeyAttributes(b.attributes);
  const releasePolicy = parseReleasePolicy(b.release_policy);
  if (attributes.exportable === true && releasePolicy === null) throw badParameter('Exportable keys must have a release policy.', { reason: 'ReleasePolicy' });
  return { kty, keySize, crv, keyOps: parseKeyOps(b.key_ops) ?? [], attributes, tags: parseTags(b.tags), releasePolicy };
}

const B64URL = /^[A-Za-z0-9_-]*$/;
const JWK_BYTES = ['n', 'e', 'd', 'dp', 'dq', 'qi', 'p', 'q', 'x', 'y', 'k', 'key_hsm', 't'] as const;

/**
 * `PUT /keys/{name}`: the JWK's shape is checked here (types, base64url, kty); its mathematics by
 * the crypto service. In a Managed HSM pool (`kind`) every imported key goes into the HSM, and
 * symmetric keys (`oct`, with `k`) may be imported.
 */
export function parseImportKey(raw: unknown, kind: KeyContainerKind = 'vault'): ImportKeyInput {
  const b = body(raw);
  const key = b.key;
  if (key === undefined || key === null) throw badParameter("Property 'key' is required.", { reason: 'KeyMissing' });
  if (!isRecord(key)) throw badParameter("Property 'key' must be a JSON Web Key object.", { reason: 'Jwk' });
  const kty = key.kty;
  if (typeof kty !== 'string' || kty === '') throw badParameter("Property 'key.kty' is required.", { reason: 'Jwk' });
  const symmetric = kty === 'oct' || kty === 'oct-HSM';
  if (symmetric && kind !== 'managedHsm') throw badParameter(`Key type '${kty}' is not supported in a key vault: symmetric keys are available only in a Managed HSM.`, { reason: 'KtyNotSupported' });
  if (!symmetric && !(VAULT_KEY_TYPES as readonly string[]).includes(kty)) throw badParameter(`The value '${clip(kty)}' of property 'key.kty' is not valid.`, { reason: 'Jwk' });
  for (const f of JWK_BYTES) {
    const v = key[f];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || !B64URL.test(v.replace(/=+$/, ''))) throw badParameter(`Property 'key.${f}' must be base64url encoded.`, { reason: 'Jwk' });
  }
  const byok = typeof key.key_hsm === 'string' && key.key_hsm.length > 0;
  if (!byok) {
    if (isRsa(kty) && (typeof key.n !== 'string' || typeof key.e !== 'string' || typeof key.d !== 'string' || key.n === '' || key.d === '')) {
      throw badParameter('An RSA key to import needs its modulus (n), public exponent (e) and private exponent (d).', { reason: 'Jwk' });
    }
    if (symmetric && (typeof key.k !== 'string' || key.k === '')) throw badParameter('A symmetric key to import needs its value (k).', { reason: 'Jwk' });
    if (!isRsa(kty) && !symmetric) {
      if (typeof key.crv !== 'string' || !(EC_CURVES as readonly string[]).includes(key.crv)) throw badParameter("Property 'key.crv' must name a supported curve.", { reason: 'Jwk' });
      if (typeof key.x !== 'string' || typeof key.y !== 'string' || typeof key.d !== 'string' || key.d === '') throw badParameter('An EC key to import needs x, y and its private scalar (d).', { reason: 'Jwk' });
    }
  }
  if (b.Hsm !== undefined && b.Hsm !== null && typeof b.Hsm !== 'boolean') throw badParameter("Property 'Hsm' must be a boolean.", { reason: 'Hsm' });
  const hsm = kind === 'managedHsm' || b.Hsm === true || kty.endsWith('-HSM') || byok;
  const keyOps = parseKeyOps(key.key_ops) ?? [];
  const attributes = parseKeyAttributes(b.attributes);
  const releasePolicy = parseReleasePolicy(b.release_policy);
  if (attributes.exportable === true && releasePolicy === null) throw badParameter('Exportable keys must have a release policy.', { reason: 'ReleasePolicy' });
  // The crypto service receives the JWK as text; `key_ops` travel separately.
  const { key_ops: _ops, kid: _kid, ...jwk } = key;
  return { jwkJson: JSON.stringify(jwk), kty, hsm, keyOps, attributes, tags: parseTags(b.tags), releasePolicy };
}

/** `PATCH /keys/{name}/{version?}`. */
export function parseUpdateKey(raw: unknown): UpdateKeyInput {
  const b = raw === undefined ? {} : body(raw);
  const keyOps = parseKeyOps(b.key_ops);
  const releasePolicy = parseReleasePolicy(b.release_policy);
  return {
    ...(keyOps !== undefined ? { keyOps } : {}),
    attributes: parseKeyAttributes(b.attributes),
    ...(b.tags !== undefined ? { tags: parseTags(b.tags) } : {}),
    ...(releasePolicy !== null ? { releasePolicy } : {}),
  };
}

/** ISO 8601 durations as Azure's rotation policies use them: `P{n}Y`, `P{n}M`, `P{n}D` (combinations allowed). */
const DURATION = /^P(?:(\d{1,4})Y)?(?:(\d{1,5})M)?(?:(\d{1,6})D)?$/;

/** Days of a duration (a month is 30 days, a year 365), or null when it is not one. */
export function durationDays(s: string): number | null {
  const m = DURATION.exec(s);
  if (!m || s === 'P') return null;
  return Number(m[1] ?? 0) * 365 + Number(m[2] ?? 0) * 30 + Number(m[3] ?? 0);
}

function duration(raw: unknown, field: string): string {
  if (typeof raw !== 'string' || durationDays(raw) === null) throw badParameter(`Property '${field}' must be an ISO 8601 duration such as P90D.`, { reason: 'RotationPolicy' });
  return raw;
}

/** `PUT /keys/{name}/rotationpolicy`. Azure adds a Notify action 30 days before expiry when none is given. */
export function parseRotationPolicy(raw: unknown): RotationPolicyInput {
  const b = body(raw);
  const actions: LifetimeAction[] = [];
  if (b.lifetimeActions !== undefined && b.lifetimeActions !== null) {
    if (!Array.isArray(b.lifetimeActions) || b.lifetimeActions.length > 10) throw badParameter("Property 'lifetimeActions' must be an array of at most 10 actions.", { reason: 'RotationPolicy' });
    for (const a of b.lifetimeActions) {
      if (!isRecord(a) || !isRecord(a.trigger) || !isRecord(a.action)) throw badParameter('Each lifetime action needs a trigger and an action.', { reason: 'RotationPolicy' });
      const type = typeof a.action.type === 'string' ? a.action.type.toLowerCase() : '';
      if (type !== 'rotate' && type !== 'notify') throw badParameter("Property 'action.type' must be Rotate or Notify.", { reason: 'RotationPolicy' });
      const after = a.trigger.timeAfterCreate;
      const before = a.trigger.timeBeforeExpiry;
      const hasAfter = after !== undefined && after !== null;
      const hasBefore = before !== undefined && before !== null;
      if (hasAfter === hasBefore) throw badParameter('A lifetime action trigger needs exactly one of timeAfterCreate and timeBeforeExpiry.', { reason: 'RotationPolicy' });
      actions.push({
        trigger: hasAfter ? { timeAfterCreate: duration(after, 'trigger.timeAfterCreate') } : { timeBeforeExpiry: duration(before, 'trigger.timeBeforeExpiry') },
        action: { type: type === 'rotate' ? 'Rotate' : 'Notify' },
      });
    }
  }
  if (actions.filter((a) => a.action.type === 'Rotate').length > 1) throw badParameter('A rotation policy can hold only one Rotate action.', { reason: 'RotationPolicy' });
  let expiryTime: string | null = null;
  if (isRecord(b.attributes) && b.attributes.expiryTime !== undefined && b.attributes.expiryTime !== null) {
    expiryTime = duration(b.attributes.expiryTime, 'attributes.expiryTime');
    if ((durationDays(expiryTime) ?? 0) < 28) throw badParameter("Property 'attributes.expiryTime' must be at least 28 days (P28D).", { reason: 'RotationPolicy' });
  } else if (b.attributes !== undefined && b.attributes !== null && !isRecord(b.attributes)) {
    throw badParameter("Property 'attributes' must be an object.", { reason: 'RotationPolicy' });
  }
  for (const a of actions) {
    if (a.trigger.timeBeforeExpiry !== undefined && expiryTime === null) throw badParameter('A timeBeforeExpiry trigger needs attributes.expiryTime.', { reason: 'RotationPolicy' });
    if (a.trigger.timeBeforeExpiry !== undefined && expiryTime !== null && (durationDays(a.trigger.timeBeforeExpiry) ?? 0) >= (durationDays(expiryTime) ?? 0)) {
      throw badParameter('timeBeforeExpiry must be shorter than the expiry time.', { reason: 'RotationPolicy' });
    }
  }
  if (!actions.some((a) => a.action.type === 'Notify')) actions.push({ trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Notify' } });
  return { lifetimeActions: actions, expiryTime };
}

export type { Tags };
