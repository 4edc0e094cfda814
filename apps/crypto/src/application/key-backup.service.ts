import { randomUUID } from 'node:crypto';
import { loadSoftwareKey, type PrivateJwk } from '#libs/crypto-core';
import { decideAndAppend, type EventStore, type RecordedEvent } from '#libs/eventstore';
import { HsmKeysAdapter } from '../adapters/hsm/hsm-keys.adapter.js';
import type { TokenBackupAdapter, TokenKeyShape } from '../adapters/hsm/token-backup.adapter.js';
import type { KeysRepository } from '../adapters/persistence/keys.repository.js';
import { badParameter, ErrorCode, serviceError } from '../domain/crypto.errors.js';
import { keyDecider, type KeyState, type KeyVersionState, type RestoredVersion } from '../domain/key.decider.js';
import type { KeyEvent } from '../domain/key.events.js';
import { CURVE_NAMES, familyOf, KEY_OPERATIONS, KEY_TYPES, type Curve, type KeyVersionData, type PublicKeyData } from '../domain/key.model.js';
import { canonicalRef, keyStreamId, objectIdentityOf, type Ref, type RefInput } from '../domain/object-ref.js';
import type { BackupService } from './backup.service.js';
import type { KeyDirectory } from './key-directory.js';
import type { KeyMaterialService } from './key-material.service.js';
import { keyVersionView, type KeyVersionView } from './key-view.js';
import { actorOf, publicKeyOf, type KeysService, type NewMaterial } from './keys.service.js';
import type { AuditScope, CallerContext } from './operation-auditor.js';
import type { RootKeyService } from './root-key.service.js';

/** Backup purpose (binds the blob: a secret backup cannot be restored as a key and back). */
export const KEY_BACKUP_PURPOSE = 'keyledger/key-backup/v1';
const FORMAT = 'keyledger.key-backup/1';
const MAX_VERSIONS = 500;

type BackupMaterial = { readonly kind: 'software'; readonly jwk: PrivateJwk } | { readonly kind: 'hsm'; readonly wrapped: string };

interface BackupPayload {
  readonly format: string;
  readonly tenant: string;
  readonly vault: string;
  readonly name: string;
  readonly backedUp: number;
  readonly versions: readonly { readonly data: KeyVersionState; readonly material: BackupMaterial }[];
}

const nowSeconds = (): number => Math.floor(Date.now() / 1000);
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v), 'utf8');

function malformed(what: string): Error {
  return serviceError(ErrorCode.CiphertextInvalid, `the key backup is malformed (${what})`);
}

function shapeOf(v: Pick<KeyVersionData, 'kty' | 'publicKey'>): TokenKeyShape {
  const family = familyOf(v.kty);
  if (family === 'oct') return { family: 'oct' };
  const pk = v.publicKey;
  if (family === 'RSA' && pk?.kty === 'RSA') return { family: 'RSA', publicKey: { kty: 'RSA', n: pk.n, e: pk.e } };
  if (family === 'EC' && pk?.kty === 'EC') return { family: 'EC', publicKey: { kty: 'EC', crv: pk.crv, x: pk.x, y: pk.y } };
  throw malformed('public key does not match the key type');
}

const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const isStr = (x: unknown): x is string => typeof x === 'string' && x.length > 0;
const isInt = (x: unknown): x is number => Number.isSafeInteger(x);
const isIntOrNull = (x: unknown): x is number | null => x === null || isInt(x);

/** The version data a blob carries, checked field by field (the blob is authenticated, but its format is versioned). */
function versionOf(x: unknown): Omit<KeyVersionState, 'tenant' | 'vault' | 'name' | 'materialId'> {
  if (!isObj(x)) throw malformed('version');
  const { version, kty, hsm, sizeBits, crv, keyOps, enabled, notBefore, expires, exportable, publicKey, created, updated } = x;
  if (!isStr(version) || !/^[0-9a-f]{32}$/.test(version)) throw malformed('version id');
  if (!isStr(kty) || !(KEY_TYPES as readonly string[]).includes(kty)) throw malformed('kty');
  if (typeof hsm !== 'boolean' || hsm !== kty.endsWith('-HSM')) throw malformed('hsm');
  if (!isInt(sizeBits) || !(crv === null || (isStr(crv) && (CURVE_NAMES as readonly string[]).includes(crv)))) throw malformed('size or curve');
  if (!Array.isArray(keyOps) || !keyOps.every((o) => (KEY_OPERATIONS as readonly string[]).includes(o as string))) throw malformed('key_ops');
  if (typeof enabled !== 'boolean' || typeof exportable !== 'boolean' || !isIntOrNull(notBefore) || !isIntOrNull(expires) || !isInt(created) || !isInt(updated)) throw malformed('attributes');
  let pk: PublicKeyData | null = null;
  if (publicKey !== null) {
    if (!isObj(publicKey)) throw malformed('public key');
    if (publicKey.kty === 'RSA' && isStr(publicKey.n) && isStr(publicKey.e)) pk = { kty: 'RSA', n: publicKey.n, e: publicKey.e };
    else if (publicKey.kty === 'EC' && isStr(publicKey.crv) && (CURVE_NAMES as readonly string[]).includes(publicKey.crv) && isStr(publicKey.x) && isStr(publicKey.y)) {
      pk = { kty: 'EC', crv: publicKey.crv as Curve, x: publicKey.x, y: publicKey.y };
    } else throw malformed('public key');
  }
  return {
    version,
    kty: kty as KeyVersionData['kty'],
    hsm,
    sizeBits,
    crv: crv as KeyVersionData['crv'],
    keyOps: keyOps as KeyVersionData['keyOps'],
    enabled,
    notBefore,
    expires,
    exportable,
    publicKey: pk,
    created,
    updated,
  };
}

