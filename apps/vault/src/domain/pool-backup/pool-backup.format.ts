import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import type { PoolAdministrationState } from '../pool-administration/pool-administration.decider.js';
import type { PoolPermission, PoolRoleAssignment, PoolRoleDefinition } from '../pool-administration/pool-administration.events.js';

/**
 * The folder a full backup of a Managed HSM pool writes (Keyledger's own format; Azure's is not
 * published): `{folder}/backup.json`, a manifest MAC'd under the pool's security domain, and one
 * blob per key, `{folder}/keys/{name}`, holding the key's Keyledger backup (every version, its
 * attributes, tags and rotation policy, the material sealed by the crypto service) encrypted
 * with AES-256-GCM under a key derived from the security domain and bound to the domain id and
 * key name. Only a pool holding the same security domain opens either.
 *
 * Manifest version 2 adds `{folder}/administration`: the pool's local RBAC and settings (custom
 * role definitions, role assignments, settings — ids, names, scopes, permissions; nothing
 * secret) as JSON, encrypted the same way with its own AAD, its path and digest in the MAC'd
 * manifest. Version 1 manifests (backups made before) are still read: keys only.
 */
export const MANIFEST_BLOB = 'backup.json';
export const ADMINISTRATION_BLOB = 'administration';
export const BACKUP_KIND = 'keyledger.managedhsm.backup';
export const ADMINISTRATION_KIND = 'keyledger.managedhsm.administration';
const BLOB_MAGIC = Buffer.from('KLMHSMB1', 'ascii');
const ADMINISTRATION_MAGIC = Buffer.from('KLMHSMA1', 'ascii');
const NONCE = 12;
const TAG = 16;

export type ManifestKey = { readonly name: string; readonly blob: string; readonly versions: number; readonly sha256: string };
/** The administration blob a version 2 manifest names. */
export type ManifestAdministration = { readonly blob: string; readonly sha256: string };
export type BackupManifest = {
  readonly kind: typeof BACKUP_KIND;
  /** 1: keys only (before role assignments were backed up); 2: keys and `administration`. */
  readonly version: 1 | 2;
  readonly pool: string;
  readonly domainId: string;
  readonly created: number;
  readonly keys: readonly ManifestKey[];
  readonly administration?: ManifestAdministration;
  readonly mac: string;
};

export class BackupFormatError extends Error {
  constructor(
    readonly kind: 'OtherDomain' | 'Tampered' | 'Malformed',
    message: string,
  ) {
    super(message);
    this.name = 'BackupFormatError';
  }
}

const derive = (domainKey: Buffer, domainId: string, use: 'enc' | 'mac'): Buffer =>
  Buffer.from(hkdfSync('sha256', domainKey, Buffer.from(domainId, 'utf8'), `keyledger/managedhsm-backup/${use}/v1`, 32));

const aad = (domainId: string, name: string): Buffer => Buffer.from(`keyledger/managedhsm-backup/v1|${domainId}|${name.toLowerCase()}`, 'utf8');

export const keyBlobPath = (folder: string, nameKey: string): string => `${folder}/keys/${nameKey}`;

function seal(domainKey: Buffer, domainId: string, magic: Buffer, additional: Buffer, plain: Buffer): Buffer {
  const key = derive(domainKey, domainId, 'enc');
  const nonce = randomBytes(NONCE);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(additional);
  const body = Buffer.concat([c.update(plain), c.final()]);
  key.fill(0);
  return Buffer.concat([magic, nonce, body, c.getAuthTag()]);
}

function open(domainKey: Buffer, domainId: string, magic: Buffer, additional: Buffer, blob: Buffer, what: string): Buffer {
  if (blob.length < magic.length + NONCE + TAG + 1 || !blob.subarray(0, magic.length).equals(magic)) throw new BackupFormatError('Malformed', `The backup blob of ${what} is not a Keyledger Managed HSM backup blob.`);
  const key = derive(domainKey, domainId, 'enc');
  try {
    const nonce = blob.subarray(magic.length, magic.length + NONCE);
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(additional);
    d.setAuthTag(blob.subarray(blob.length - TAG));
    return Buffer.concat([d.update(blob.subarray(magic.length + NONCE, blob.length - TAG)), d.final()]);
  } catch {
    throw new BackupFormatError('Tampered', `The backup blob of ${what} failed its integrity check (altered, or not made by this security domain).`);
  } finally {
    key.fill(0);
  }
}

export function sealKeyBlob(domainKey: Buffer, domainId: string, name: string, plain: Buffer): Buffer {
  return seal(domainKey, domainId, BLOB_MAGIC, aad(domainId, name), plain);
}

