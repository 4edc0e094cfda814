import { parseTags, type Tags } from '../key/key.rules.js';
import { badParameter } from '../vault.errors.js';

/**
 * Azure Key Vault's certificate policy and request shapes (REST spec `KeyVault.Certificates`:
 * CertificatePolicy, CertificateCreateParameters, CertificateImportParameters,
 * CertificateUpdateParameters, CertificateMergeParameters). Pure: parses untrusted JSON into
 * typed values, filling Azure's defaults, or throws `BadParameter`. Never echoes key material.
 */
export const PKCS12 = 'application/x-pkcs12';
export const PEM = 'application/x-pem-file';
export const MAX_VALIDITY_MONTHS = 1200;
const KTYS = ['RSA', 'RSA-HSM', 'EC', 'EC-HSM'] as const;
const RSA_SIZES = [2048, 3072, 4096];
const CURVES = ['P-256', 'P-256K', 'P-384', 'P-521'];
const CURVE_BITS: Readonly<Record<string, number>> = { 'P-256': 256, 'P-256K': 256, 'P-384': 384, 'P-521': 521 };
const KEY_USAGES = ['digitalSignature', 'nonRepudiation', 'keyEncipherment', 'dataEncipherment', 'keyAgreement', 'keyCertSign', 'cRLSign', 'encipherOnly', 'decipherOnly'];
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

export type LifetimeActionRecord = {
  readonly trigger: { readonly lifetime_percentage?: number; readonly days_before_expiry?: number };
  readonly action: { readonly action_type: 'AutoRenew' | 'EmailContacts' };
};

/** A policy as stored (Azure's field names, defaults filled in); `id` is built from the origin. */
export type PolicyRecord = {
  readonly key_props: { readonly exportable: boolean; readonly kty: (typeof KTYS)[number]; readonly key_size?: number; readonly crv?: string; readonly reuse_key: boolean };
  readonly secret_props: { readonly contentType: string };
  readonly x509_props: {
    readonly subject: string;
    readonly sans?: { readonly emails?: readonly string[]; readonly dns_names?: readonly string[]; readonly upns?: readonly string[] };
    readonly ekus: readonly string[];
    readonly key_usage: readonly string[];
    readonly validity_months: number;
    readonly basic_constraints: { readonly ca: boolean };
  };
  readonly lifetime_actions: readonly LifetimeActionRecord[];
  readonly issuer: { readonly name: string; readonly cty?: string; readonly cert_transparency?: boolean };
  readonly attributes: { readonly enabled: boolean; readonly created: number; readonly updated: number };
};

export type CertificateAttributesInput = { readonly enabled?: boolean; readonly nbf?: number | null; readonly exp?: number | null };

export type CreateCertificateInput = {
  readonly policy: PolicyRecord;
  readonly attributes: CertificateAttributesInput;
  readonly tags: Tags | null;
  /** Azure's `preserveCertOrder` (api-version 2025-07-01): the managed secret keeps the chain in the order given (import, merge) instead of leaf first. */
  readonly preserveCertOrder: boolean;
};
/** `contentTypeGiven`: the policy names the secret's content type (else PEM text imports as PEM, anything else as PKCS#12). */
export type ImportCertificateInput = CreateCertificateInput & { readonly value: string; readonly password: string | null; readonly policyGiven: boolean; readonly contentTypeGiven: boolean };
export type UpdateCertificateInput = { readonly attributes: CertificateAttributesInput; readonly tags?: Tags | null; readonly policy?: PolicyPatch };
export type PolicyPatch = Readonly<Record<string, unknown>>;

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const bad = (message: string) => badParameter(message);

function body(raw: unknown): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  if (!isRecord(raw)) throw bad('The request body must be a JSON object.');
  return raw;
}

function optBool(o: Record<string, unknown>, k: string, where: string): boolean | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw bad(`Property '${where}.${k}' must be a boolean.`);
  return v;
}

function optInt(o: Record<string, unknown>, k: string, where: string): number | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw bad(`Property '${where}.${k}' must be an integer.`);
  return v;
}