/**
 * Key backup and restore (Azure's backupKey / restoreKey): a blob with every version of a key
 * — attributes, key_ops, public parts, and the material: software keys as their private JWK,
 * HSM keys wrapped inside the token by its backup wrapping key — sealed by the BackupService
 * under the root. Only a deployment holding the same root (and, for HSM keys, the same token)
 * can restore it; restore is into any vault of the same tenant, under the key's own name, and
 * refused while a live or deleted key holds that name.
 */
export class KeyBackupService {
  constructor(
    private readonly store: EventStore,
    private readonly repo: KeysRepository,
    private readonly directory: KeyDirectory,
    private readonly material: KeyMaterialService,
    private readonly keys: KeysService,
    private readonly root: RootKeyService,
    private readonly hsm: HsmKeysAdapter,
    private readonly tokenBackup: TokenBackupAdapter,
    private readonly backups: BackupService,
  ) {}

  async backup(input: { ctx?: CallerContext | null; ref?: RefInput | null }, scope: AuditScope): Promise<Buffer> {
    this.root.root();
    const ref = { ...canonicalRef(input.ref, 'keys', 'optional'), version: '' };
    scope.ref = ref;
    const state = await this.state(ref);
    if (state.versions.size === 0 || state.deleted !== null) throw serviceError(ErrorCode.KeyNotFound, state.deleted !== null ? 'the key is deleted' : 'the key does not exist');
    if (state.versions.size > MAX_VERSIONS) throw serviceError(ErrorCode.NotSupported, `keys with more than ${MAX_VERSIONS} versions cannot be backed up`);
    scope.extra.versions = String(state.versions.size);
    const head: Omit<BackupPayload, 'versions'> = { format: FORMAT, tenant: ref.tenant, vault: ref.vault, name: ref.name, backedUp: nowSeconds() };
    const parts: Buffer[] = [Buffer.from(`${JSON.stringify(head).slice(0, -1)},"versions":[`, 'utf8')];
    try {
      let first = true;
      for (const v of state.versions.values()) {
        parts.push(Buffer.from(`${first ? '' : ','}{"data":`, 'utf8'), json(v), Buffer.from(',"material":', 'utf8'));
        first = false;
        if (v.hsm) {
          const objectId = await this.material.hsmObjectId(v);
          this.root.token();
          parts.push(json({ kind: 'hsm', wrapped: this.tokenBackup.wrap(objectId, shapeOf(v)).toString('base64url') }));
        } else {
          // The private JWK goes in as the bytes the envelope opened to (zeroed below), never as a JS string.
          parts.push(Buffer.from('{"kind":"software","jwk":', 'utf8'), await this.material.openPrivateJwk(v), Buffer.from('}', 'utf8'));
        }
        parts.push(Buffer.from('}', 'utf8'));
      }
      parts.push(Buffer.from(']}', 'utf8'));
      const payload = Buffer.concat(parts);
      try {
        return await this.backups.seal(KEY_BACKUP_PURPOSE, payload);
      } finally {
        payload.fill(0);
      }
    } finally {
      for (const p of parts) p.fill(0);
    }
  }

