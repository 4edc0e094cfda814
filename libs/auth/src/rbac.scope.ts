/**
 * RBAC scopes and resource paths.
 *
 * A scope is a `/`-separated path: `/`, `/vaults/{v}`, `/vaults/{v}/{secrets|keys|certificates}`,
 * `/vaults/{v}/{collection}/{name}`, `/managedHSMs/{pool}`, `/managedHSMs/{pool}/keys`,
 * `/managedHSMs/{pool}/keys/{name}`. A resource being accessed is a path of the same shape (it may
 * go deeper, e.g. a version). Names are compared case-insensitively, as Azure treats vault and
 * object names, so paths are normalised to lower case once, and "covers" is a segment-wise prefix
 * test on the normalised string.
 */

export type ScopePath = {
  /** Normalised (lower-case, no trailing slash except the root) path, e.g. `/vaults/dev/secrets/db`. */
  readonly key: string;
  readonly segments: readonly string[];
};

const SEGMENT = /^[a-z0-9_~.-]{1,127}$/;
const MAX_SCOPE_LENGTH = 1024;

export const ROOT_SCOPE: ScopePath = Object.freeze({ key: '/', segments: Object.freeze([]) });

/**
 * Parses and normalises a scope or resource path; `undefined` when it is not well formed
 * (relative, empty or `.`/`..` segments, characters outside `[A-Za-z0-9_~.-]`, too long).
 * One trailing slash is tolerated (`/vaults/v/` = `/vaults/v`).
 */
export function parseScope(raw: string): ScopePath | undefined {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > MAX_SCOPE_LENGTH || raw[0] !== '/') return undefined;
  if (raw === '/') return ROOT_SCOPE;
  const body = raw.endsWith('/') ? raw.slice(1, -1) : raw.slice(1);
  const segments = body.toLowerCase().split('/');
  for (const s of segments) {
    if (!SEGMENT.test(s) || s === '.' || s === '..') return undefined;
  }
  return Object.freeze({ key: `/${segments.join('/')}`, segments: Object.freeze(segments) });
}

/** True when an assignment at `scopeKey` applies to `resourceKey` (equal, or a segment-wise ancestor). */
export function scopeCovers(scopeKey: string, resourceKey: string): boolean {
  if (scopeKey === '/') return true;
  if (resourceKey.length === scopeKey.length) return resourceKey === scopeKey;
  return resourceKey.length > scopeKey.length && resourceKey.charCodeAt(scopeKey.length) === 47 /* / */ && resourceKey.startsWith(scopeKey);
}

const VAULT_COLLECTIONS = new Set(['secrets', 'keys', 'certificates']);

/**
 * The scopes a role assignment may be created at: `/`, a vault, a vault collection, a single
 * object, a managed HSM pool, its `/keys`, or a single HSM key. (The identity service validates
 * with this; the evaluator itself accepts any well-formed path.)
 */
export function isAssignableScope(raw: string): boolean {
  const p = parseScope(raw);
  if (p === undefined) return false;
  const [root, , collection] = p.segments;
  const n = p.segments.length;
  if (n === 0) return true;
  if (root === 'vaults') return n === 2 || ((n === 3 || n === 4) && VAULT_COLLECTIONS.has(collection ?? ''));
  if (root === 'managedhsms') return n === 2 || ((n === 3 || n === 4) && collection === 'keys');
  return false;
}

/** Builds scope strings without string concatenation mistakes at call sites. */
export const Scopes = {
  root: (): string => '/',
  vault: (vault: string): string => `/vaults/${vault}`,
  collection: (vault: string, collection: 'secrets' | 'keys' | 'certificates'): string => `/vaults/${vault}/${collection}`,
  object: (vault: string, collection: 'secrets' | 'keys' | 'certificates', name: string): string => `/vaults/${vault}/${collection}/${name}`,
  managedHsm: (pool: string): string => `/managedHSMs/${pool}`,
  managedHsmKeys: (pool: string): string => `/managedHSMs/${pool}/keys`,
  managedHsmKey: (pool: string, name: string): string => `/managedHSMs/${pool}/keys/${name}`,
} as const;