function optString(o: Record<string, unknown>, k: string, where: string, max = 1024): string | undefined {
  const v = o[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || v.length > max) throw bad(`Property '${where}.${k}' must be a string of at most ${max} characters.`);
  return v;
}

function strings(v: unknown, where: string, max = 100): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v) || v.length > max || !v.every((s) => typeof s === 'string' && s.length > 0 && s.length <= 1024)) throw bad(`Property '${where}' must be an array of strings.`);
  return v as string[];
}

function sub(o: Record<string, unknown>, k: string): Record<string, unknown> {
  const v = o[k];
  if (v === undefined || v === null) return {};
  if (!isRecord(v)) throw bad(`Property '${k}' must be an object.`);
  return v;
}

/** Certificate attributes as a request carries them (enabled, nbf, exp); the dates are the certificate's own, so only `enabled` is kept on create. */
export function parseCertificateAttributes(raw: unknown): CertificateAttributesInput {
  const o = raw === undefined || raw === null ? {} : isRecord(raw) ? raw : (() => { throw bad("Property 'attributes' must be an object."); })();
  const enabled = optBool(o, 'enabled', 'attributes');
  const nbf = optInt(o, 'nbf', 'attributes');
  const exp = optInt(o, 'exp', 'attributes');
  return { ...(enabled !== undefined ? { enabled } : {}), ...(nbf !== undefined ? { nbf } : {}), ...(exp !== undefined ? { exp } : {}) };
}

/**
 * A full policy from a request, with Azure's defaults: RSA 2048 exportable, PKCS#12, server
 * and client auth, digitalSignature + keyEncipherment, 12 months, 80 % AutoRenew (Self) or
 * EmailContacts (others). `base` is the current policy an update patches (absent: create).
 */