export function openKeyBlob(domainKey: Buffer, domainId: string, name: string, blob: Buffer): Buffer {
  return open(domainKey, domainId, BLOB_MAGIC, aad(domainId, name), blob, `key ${name}`);
}

/** `/` cannot occur in a key name, so no key blob's AAD equals this one. */
const administrationAad = (domainId: string): Buffer => aad(domainId, '/administration');

/** The pool's administration (role definitions, assignments, settings) as the folder's `administration` blob. */
export function sealAdministrationBlob(domainKey: Buffer, domainId: string, state: PoolAdministrationState): Buffer {
  return seal(domainKey, domainId, ADMINISTRATION_MAGIC, administrationAad(domainId), encodeAdministration(state));
}

/** The `administration` blob opened (GCM under the domain) and checked for shape. */
export function openAdministrationBlob(domainKey: Buffer, domainId: string, blob: Buffer): PoolAdministrationState {
  return decodeAdministration(open(domainKey, domainId, ADMINISTRATION_MAGIC, administrationAad(domainId), blob, 'the role assignments and definitions'));
}

/** Deterministic JSON of a pool's administration (sorted by id / name). Ids, names, scopes and permissions only. */
export function encodeAdministration(state: PoolAdministrationState): Buffer {
  const byId = <T>(m: ReadonlyMap<string, T>): T[] => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
  const body = {
    kind: ADMINISTRATION_KIND,
    version: 1,
    definitions: byId(state.definitions).map((d) => ({
      roleDefinitionId: d.roleDefinitionId,
      roleName: d.roleName,
      description: d.description,
      assignableScopes: [...d.assignableScopes],
      permissions: d.permissions.map((p) => ({ actions: [...p.actions], notActions: [...p.notActions], dataActions: [...p.dataActions], notDataActions: [...p.notDataActions] })),
    })),
    assignments: byId(state.assignments).map((a) => ({ assignmentId: a.assignmentId, principalId: a.principalId, roleDefinitionId: a.roleDefinitionId, scope: a.scope })),
    settings: byId(new Map([...state.settings.entries()].map(([name, value]) => [name, { name, value }]))),
  };
  return Buffer.from(JSON.stringify(body), 'utf8');
}

const LIMIT = 10_000;
const str = (x: unknown, max = 1024): x is string => typeof x === 'string' && x.length > 0 && x.length <= max;
const strs = (x: unknown): x is string[] => Array.isArray(x) && x.length <= LIMIT && x.every((e) => typeof e === 'string' && e.length <= 1024);
const record = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function permissionOf(x: unknown): PoolPermission | undefined {
  if (!record(x) || !strs(x.actions) || !strs(x.notActions) || !strs(x.dataActions) || !strs(x.notDataActions)) return undefined;
  return { actions: x.actions, notActions: x.notActions, dataActions: x.dataActions, notDataActions: x.notDataActions };
}

function definitionOf(x: unknown): PoolRoleDefinition | undefined {
  if (!record(x) || !str(x.roleDefinitionId, 64) || !str(x.roleName) || typeof x.description !== 'string' || !strs(x.assignableScopes) || !Array.isArray(x.permissions)) return undefined;
  const permissions = x.permissions.map(permissionOf);
  if (permissions.some((p) => p === undefined)) return undefined;
  return { roleDefinitionId: x.roleDefinitionId, roleName: x.roleName, description: x.description, assignableScopes: x.assignableScopes, permissions: permissions as PoolPermission[] };
}

function assignmentOf(x: unknown): PoolRoleAssignment | undefined {
  if (!record(x) || !str(x.assignmentId, 64) || !str(x.principalId, 64) || !str(x.roleDefinitionId, 64) || !str(x.scope, 256)) return undefined;
  return { assignmentId: x.assignmentId, principalId: x.principalId, roleDefinitionId: x.roleDefinitionId, scope: x.scope };
}