  async restore(input: { ctx?: CallerContext | null; ref?: RefInput | null; blob?: Buffer | null }, scope: AuditScope): Promise<{ key: KeyVersionView; versions: string[] }> {
    this.root.root();
    const blob = input.blob ?? Buffer.alloc(0);
    if (blob.length === 0) throw badParameter('blob is required', { field: 'blob' });
    const payload = this.parse(await this.backups.open(KEY_BACKUP_PURPOSE, blob));
    const ref: Ref = canonicalRef({ ...(input.ref ?? {}), name: input.ref?.name || payload.name, version: '' }, 'keys', 'optional');
    scope.ref = ref;
    if (payload.tenant !== ref.tenant) throw badParameter('the backup was made in another tenant', { field: 'blob' });
    if (ref.name !== payload.name) throw badParameter('the backup holds another key than ref.name', { field: 'ref.name' });
    scope.extra.restoredFromVault = payload.vault;
    scope.extra.versions = String(payload.versions.length);
    if (await this.repo.nameTaken(ref.tenant, ref.vault, ref.name)) throw serviceError(ErrorCode.KeyConflict, 'a key (live or deleted) with this name exists in the vault');

    const made: NewMaterial[] = [];
    const versions: RestoredVersion[] = [];
    try {
      for (const { data, material } of payload.versions) {
        const versionRef: Ref = { ...ref, version: data.version };
        const m = await this.materialFor(versionRef, data, material);
        made.push(m);
        versions.push({ ...data, tenant: ref.tenant, vault: ref.vault, name: ref.name, materialId: m.row.materialId });
      }
      const streamId = keyStreamId(ref);
      const result = await decideAndAppend(this.store, keyDecider, streamId, { type: 'RestoreKey', data: { versions, restored: nowSeconds(), fromVault: payload.vault } }, {
        metadata: { actor: actorOf(input.ctx), tenant: ref.tenant, ...(input.ctx?.correlationId ? { correlationId: input.ctx.correlationId } : {}) },
        object: objectIdentityOf(ref),
        audit: [scope.successRecord()],
        inTransaction: async (tx, recorded: readonly RecordedEvent<KeyEvent>[]) => {
          for (const m of made) await this.repo.insertMaterial(tx, m.row);
          await this.repo.apply(tx, streamId, recorded);
        },
      });
      scope.markWritten();
      const latest = [...result.state.versions.values()].pop();
      if (!latest) throw serviceError(ErrorCode.Internal, 'restore produced no version');
      return { key: keyVersionView(latest), versions: versions.map((v) => v.version) };
    } catch (err) {
      for (const m of made) m.discard();
      throw err;
    } finally {
      this.directory.invalidate(ref.tenant, ref.vault, ref.name);
    }
  }

  private async state(ref: Ref): Promise<KeyState> {
    const events = await this.store.readStream<KeyEvent>(keyStreamId(ref));
    return events.reduce((s, e) => keyDecider.evolve(s, e), keyDecider.initialState());
  }

  private parse(payload: Buffer): Omit<BackupPayload, 'versions'> & { versions: { data: Omit<KeyVersionState, 'tenant' | 'vault' | 'name' | 'materialId'>; material: BackupMaterial }[] } {
    let doc: unknown;
    try {
      doc = JSON.parse(payload.toString('utf8'));
    } catch {
      throw malformed('not JSON');
    } finally {
      payload.fill(0);
    }
    if (!isObj(doc) || doc.format !== FORMAT) throw malformed('format');
    const { tenant, vault, name, backedUp, versions } = doc;
    if (!isStr(tenant) || !isStr(vault) || !isStr(name) || !isInt(backedUp) || !Array.isArray(versions) || versions.length === 0 || versions.length > MAX_VERSIONS) throw malformed('header');
    return {
      format: FORMAT,
      tenant,
      vault,
      name,
      backedUp,
      versions: versions.map((entry: unknown) => {
        if (!isObj(entry) || !isObj(entry.material)) throw malformed('entry');
        const data = versionOf(entry.data);
        const m = entry.material;
        if (m.kind === 'software' && !data.hsm && isObj(m.jwk)) return { data, material: { kind: 'software' as const, jwk: m.jwk as unknown as PrivateJwk } };
        if (m.kind === 'hsm' && data.hsm && isStr(m.wrapped)) return { data, material: { kind: 'hsm' as const, wrapped: m.wrapped } };
        throw malformed('material');
      }),
    };
  }

  /** New material for a restored version: software re-sealed under the target vault's KEK, HSM unwrapped into the token. */
  private async materialFor(ref: Ref, data: Omit<KeyVersionState, 'tenant' | 'vault' | 'name' | 'materialId'>, material: BackupMaterial): Promise<NewMaterial> {
    if (material.kind === 'software') {
      const checked = loadSoftwareKey(material.jwk);
      const samePublic = JSON.stringify(publicKeyOf(checked)) === JSON.stringify(data.publicKey) && familyOf(data.kty) === checked.kty;
      checked.destroy();
      if (!samePublic) throw malformed('material does not match the recorded public key');
      return this.keys.storeSoftware(ref, material.jwk);
    }
    const token = this.root.token();
    const objectId = HsmKeysAdapter.newObjectId();
    const shape = shapeOf(data);
    this.tokenBackup.unwrap(objectId, shape, Buffer.from(material.wrapped, 'base64url'));
    const discard = (): void => {
      try {
        this.hsm.destroy(this.root.token(), objectId);
      } catch {
        /* the token went away: the orphan object holds no reachable reference */
      }
    };
    if (shape.family !== 'oct') {
      try {
        const pair = this.hsm.find(token, objectId);
        if (JSON.stringify(publicKeyOf(pair)) !== JSON.stringify(data.publicKey)) throw malformed('the unwrapped HSM key does not match the recorded public key');
      } catch (err) {
        discard();
        throw err;
      }
    }
    return {
      row: { materialId: `km-${randomUUID()}`, tenant: ref.tenant, vault: ref.vault, name: ref.name, version: ref.version, kekId: null, wrapped: null, hsmObjectId: objectId },
      publicKey: data.publicKey,
      sizeBits: data.sizeBits,
      crv: data.crv,
      discard,
    };
  }
}
