import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The folder a full backup of a Managed HSM pool writes (Keyledger's own format; Azure's is not
 * published): `{folder}/backup.json`, a manifest MAC'd under the pool's security domain, and one
 * blob per key, `{folder}/keys/{name}`, holding the key's Keyledger backup (every version, its
 * attributes, tags and rotation policy, the material sealed by the crypto service) encrypted
 * with AES-256-GCM under a key derived from the security domain and bound to the domain id and
 * key name. Only a pool holding the same security domain opens either.
 */
export const MANIFEST_BLOB = 'backup.json';
export const BACKUP_KIND = 'keyledger.managedhsm.backup';
const BLOB_MAGIC = Buffer.from('KLMHSMB1', 'ascii');
const NONCE = 12;
const TAG = 16;

export type ManifestKey = { readonly name: string; readonly blob: string; readonly versions: number; readonly sha256: string };
export type BackupManifest = {
  readonly kind: typeof BACKUP_KIND;
  readonly version: 1;
  readonly pool: string;
  readonly domainId: string;
  readonly created: number;
  readonly keys: readonly ManifestKey[];
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

export function sealKeyBlob(domainKey: Buffer, domainId: string, name: string, plain: Buffer): Buffer {
  const key = derive(domainKey, domainId, 'enc');
  const nonce = randomBytes(NONCE);
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad(domainId, name));
  const body = Buffer.concat([c.update(plain), c.final()]);
  key.fill(0);
  return Buffer.concat([BLOB_MAGIC, nonce, body, c.getAuthTag()]);
}

export function openKeyBlob(domainKey: Buffer, domainId: string, name: string, blob: Buffer): Buffer {
  if (blob.length < BLOB_MAGIC.length + NONCE + TAG + 1 || !blob.subarray(0, BLOB_MAGIC.length).equals(BLOB_MAGIC)) throw new BackupFormatError('Malformed', `The backup blob of key ${name} is not a Keyledger Managed HSM backup blob.`);
  const key = derive(domainKey, domainId, 'enc');
  try {
    const nonce = blob.subarray(BLOB_MAGIC.length, BLOB_MAGIC.length + NONCE);
    const d = createDecipheriv('aes-256-gcm', key, nonce);
    d.setAAD(aad(domainId, name));
    d.setAuthTag(blob.subarray(blob.length - TAG));
    return Buffer.concat([d.update(blob.subarray(BLOB_MAGIC.length + NONCE, blob.length - TAG)), d.final()]);
  } catch {
    throw new BackupFormatError('Tampered', `The backup blob of key ${name} failed its integrity check (altered, or not made by this security domain).`);
  } finally {
    key.fill(0);
  }
}

export const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('base64url');

function macOf(domainKey: Buffer, m: Omit<BackupManifest, 'mac'>): string {
  const key = derive(domainKey, m.domainId, 'mac');
  const canonical = JSON.stringify({ kind: m.kind, version: m.version, pool: m.pool, domainId: m.domainId, created: m.created, keys: m.keys.map((k) => ({ name: k.name, blob: k.blob, versions: k.versions, sha256: k.sha256 })) });
  const mac = createHmac('sha256', key).update(canonical).digest('base64url');
  key.fill(0);
  return mac;
}

export function buildManifest(domainKey: Buffer, m: Omit<BackupManifest, 'mac' | 'kind' | 'version'>): Buffer {
  const body = { kind: BACKUP_KIND as typeof BACKUP_KIND, version: 1 as const, ...m };
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
  if (m?.kind !== BACKUP_KIND || m.version !== 1 || typeof m.pool !== 'string' || typeof m.domainId !== 'string' || !Number.isInteger(m.created) || !Array.isArray(m.keys) || !m.keys.every(keyOk) || typeof m.mac !== 'string') {
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