/** The inverse of `encodeAdministration`; anything else is `Malformed`. */
export function decodeAdministration(bytes: Buffer): PoolAdministrationState {
  const malformed = (): BackupFormatError => new BackupFormatError('Malformed', 'The role assignments and definitions of the backup are not in a format Keyledger reads.');
  let o: unknown;
  try {
    o = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw malformed();
  }
  if (!record(o) || o.kind !== ADMINISTRATION_KIND || o.version !== 1 || !Array.isArray(o.definitions) || !Array.isArray(o.assignments) || !Array.isArray(o.settings)) throw malformed();
  if (o.definitions.length > LIMIT || o.assignments.length > LIMIT || o.settings.length > LIMIT) throw malformed();
  const definitions = new Map<string, PoolRoleDefinition>();
  for (const x of o.definitions) {
    const d = definitionOf(x);
    if (d === undefined) throw malformed();
    definitions.set(d.roleDefinitionId, d);
  }
  const assignments = new Map<string, PoolRoleAssignment>();
  for (const x of o.assignments) {
    const a = assignmentOf(x);
    if (a === undefined) throw malformed();
    assignments.set(a.assignmentId, a);
  }
  const settings = new Map<string, string>();
  for (const x of o.settings) {
    if (!record(x) || !str(x.name, 128) || typeof x.value !== 'string' || x.value.length > 1024) throw malformed();
    settings.set(x.name, x.value);
  }
  return { definitions, assignments, settings };
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('base64url');

function macOf(domainKey: Buffer, m: Omit<BackupManifest, 'mac'>): string {
  const key = derive(domainKey, m.domainId, 'mac');
  // Version 1's canonical form is unchanged (old backups still verify); version 2 adds `administration`.
  const canonical = JSON.stringify({
    kind: m.kind,
    version: m.version,
    pool: m.pool,
    domainId: m.domainId,
    created: m.created,
    keys: m.keys.map((k) => ({ name: k.name, blob: k.blob, versions: k.versions, sha256: k.sha256 })),
    ...(m.version === 2 && m.administration ? { administration: { blob: m.administration.blob, sha256: m.administration.sha256 } } : {}),
  });
  const mac = createHmac('sha256', key).update(canonical).digest('base64url');
  key.fill(0);
  return mac;
}

/** A version 2 manifest: the keys and the administration blob. */
export function buildManifest(domainKey: Buffer, m: Omit<BackupManifest, 'mac' | 'kind' | 'version' | 'administration'> & { readonly administration: ManifestAdministration }): Buffer {
  const body = { kind: BACKUP_KIND as typeof BACKUP_KIND, version: 2 as const, ...m };
  return Buffer.from(JSON.stringify({ ...body, mac: macOf(domainKey, body) }, null, 1), 'utf8');
}

/**
 * The manifest of a backup folder, checked: its shape, that it was made under the domain
 * `domainId` (else `OtherDomain`), and its MAC under this domain key (else `Tampered`).
 */
export function openManifest(domainKey: Buffer, domainId: string, bytes: Buffer): BackupManifest {
  let o: unknown;
  try {
    o = JSON.parse(bytes.toString('utf8'));
  } catch {
    throw new BackupFormatError('Malformed', 'The backup folder has no valid Keyledger backup manifest.');
  }
  const m = o as Partial<BackupManifest>;
  const keyOk = (k: unknown): boolean => {
    const r = k as Partial<ManifestKey>;
    return typeof r === 'object' && r !== null && typeof r.name === 'string' && /^[0-9a-zA-Z-]{1,127}$/.test(r.name) && typeof r.blob === 'string' && Number.isInteger(r.versions) && typeof r.sha256 === 'string';
  };
  const adminOk = (a: unknown): boolean => {
    const r = a as Partial<ManifestAdministration>;
    return typeof r === 'object' && r !== null && r.blob === ADMINISTRATION_BLOB && typeof r.sha256 === 'string';
  };
  const versionOk = m?.version === 1 ? m.administration === undefined : m?.version === 2 && adminOk(m.administration);
  if (m?.kind !== BACKUP_KIND || !versionOk || typeof m.pool !== 'string' || typeof m.domainId !== 'string' || !Number.isInteger(m.created) || !Array.isArray(m.keys) || !m.keys.every(keyOk) || typeof m.mac !== 'string') {
    throw new BackupFormatError('Malformed', 'The backup folder has no valid Keyledger backup manifest.');
  }
  if (m.domainId !== domainId) throw new BackupFormatError('OtherDomain', 'The backup was made by a Managed HSM with another security domain: restore it into a pool holding that security domain (upload it first).');
  const want = Buffer.from(macOf(domainKey, m as BackupManifest), 'base64url');
  const got = Buffer.from(m.mac, 'base64url');
  if (want.length !== got.length || !timingSafeEqual(want, got)) throw new BackupFormatError('Tampered', 'The backup manifest failed its integrity check: the backup was altered.');
  return m as BackupManifest;
}

/** `mhsm-{pool}-{yyyyMMddHHmmss}{2 digits}`, as Azure names a backup folder. */
export function backupFolderName(pool: string, at: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  return `mhsm-${pool.toLowerCase()}-${at.getUTCFullYear()}${p(at.getUTCMonth() + 1)}${p(at.getUTCDate())}${p(at.getUTCHours())}${p(at.getUTCMinutes())}${p(at.getUTCSeconds())}${p(Math.floor(at.getUTCMilliseconds() / 10))}`;
}