export function parsePolicy(raw: unknown, now: number, base?: PolicyRecord): PolicyRecord {
  const p = body(raw);
  const kp = sub(p, 'key_props');
  const sp = sub(p, 'secret_props');
  const xp = sub(p, 'x509_props');
  const ip = sub(p, 'issuer');
  const ap = sub(p, 'attributes');
  const bk = base?.key_props;
  const kty = (optString(kp, 'kty', 'key_props') ?? bk?.kty ?? 'RSA') as (typeof KTYS)[number];
  if (!(KTYS as readonly string[]).includes(kty)) throw bad(`Invalid kty value: ${kty.slice(0, 20)}`);
  const rsa = kty.startsWith('RSA');
  const keySize = optInt(kp, 'key_size', 'key_props') ?? (rsa ? (bk?.kty.startsWith('RSA') ? bk.key_size : undefined) ?? 2048 : undefined);
  if (rsa && !RSA_SIZES.includes(keySize!)) throw bad(`The key size ${keySize} is not supported for key type ${kty}.`);
  const crv = rsa ? undefined : (optString(kp, 'crv', 'key_props') ?? (bk && !bk.kty.startsWith('RSA') ? bk.crv : undefined) ?? 'P-256');
  if (crv !== undefined && !CURVES.includes(crv)) throw bad(`Invalid curve name: ${crv.slice(0, 20)}`);
  if (crv !== undefined && keySize !== undefined && keySize !== CURVE_BITS[crv]) throw bad('The key size does not match the curve.');
  const exportable = optBool(kp, 'exportable', 'key_props') ?? bk?.exportable ?? !kty.endsWith('-HSM');
  if (exportable && kty.endsWith('-HSM')) throw bad('Exportable keys are not supported for HSM key types.');
  const reuse = optBool(kp, 'reuse_key', 'key_props') ?? bk?.reuse_key ?? false;

  const contentType = optString(sp, 'contentType', 'secret_props') ?? base?.secret_props.contentType ?? PKCS12;
  if (contentType !== PKCS12 && contentType !== PEM) throw bad(`Unsupported secret content type: ${contentType.slice(0, 60)}. Use ${PKCS12} or ${PEM}.`);

  const bx = base?.x509_props;
  const subject = optString(xp, 'subject', 'x509_props') ?? bx?.subject ?? '';
  const sansRaw = xp.sans === undefined ? undefined : xp.sans === null ? {} : isRecord(xp.sans) ? xp.sans : (() => { throw bad("Property 'x509_props.sans' must be an object."); })();
  const sans = sansRaw === undefined ? bx?.sans : {
    ...(strings(sansRaw.emails, 'x509_props.sans.emails') ? { emails: strings(sansRaw.emails, 'x509_props.sans.emails')! } : {}),
    ...(strings(sansRaw.dns_names, 'x509_props.sans.dns_names') ? { dns_names: strings(sansRaw.dns_names, 'x509_props.sans.dns_names')! } : {}),
    ...(strings(sansRaw.upns, 'x509_props.sans.upns') ? { upns: strings(sansRaw.upns, 'x509_props.sans.upns')! } : {}),
  };
  const sanCount = (sans?.emails?.length ?? 0) + (sans?.dns_names?.length ?? 0) + (sans?.upns?.length ?? 0);
  if (!/(^|,|\s)CN\s*=/i.test(subject) && sanCount === 0) {
    throw bad('The certificate policy must have a subject with a common name (CN) or subject alternative names.');
  }
  const ekus = strings(xp.ekus, 'x509_props.ekus') ?? bx?.ekus ?? [SERVER_AUTH, CLIENT_AUTH];
  for (const e of ekus) if (!/^[0-2](\.\d{1,10}){1,20}$/.test(e)) throw bad(`Invalid extended key usage: ${e.slice(0, 40)}`);
  const keyUsage = strings(xp.key_usage, 'x509_props.key_usage') ?? bx?.key_usage ?? (rsa ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature', 'keyAgreement']);
  for (const u of keyUsage) if (!KEY_USAGES.includes(u)) throw bad(`Invalid key usage: ${u.slice(0, 40)}`);
  const months = optInt(xp, 'validity_months', 'x509_props') ?? bx?.validity_months ?? 12;
  if (months < 1 || months > MAX_VALIDITY_MONTHS) throw bad(`Property 'x509_props.validity_months' must be between 1 and ${MAX_VALIDITY_MONTHS}.`);

  const issuerName = optString(ip, 'name', 'issuer', 127) ?? base?.issuer.name ?? 'Unknown';
  const cty = optString(ip, 'cty', 'issuer', 64) ?? base?.issuer.cty;
  const ct = optBool(ip, 'cert_transparency', 'issuer') ?? base?.issuer.cert_transparency;

  let actions: LifetimeActionRecord[];
  if (p.lifetime_actions === undefined || p.lifetime_actions === null) {
    actions = base ? [...base.lifetime_actions] : [{ trigger: { lifetime_percentage: 80 }, action: { action_type: issuerName.toLowerCase() === 'self' ? 'AutoRenew' : 'EmailContacts' } }];
  } else {
    if (!Array.isArray(p.lifetime_actions) || p.lifetime_actions.length > 5) throw bad("Property 'lifetime_actions' must be an array of at most 5 actions.");
    actions = p.lifetime_actions.map((a: unknown) => {
      if (!isRecord(a) || !isRecord(a.trigger) || !isRecord(a.action)) throw bad('A lifetime action needs a trigger and an action.');
      const pct = optInt(a.trigger, 'lifetime_percentage', 'trigger');
      const days = optInt(a.trigger, 'days_before_expiry', 'trigger');
      if ((pct === undefined) === (days === undefined)) throw bad('A lifetime action trigger needs exactly one of lifetime_percentage and days_before_expiry.');
      if (pct !== undefined && (pct < 1 || pct > 99)) throw bad("Property 'lifetime_percentage' must be between 1 and 99.");
      if (days !== undefined && (days < 1 || days > months * 28)) throw bad("Property 'days_before_expiry' is out of range.");
      const type = a.action.action_type;
      if (type !== 'AutoRenew' && type !== 'EmailContacts') throw bad("Property 'action_type' must be AutoRenew or EmailContacts.");
      return { trigger: pct !== undefined ? { lifetime_percentage: pct } : { days_before_expiry: days! }, action: { action_type: type } };
    });
  }
  const enabled = optBool(ap, 'enabled', 'attributes') ?? base?.attributes.enabled ?? true;
  return {
    key_props: { exportable, kty, ...(keySize !== undefined ? { key_size: keySize } : {}), ...(crv !== undefined ? { crv } : {}), reuse_key: reuse },
    secret_props: { contentType },
    x509_props: { subject, ...(sans !== undefined ? { sans } : {}), ekus, key_usage: keyUsage, validity_months: months, basic_constraints: { ca: false } },
    lifetime_actions: actions,
    issuer: { name: issuerName, ...(cty !== undefined ? { cty } : {}), ...(ct !== undefined ? { cert_transparency: ct } : {}) },
    attributes: { enabled, created: base?.attributes.created ?? now, updated: now },
  };
}

/** `preserveCertOrder`: a boolean when present (absent or null: false). */
function preserveCertOrderOf(b: Record<string, unknown>): boolean {
  const v = b.preserveCertOrder;
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw bad("Property 'preserveCertOrder' must be a boolean.");
  return v;
}

export function parseCreateCertificate(raw: unknown, now: number): CreateCertificateInput {
  const b = body(raw);
  if (b.policy === undefined || b.policy === null) throw bad('Property policy is required.');
  return { policy: parsePolicy(b.policy, now), attributes: parseCertificateAttributes(b.attributes), tags: parseTags(b.tags), preserveCertOrder: preserveCertOrderOf(b) };
}

export function parseImportCertificate(raw: unknown, now: number): ImportCertificateInput {
  const b = body(raw);
  if (typeof b.value !== 'string' || b.value.length === 0) throw bad('Property value is required.');
  if (b.value.length > 256 * 1024) throw bad('The certificate value is too large.');
  const password = b.pwd === undefined || b.pwd === null ? null : typeof b.pwd === 'string' ? b.pwd : (() => { throw bad("Property 'pwd' must be a string."); })();
  const policyGiven = b.policy !== undefined && b.policy !== null;
  // An import without a subject in its policy takes the certificate's: filled in by the service.
  const policyRaw = policyGiven ? { ...(b.policy as Record<string, unknown>) } : {};
  const xp = isRecord(policyRaw.x509_props) ? { ...policyRaw.x509_props } : {};
  if (xp.subject === undefined) xp.subject = 'CN=imported';
  const ip = isRecord(policyRaw.issuer) ? policyRaw.issuer : {};
  const contentTypeGiven = isRecord(policyRaw.secret_props) && typeof policyRaw.secret_props.contentType === 'string';
  const pemText = b.value.trimStart().startsWith('-----BEGIN');
  const secretProps = contentTypeGiven ? policyRaw.secret_props : { contentType: pemText ? PEM : PKCS12 };
  return {
    value: b.value,
    password,
    policyGiven,
    contentTypeGiven,
    policy: parsePolicy({ ...policyRaw, x509_props: xp, secret_props: secretProps, issuer: { name: 'Unknown', ...ip } }, now),
    attributes: parseCertificateAttributes(b.attributes),
    tags: parseTags(b.tags),
    preserveCertOrder: preserveCertOrderOf(b),
  };
}

export function parseUpdateCertificate(raw: unknown): UpdateCertificateInput {
  const b = body(raw);
  const tags = b.tags === undefined ? undefined : parseTags(b.tags);
  const policy = b.policy === undefined || b.policy === null ? undefined : isRecord(b.policy) ? b.policy : (() => { throw bad("Property 'policy' must be an object."); })();
  return { attributes: parseCertificateAttributes(b.attributes), ...(tags !== undefined ? { tags } : {}), ...(policy !== undefined ? { policy } : {}) };
}

/** The merge body: `x5c`, base64 DER certificates (leaf first). */
export function parseMerge(raw: unknown): { readonly x5c: readonly string[]; readonly attributes: CertificateAttributesInput; readonly tags: Tags | null } {
  const b = body(raw);
  const x5c = strings(b.x5c, 'x5c', 10);
  if (!x5c || x5c.length === 0) throw bad('Property x5c is required.');
  return { x5c, attributes: parseCertificateAttributes(b.attributes), tags: parseTags(b.tags) };
}
