import { badParameter } from '../vault.errors.js';

/**
 * Certificate issuers and certificate contacts as Azure's REST specification shapes them
 * (`certificates.json`: CertificateIssuerSetParameters, CertificateIssuerUpdateParameters,
 * IssuerCredentials, OrganizationDetails, AdministratorDetails, Contacts, Contact). Pure:
 * parses untrusted JSON into typed values or throws `BadParameter`. Messages never echo a
 * password.
 */
export const ISSUER_NAME = /^[0-9a-zA-Z-]{1,127}$/;
/** Issuer names the vault answers itself: they cannot be configured. */
export const BUILT_IN_ISSUERS = ['Self', 'Unknown', 'Keyledger'] as const;
export const MAX_FIELD_LENGTH = 256;
export const MAX_PASSWORD_LENGTH = 4096;
export const MAX_ADMINISTRATORS = 20;
export const MAX_CONTACTS = 64;

/** Administrator details as stored and answered (Azure's wire names). */
export type AdministratorDetails = {
  readonly first_name?: string;
  readonly last_name?: string;
  readonly email?: string;
  readonly phone?: string;
};

export type OrganizationDetails = { readonly id: string | null; readonly adminDetails: readonly AdministratorDetails[] };

/** What a PUT or PATCH asks for; absent members are left as they are (PATCH) or unset (PUT). */
export type IssuerInput = {
  readonly provider?: string;
  readonly accountId?: string;
  /** The account password / key: sealed before it is stored, never answered. */
  readonly password?: string;
  readonly organization?: OrganizationDetails;
  readonly enabled?: boolean;
};

export type Contact = { readonly email?: string; readonly name?: string; readonly phone?: string };

export const issuerNameKey = (name: string): string => name.toLowerCase();

export function assertIssuerName(name: string): string {
  if (!ISSUER_NAME.test(name)) throw badParameter(`The request URI contains an invalid issuer name: ${name.slice(0, 160)}`, { reason: 'InvalidName' });
  return name;
}

export function isBuiltInIssuer(name: string): boolean {
  return BUILT_IN_ISSUERS.some((b) => b.toLowerCase() === name.toLowerCase());
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function body(raw: unknown): Record<string, unknown> {
  if (raw === undefined || raw === null) throw badParameter('The request body is missing or is not a JSON object.', { reason: 'BodyMissing' });
  if (!isRecord(raw)) throw badParameter('The request body must be a JSON object.', { reason: 'BodyNotObject' });
  return raw;
}

function text(raw: unknown, field: string, max = MAX_FIELD_LENGTH): string | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'string') throw badParameter(`Property '${field}' must be a string.`, { reason: 'Type' });
  if (raw.length > max) throw badParameter(`Property '${field}' exceeds the maximum length of ${max} characters.`, { reason: 'Length' });
  return raw;
}

function administrator(raw: unknown, i: number): AdministratorDetails {
  if (!isRecord(raw)) throw badParameter(`Property 'org_details.admin_details[${i}]' must be an object.`, { reason: 'Type' });
  const out: Record<string, string> = {};
  for (const f of ['first_name', 'last_name', 'email', 'phone'] as const) {
    const v = text(raw[f], `org_details.admin_details[${i}].${f}`);
    if (v !== undefined) out[f] = v;
  }
  return out;
}

function organization(raw: unknown): OrganizationDetails | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (!isRecord(raw)) throw badParameter("Property 'org_details' must be an object.", { reason: 'Type' });
  const admins = raw.admin_details;
  if (admins !== undefined && admins !== null && !Array.isArray(admins)) throw badParameter("Property 'org_details.admin_details' must be an array.", { reason: 'Type' });
  const list = (admins ?? []) as unknown[];
  if (list.length > MAX_ADMINISTRATORS) throw badParameter(`Property 'org_details.admin_details' has more than ${MAX_ADMINISTRATORS} entries.`, { reason: 'Length' });
  return { id: text(raw.id, 'org_details.id') ?? null, adminDetails: list.map(administrator) };
}

function issuerBody(raw: unknown): IssuerInput {
  const b = body(raw);
  const provider = text(b.provider, 'provider');
  let accountId: string | undefined;
  let password: string | undefined;
  if (b.credentials !== undefined && b.credentials !== null) {
    if (!isRecord(b.credentials)) throw badParameter("Property 'credentials' must be an object.", { reason: 'Type' });
    accountId = text(b.credentials.account_id, 'credentials.account_id');
    password = text(b.credentials.pwd, 'credentials.pwd', MAX_PASSWORD_LENGTH);
  }
  let enabled: boolean | undefined;
  if (b.attributes !== undefined && b.attributes !== null) {
    if (!isRecord(b.attributes)) throw badParameter("Property 'attributes' must be an object.", { reason: 'Type' });
    const e = b.attributes.enabled;
    if (e !== undefined && e !== null && typeof e !== 'boolean') throw badParameter("Property 'attributes.enabled' must be a boolean.", { reason: 'Type' });
    if (typeof e === 'boolean') enabled = e;
  }
  const org = organization(b.org_details);
  return {
    ...(provider !== undefined ? { provider } : {}),
    ...(accountId !== undefined ? { accountId } : {}),
    ...(password !== undefined ? { password } : {}),
    ...(org !== undefined ? { organization: org } : {}),
    ...(enabled !== undefined ? { enabled } : {}),
  };
}

/** PUT /certificates/issuers/{name}: `provider` is required. */
export function parseSetIssuer(raw: unknown): IssuerInput & { readonly provider: string } {
  const input = issuerBody(raw);
  if (input.provider === undefined || input.provider.trim() === '') throw badParameter("Property 'provider' is required.", { reason: 'ProviderMissing' });
  return { ...input, provider: input.provider };
}

/** PATCH /certificates/issuers/{name}: every member optional. */
export function parseUpdateIssuer(raw: unknown): IssuerInput {
  const input = issuerBody(raw);
  if (input.provider !== undefined && input.provider.trim() === '') throw badParameter("Property 'provider' must not be empty.", { reason: 'ProviderEmpty' });
  return input;
}

/** PUT /certificates/contacts: `{"contacts": [{email, name, phone}]}`, each with an email address. */
export function parseContacts(raw: unknown): Contact[] {
  const b = body(raw);
  const list = b.contacts;
  if (!Array.isArray(list) || list.length === 0) throw badParameter("Property 'contacts' must be a non-empty array.", { reason: 'ContactsMissing' });
  if (list.length > MAX_CONTACTS) throw badParameter(`Property 'contacts' has more than ${MAX_CONTACTS} entries.`, { reason: 'Length' });
  return list.map((c: unknown, i) => {
    if (!isRecord(c)) throw badParameter(`Property 'contacts[${i}]' must be an object.`, { reason: 'Type' });
    const email = text(c.email, `contacts[${i}].email`);
    if (email === undefined || email.trim() === '') throw badParameter(`Property 'contacts[${i}].email' is required.`, { reason: 'EmailMissing' });
    const name = text(c.name, `contacts[${i}].name`);
    const phone = text(c.phone, `contacts[${i}].phone`);
    return { email, ...(name !== undefined ? { name } : {}), ...(phone !== undefined ? { phone } : {}) };
  });
}
