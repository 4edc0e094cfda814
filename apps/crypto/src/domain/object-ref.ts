import type { ObjectIdentity } from '#libs/contracts';
import { badParameter } from './crypto.errors.js';

export const COLLECTIONS = ['secrets', 'keys', 'certificates'] as const;
export type Collection = (typeof COLLECTIONS)[number];

/** A canonical (lower-cased, validated) object reference; `version` may be '' (latest / all). */
export interface Ref {
  readonly tenant: string;
  readonly vault: string;
  readonly collection: Collection;
  readonly name: string;
  readonly version: string;
}

/** The loose shape that arrives on the wire. */
export interface RefInput {
  readonly tenant?: string | null;
  readonly vault?: string | null;
  readonly collection?: string | null;
  readonly name?: string | null;
  readonly version?: string | null;
}

const TENANT = /^[a-z0-9][a-z0-9._-]{0,127}$/;
const SEGMENT = /^[a-z0-9][a-z0-9._-]{0,126}$/;
const VERSION = /^[a-z0-9][a-z0-9._-]{0,63}$/;
/** Key versions are assigned by the caller as 32 lower-case hex characters (Azure's shape). */
export const KEY_VERSION = /^[0-9a-f]{32}$/;

export type VersionRule = 'required' | 'optional' | 'key-version';

function field(value: string | null | undefined, name: string, pattern: RegExp): string {
  const v = (value ?? '').trim().toLowerCase();
  if (!pattern.test(v)) throw badParameter(`ref.${name} is missing or not a valid name`, { field: `ref.${name}` });
  return v;
}

/**
 * Validates and lower-cases a reference (Azure names are case-insensitive, and the AAD of
 * every ciphertext binds these exact bytes). `collection`: the one the RPC works on, or
 * 'any' to accept secrets/keys/certificates.
 */
export function canonicalRef(input: RefInput | null | undefined, collection: Collection | 'any', version: VersionRule): Ref {
  if (!input) throw badParameter('ref is required', { field: 'ref' });
  const tenant = field(input.tenant, 'tenant', TENANT);
  const vault = field(input.vault, 'vault', SEGMENT);
  const rawCollection = (input.collection ?? '').trim().toLowerCase() || (collection === 'any' ? '' : collection);
  if (!(COLLECTIONS as readonly string[]).includes(rawCollection) || (collection !== 'any' && rawCollection !== collection)) {
    throw badParameter(collection === 'any' ? 'ref.collection must be secrets, keys or certificates' : `ref.collection must be ${collection}`, { field: 'ref.collection' });
  }
  const name = field(input.name, 'name', SEGMENT);
  const rawVersion = (input.version ?? '').trim().toLowerCase();
  let v = '';
  if (version === 'key-version') {
    if (!KEY_VERSION.test(rawVersion)) throw badParameter('ref.version must be 32 lower-case hex characters', { field: 'ref.version' });
    v = rawVersion;
  } else if (rawVersion !== '' || version === 'required') {
    v = field(rawVersion, 'version', VERSION);
  }
  return { tenant, vault, collection: rawCollection as Collection, name, version: v };
}

/** The event stream of one key (all its versions). */
export function keyStreamId(ref: Pick<Ref, 'tenant' | 'vault' | 'name'>): string {
  return `key-${ref.tenant}/${ref.vault}/${ref.name}`;
}

/** The object's path for audit records: /tenants/{t}/vaults/{v}/{collection}/{name}[/{version}]. */
export function resourceIdOf(ref: Partial<Ref> | undefined): string {
  if (!ref?.tenant) return '/crypto';
  const parts = [`/tenants/${ref.tenant}`];
  if (ref.vault) parts.push(`vaults/${ref.vault}`);
  if (ref.vault && ref.collection) parts.push(ref.collection);
  if (ref.vault && ref.collection && ref.name) parts.push(ref.name);
  if (ref.vault && ref.collection && ref.name && ref.version) parts.push(ref.version);
  return parts.join('/');
}

/** The object a reference names, for the published contracts (AppendOptions.object). */
export const objectIdentityOf = (ref: Ref): ObjectIdentity => ({ vault: ref.vault, collection: ref.collection, name: ref.name });
