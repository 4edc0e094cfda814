import { randomUUID } from 'node:crypto';
import {
  generateSoftwareKey,
  loadSoftwareKey,
  parseByokBlob,
  softwareKeyExchangeKey,
  unwrapByokBlob,
  type ByokKeyExchangeKey,
  type CurveName,
  type PrivateJwk,
  type SoftwareKey,
  type SoftwareKeySpec,
} from '#libs/crypto-core';
import { decideAndAppend, type EventStore, type RecordedEvent } from '#libs/eventstore';
import type { Sql } from '#libs/platform';
import { HsmKeysAdapter, TokenKey } from '../adapters/hsm/hsm-keys.adapter.js';
import type { TokenImportAdapter } from '../adapters/hsm/token-import.adapter.js';
import type { KeysRepository, KeyMaterialRow } from '../adapters/persistence/keys.repository.js';
import { badParameter, ErrorCode, serviceError } from '../domain/crypto.errors.js';
import { keyDecider, resolveVersion, type KeyCommand } from '../domain/key.decider.js';
import type { KeyEvent } from '../domain/key.events.js';
import {
  assertKeyUsable,
  CURVE_NAMES,
  familyOf,
  isHsmType,
  keyTypeOf,
  normalizeAttributes,
  normalizeKeyOps,
  parseKeyType,
  type AttributesInput,
  type Curve,
  type KeyFamily,
  type KeyVersionData,
  type PublicKeyData,
} from '../domain/key.model.js';
import { canonicalRef, keyStreamId, objectIdentityOf, type Ref, type RefInput } from '../domain/object-ref.js';
import type { KeyDirectory } from './key-directory.js';
import type { KeyMaterialService } from './key-material.service.js';
import { keyVersionView, type KeyVersionView } from './key-view.js';
import type { AuditScope, CallerContext } from './operation-auditor.js';
import type { RootKeyService } from './root-key.service.js';
import type { VaultKekService } from './vault-kek.service.js';

export interface CreateKeyInput {
  readonly ctx?: CallerContext | null;
  readonly ref?: RefInput | null;
  readonly kty?: string | null;
  readonly keySize?: number | null;
  readonly crv?: string | null;
  readonly keyOps?: readonly string[] | null;
  readonly attributes?: AttributesInput | null;
}

export interface ImportKeyInput {
  readonly ctx?: CallerContext | null;
  readonly ref?: RefInput | null;
  readonly jwkJson?: string | null;
  readonly hsm?: boolean | null;
  readonly attributes?: AttributesInput | null;
  readonly keyOps?: readonly string[] | null;
}

export interface UpdateKeyInput {
  readonly ctx?: CallerContext | null;
  readonly ref?: RefInput | null;
  readonly attributes?: AttributesInput | null;
  readonly keyOps?: readonly string[] | null;
}

const MAX_JWK_JSON_BYTES = 64 * 1024;
const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** Material made for a new version, before its events commit. */
export interface NewMaterial {
  readonly row: Omit<KeyMaterialRow, 'destroyed'>;
  readonly publicKey: PublicKeyData | null;
  readonly sizeBits: number;
  readonly crv: Curve | null;
  /** Undo for material that lives outside the transaction (token objects). */
  readonly discard: () => void;
}

export function publicKeyOf(key: SoftwareKey | TokenKey): PublicKeyData | null {
  const j = key.publicJwk();
  if (j.kty === 'RSA') return { kty: 'RSA', n: j.n, e: j.e };
  if (j.kty === 'EC') return { kty: 'EC', crv: j.crv, x: j.x, y: j.y };
  return null;
}

export function actorOf(ctx: CallerContext | null | undefined): string {
  return ctx?.objectId || ctx?.appId || 'unknown';
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Reads `/keys/{name}/{version}` out of a key identifier (the BYOK blob's `kid`). */
function kidParts(kid: string): { name: string; version: string } | null {
  const m = /\/keys\/([^/?#]+)\/([^/?#]+)\/?(?:[?#].*)?$/.exec(kid);
  return m ? { name: m[1]!.toLowerCase(), version: m[2]!.toLowerCase() } : null;
}

/** Key lifecycle: create, import (JWK, BYOK), get, update, destroy (purge). */
export class KeysService {
  constructor(
    private readonly store: EventStore,
    private readonly keys: KeysRepository,
    private readonly directory: KeyDirectory,
    private readonly material: KeyMaterialService,
    private readonly keks: VaultKekService,
    private readonly root: RootKeyService,
    private readonly hsm: HsmKeysAdapter,
    private readonly importer: TokenImportAdapter,
  ) {}

  async create(input: CreateKeyInput, scope: AuditScope): Promise<KeyVersionView> {
    this.root.root();
    const ref = canonicalRef(input.ref, 'keys', 'key-version');
    scope.ref = ref;
    const kty = parseKeyType(input.kty ?? '');
    const family = familyOf(kty);
    const hsm = isHsmType(kty);
    scope.hsm = hsm;
    const keyOps = normalizeKeyOps(input.keyOps, family);
    const attributes = normalizeAttributes(input.attributes);
    const spec = this.keySpec(family, input.keySize ?? 0, input.crv ?? '');
    scope.extra.kty = kty;
    await this.assertVersionFree(ref);
    const made = hsm ? this.generateInToken(ref, spec) : await this.generateSoftware(ref, spec);
    return this.addVersion(ref, input.ctx, { origin: 'generated' }, kty, hsm, keyOps, attributes, made, scope);
  }

  async import(input: ImportKeyInput, scope: AuditScope): Promise<KeyVersionView> {
    this.root.root();
    const ref = canonicalRef(input.ref, 'keys', 'key-version');
    scope.ref = ref;
    const doc = this.parseJwkJson(input.jwkJson ?? '');
    const declared = parseKeyType(typeof doc.kty === 'string' ? doc.kty : '');
    const family = familyOf(declared);
    const byok = doc.key_hsm !== undefined;
    const hsm = input.hsm === true || isHsmType(declared) || byok;
    scope.hsm = hsm;
    scope.extra.kty = keyTypeOf(family, hsm);
    scope.extra.importedFrom = byok ? 'byok' : 'jwk';
    const jwkOps = Array.isArray(doc.key_ops) ? doc.key_ops.filter((o): o is string => typeof o === 'string') : [];
    const keyOps = normalizeKeyOps(input.keyOps && input.keyOps.length > 0 ? input.keyOps : jwkOps, family);
    const attributes = normalizeAttributes(input.attributes);
    await this.assertVersionFree(ref);
    if (hsm) this.root.token();
    const jwk = byok ? await this.unwrapByok(ref, doc, family, scope) : this.privateJwkOf(doc, family);
    const made = hsm ? this.importIntoToken(ref, jwk) : await this.storeSoftware(ref, jwk);
    return this.addVersion(ref, input.ctx, { origin: 'imported', importedFrom: byok ? 'byok' : 'jwk' }, keyTypeOf(family, hsm), hsm, keyOps, attributes, made, scope);
  }

  /** A version of a live key ('' = latest); with `deleted`, of a soft-deleted key instead. */
  async get(input: { ctx?: CallerContext | null; ref?: RefInput | null; deleted?: boolean | null }, scope: AuditScope): Promise<KeyVersionView> {
    this.root.root();
    const ref = canonicalRef(input.ref, 'keys', 'optional');
    scope.ref = ref;
    const record =
      input.deleted === true
        ? await this.keys.findVersion(ref.tenant, ref.vault, ref.name, ref.version, { deleted: true })
        : await this.directory.find(ref.tenant, ref.vault, ref.name, ref.version);
    if (input.deleted === true) scope.extra.deleted = 'true';
    if (!record) throw serviceError(ErrorCode.KeyNotFound, input.deleted === true ? 'there is no deleted key (version) with this name' : ref.version === '' ? 'the key does not exist' : 'the key version does not exist');
    scope.ref = { ...ref, version: record.version };
    scope.hsm = record.hsm;
    return keyVersionView(record);
  }

  async update(input: UpdateKeyInput, scope: AuditScope): Promise<KeyVersionView> {
    this.root.root();
    const named = canonicalRef(input.ref, 'keys', 'optional');
    scope.ref = named;
    const attributes = input.attributes ? normalizeAttributes(input.attributes) : null;
    // Resolve "latest" first, so the audit record (committed with the change) names the version.
    const target = await this.directory.find(named.tenant, named.vault, named.name, named.version);
    if (!target) throw serviceError(ErrorCode.KeyNotFound, named.version === '' ? 'the key does not exist' : 'the key version does not exist');
    const ref: Ref = { ...named, version: target.version };
    scope.ref = ref;
    scope.hsm = target.hsm;
    const streamId = keyStreamId(ref);
    const result = await decideAndAppend(
      this.store,
      keyDecider,
      streamId,
      (state): KeyCommand => {
        const current = resolveVersion(state, ref.version);
        return {
          type: 'UpdateKeyVersion',
          data: {
            version: current.version,
            attributes: attributes ? { enabled: attributes.enabled, notBefore: attributes.notBefore, expires: attributes.expires } : null,
            keyOps: input.keyOps && input.keyOps.length > 0 ? normalizeKeyOps(input.keyOps, familyOf(current.kty)) : null,
            updated: nowSeconds(),
          },
        };
      },
      {
        metadata: { actor: actorOf(input.ctx), tenant: ref.tenant, ...(input.ctx?.correlationId ? { correlationId: input.ctx.correlationId } : {}) },
        object: objectIdentityOf(ref),
        audit: [scope.successRecord()],
        inTransaction: (tx, recorded) => this.keys.apply(tx, streamId, recorded),
      },
    );
    scope.markWritten();
    this.directory.invalidate(ref.tenant, ref.vault, ref.name);
    return keyVersionView(resolveVersion(result.state, ref.version));
  }

  /** Soft delete: every version leaves use (operations, get) until recovered or purged; material is kept. */
  async delete(input: { ctx?: CallerContext | null; ref?: RefInput | null }, scope: AuditScope): Promise<{ deleted: number; versions: number }> {
    const { events } = await this.changeWholeKey(input, scope, { type: 'DeleteKey', data: { deleted: nowSeconds() } });
    const event = events[0];
    return event?.type === 'KeyDeleted' ? { deleted: event.data.deleted, versions: event.data.versions.length } : { deleted: 0, versions: 0 };
  }

  /** Undoes a soft delete; returns the latest version. */
  async recover(input: { ctx?: CallerContext | null; ref?: RefInput | null }, scope: AuditScope): Promise<KeyVersionView> {
    const { state } = await this.changeWholeKey(input, scope, { type: 'RecoverKey', data: { recovered: nowSeconds() } });
    return keyVersionView(resolveVersion(state, ''));
  }

  /** A change to every version of a key (by name), committed with its audit record; cached state of the key is dropped. */
  private async changeWholeKey(input: { ctx?: CallerContext | null; ref?: RefInput | null }, scope: AuditScope, command: KeyCommand) {
    this.root.root();
    const ref = { ...canonicalRef(input.ref, 'keys', 'optional'), version: '' };
    scope.ref = ref;
    const streamId = keyStreamId(ref);
    try {
      const result = await decideAndAppend(this.store, keyDecider, streamId, command, {
        metadata: { actor: actorOf(input.ctx), tenant: ref.tenant, ...(input.ctx?.correlationId ? { correlationId: input.ctx.correlationId } : {}) },
        object: objectIdentityOf(ref),
        audit: [scope.successRecord()],
        inTransaction: (tx, recorded) => this.keys.apply(tx, streamId, recorded),
      });
      scope.markWritten();
      return result;
    } finally {
      this.directory.invalidate(ref.tenant, ref.vault, ref.name);
      this.material.evictKey(ref.tenant, ref.vault, ref.name);
    }
  }

  /** Purge: destroys every version's material (software envelopes and token objects). */
  async destroy(input: { ctx?: CallerContext | null; ref?: RefInput | null }, scope: AuditScope): Promise<number> {
    this.root.root();
    const ref = canonicalRef(input.ref, 'keys', 'optional');
    scope.ref = { ...ref, version: '' };
    const streamId = keyStreamId(ref);
    let destroyed = 0;
    try {
      const result = await decideAndAppend(
        this.store,
        keyDecider,
        streamId,
        { type: 'DestroyKey', data: { destroyed: nowSeconds() } },
        {
          metadata: { actor: actorOf(input.ctx), tenant: ref.tenant, ...(input.ctx?.correlationId ? { correlationId: input.ctx.correlationId } : {}) },
          object: objectIdentityOf(ref),
          audit: [scope.successRecord()],
          inTransaction: async (tx: Sql, recorded: readonly RecordedEvent<KeyEvent>[]) => {
            const objects = await this.keys.liveHsmObjects(tx, ref.tenant, ref.vault, ref.name);
            if (objects.length > 0) {
              const token = this.root.token();
              for (const objectId of objects) this.hsm.destroy(token, objectId);
            }
            await this.keys.apply(tx, streamId, recorded);
          },
        },
      );
      scope.markWritten();
      const event = result.events[0];
      destroyed = event?.type === 'KeyDestroyed' ? event.data.versions.length : 0;
    } finally {
      this.directory.invalidate(ref.tenant, ref.vault, ref.name);
      this.material.evictKey(ref.tenant, ref.vault, ref.name);
    }
    return destroyed;
  }

  // ---------------------------------------------------------------------------------------

  private keySpec(family: KeyFamily, keySize: number, crv: string): SoftwareKeySpec {
    switch (family) {
      case 'RSA': {
        const size = keySize || 2048;
        if (![2048, 3072, 4096].includes(size)) throw badParameter('RSA key_size must be 2048, 3072 or 4096', { field: 'key_size' });
        if (crv) throw badParameter('crv is not used with RSA keys', { field: 'crv' });
        return { kty: 'RSA', size: size as 2048 | 3072 | 4096 };
      }
      case 'EC': {
        const curve = crv || 'P-256';
        if (!(CURVE_NAMES as readonly string[]).includes(curve)) throw badParameter(`crv must be one of ${CURVE_NAMES.join(', ')}`, { field: 'crv' });
        if (keySize) throw badParameter('key_size is not used with EC keys (use crv)', { field: 'key_size' });
        return { kty: 'EC', crv: curve as CurveName };
      }
      case 'oct': {
        const size = keySize || 256;
        if (![128, 192, 256].includes(size)) throw badParameter('oct key_size must be 128, 192 or 256', { field: 'key_size' });
        if (crv) throw badParameter('crv is not used with oct keys', { field: 'crv' });
        return { kty: 'oct', size: size as 128 | 192 | 256 };
      }
    }
  }

  private async assertVersionFree(ref: Ref): Promise<void> {
    if (await this.keys.findVersion(ref.tenant, ref.vault, ref.name, ref.version)) {
      throw badParameter('a version with this id already exists for the key', { field: 'ref.version' });
    }
  }

  private async generateSoftware(ref: Ref, spec: SoftwareKeySpec): Promise<NewMaterial> {
    return this.storeSoftware(ref, await generateSoftwareKey(spec));
  }

  /** Loads (validates) a private JWK and seals it under the vault KEK (new material for `ref`; nothing is stored yet). */
  async storeSoftware(ref: Ref, jwk: PrivateJwk): Promise<NewMaterial> {
    const key = loadSoftwareKey(jwk);
    try {
      const kek = await this.keks.active(ref.tenant, ref.vault);
      const wrapped = this.material.wrap(kek, ref, key.exportPrivateJwk());
      return {
        row: { materialId: `km-${randomUUID()}`, tenant: ref.tenant, vault: ref.vault, name: ref.name, version: ref.version, kekId: kek.id, wrapped, hsmObjectId: null },
        publicKey: publicKeyOf(key),
        sizeBits: key.sizeBits,
        crv: (key.crv as Curve | undefined) ?? null,
        discard: () => undefined,
      };
    } finally {
      key.destroy();
    }
  }

  private discardTokenObject(objectId: string): void {
    try {
      this.hsm.destroy(this.root.token(), objectId);
    } catch {
      /* the token went away: the orphan object holds no reachable reference */
    }
  }

  private generateInToken(ref: Ref, spec: SoftwareKeySpec): NewMaterial {
    const token = this.root.token();
    const objectId = HsmKeysAdapter.newObjectId();
    if (spec.kty === 'oct') {
      const sizeBits = spec.size ?? 256;
      this.hsm.generateSecret(token, objectId, sizeBits);
      return {
        row: { materialId: `km-${randomUUID()}`, tenant: ref.tenant, vault: ref.vault, name: ref.name, version: ref.version, kekId: null, wrapped: null, hsmObjectId: objectId },
        publicKey: null,
        sizeBits,
        crv: null,
        discard: () => this.discardTokenObject(objectId),
      };
    }
    const pair = spec.kty === 'EC' ? this.hsm.generate(token, objectId, 'EC', { crv: spec.crv ?? 'P-256' }) : this.hsm.generate(token, objectId, 'RSA', { sizeBits: spec.size ?? 2048 });
    return {
      row: { materialId: `km-${randomUUID()}`, tenant: ref.tenant, vault: ref.vault, name: ref.name, version: ref.version, kekId: null, wrapped: null, hsmObjectId: objectId },
      publicKey: publicKeyOf(pair),
      sizeBits: pair.descriptor.sizeBits,
      crv: (pair.descriptor.crv as Curve | undefined) ?? null,
      discard: () => this.discardTokenObject(objectId),
    };
  }

  /** Validates the key in software, then creates it in the token as a non-extractable pair (or AES key). */
  private importIntoToken(ref: Ref, jwk: PrivateJwk): NewMaterial {
    const checked = loadSoftwareKey(jwk);
    const expected = publicKeyOf(checked);
    const checkedBits = checked.sizeBits;
    checked.destroy();
    const token = this.root.token();
    const objectId = HsmKeysAdapter.newObjectId();
    if (jwk.kty === 'oct') {
      this.importer.importKey(objectId, jwk);
      return {
        row: { materialId: `km-${randomUUID()}`, tenant: ref.tenant, vault: ref.vault, name: ref.name, version: ref.version, kekId: null, wrapped: null, hsmObjectId: objectId },
        publicKey: null,
        sizeBits: checkedBits,
        crv: null,
        discard: () => this.discardTokenObject(objectId),
      };
    }
    this.importer.importKey(objectId, jwk);
    const discard = (): void => this.discardTokenObject(objectId);
    let pair: TokenKey;
    try {
      pair = this.hsm.find(token, objectId);
      if (JSON.stringify(publicKeyOf(pair)) !== JSON.stringify(expected)) throw serviceError(ErrorCode.Internal, 'the key read back from the token differs from the imported one');
    } catch (err) {
      discard();
      throw err;
    }
    return {
      row: { materialId: `km-${randomUUID()}`, tenant: ref.tenant, vault: ref.vault, name: ref.name, version: ref.version, kekId: null, wrapped: null, hsmObjectId: objectId },
      publicKey: expected,
      sizeBits: pair.descriptor.sizeBits,
      crv: (pair.descriptor.crv as Curve | undefined) ?? null,
      discard,
    };
  }

  private async addVersion(
    ref: Ref,
    ctx: CallerContext | null | undefined,
    origin: { origin: 'generated' } | { origin: 'imported'; importedFrom: 'jwk' | 'byok' },
    kty: KeyVersionData['kty'],
    hsm: boolean,
    keyOps: KeyVersionData['keyOps'],
    attributes: ReturnType<typeof normalizeAttributes>,
    made: NewMaterial,
    scope: AuditScope,
  ): Promise<KeyVersionView> {
    const created = nowSeconds();
    const data: KeyVersionData = {
      tenant: ref.tenant,
      vault: ref.vault,
      name: ref.name,
      version: ref.version,
      kty,
      hsm,
      sizeBits: made.sizeBits,
      crv: made.crv,
      keyOps,
      enabled: attributes.enabled,
      notBefore: attributes.notBefore,
      expires: attributes.expires,
      exportable: attributes.exportable,
      publicKey: made.publicKey,
      materialId: made.row.materialId,
      created,
    };
    const streamId = keyStreamId(ref);
    try {
      await decideAndAppend(this.store, keyDecider, streamId, { type: 'AddKeyVersion', data: origin, version: data }, {
        metadata: { actor: actorOf(ctx), tenant: ref.tenant, ...(ctx?.correlationId ? { correlationId: ctx.correlationId } : {}) },
        object: objectIdentityOf(ref),
        audit: [scope.successRecord()],
        inTransaction: async (tx, recorded) => {
          await this.keys.insertMaterial(tx, made.row);
          await this.keys.apply(tx, streamId, recorded);
        },
      });
    } catch (err) {
      made.discard();
      throw err;
    } finally {
      this.directory.invalidate(ref.tenant, ref.vault, ref.name);
    }
    scope.markWritten();
    return keyVersionView(data);
  }

  private parseJwkJson(text: string): Record<string, unknown> {
    if (text.length === 0) throw badParameter('jwk_json is required', { field: 'jwk_json' });
    if (Buffer.byteLength(text, 'utf8') > MAX_JWK_JSON_BYTES) throw badParameter('jwk_json is too large', { field: 'jwk_json' });
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      // Never echo the text: it holds private key parts.
      throw badParameter('jwk_json is not valid JSON', { field: 'jwk_json' });
    }
    if (!isRecord(doc)) throw badParameter('jwk_json must be a JSON object', { field: 'jwk_json' });
    return doc;
  }

  /** A private JWK with the service's kty names (RSA/EC/oct) from an Azure JWK. */
  private privateJwkOf(doc: Record<string, unknown>, family: KeyFamily): PrivateJwk {
    const str = (f: string): string => {
      const v = doc[f];
      if (typeof v !== 'string' || v.length === 0) throw badParameter(`the JWK has no private key (field '${f}' missing)`, { field: 'jwk_json' });
      return v;
    };
    switch (family) {
      case 'RSA':
        return { kty: 'RSA', n: str('n'), e: str('e'), d: str('d'), p: str('p'), q: str('q'), dp: str('dp'), dq: str('dq'), qi: str('qi') };
      case 'EC': {
        const crv = str('crv');
        const curve = crv === 'SECP256K1' || crv === 'secp256k1' ? 'P-256K' : crv;
        if (!(CURVE_NAMES as readonly string[]).includes(curve)) throw badParameter(`crv must be one of ${CURVE_NAMES.join(', ')}`, { field: 'crv' });
        return { kty: 'EC', crv: curve as CurveName, x: str('x'), y: str('y'), d: str('d') };
      }
      case 'oct':
        return { kty: 'oct', k: str('k') };
    }
  }

  /** BYOK: unwraps the transfer blob in `key_hsm` with the vault's key exchange key named by its kid. */
  private async unwrapByok(ref: Ref, doc: Record<string, unknown>, family: KeyFamily, scope: AuditScope): Promise<PrivateJwk> {
    const raw = doc.key_hsm;
    if (typeof raw !== 'string' || raw.length === 0) throw badParameter('key_hsm must be the base64url transfer blob', { field: 'key_hsm' });
    if (!/^[A-Za-z0-9_-]+=*$/.test(raw)) throw badParameter('key_hsm is not base64url', { field: 'key_hsm' });
    const blob = parseByokBlob(Buffer.from(raw, 'base64url'));
    const kid = kidParts(blob.kid);
    if (!kid) throw badParameter('the BYOK blob kid is not a key identifier', { field: 'key_hsm' });
    scope.extra.importKek = `${kid.name}/${kid.version}`;
    const kekRecord = await this.directory.find(ref.tenant, ref.vault, kid.name, kid.version);
    if (!kekRecord) throw serviceError(ErrorCode.KeyNotFound, 'the BYOK key exchange key named by the blob does not exist in this vault');
    if (familyOf(kekRecord.kty) !== 'RSA') throw serviceError(ErrorCode.KeyOperationNotAllowed, 'the BYOK key exchange key must be an RSA key');
    assertKeyUsable(kekRecord, 'import', nowSeconds());
    let exchange: ByokKeyExchangeKey;
    if (kekRecord.hsm) {
      const pair = await this.material.hsmKey(kekRecord);
      if (!(pair instanceof TokenKey)) throw serviceError(ErrorCode.KeyOperationNotAllowed, 'the BYOK key exchange key must be an RSA key');
      exchange = { modulusBytes: Math.ceil(kekRecord.sizeBits / 8), decryptOaepSha1: (c) => pair.decrypt('RSA-OAEP', c) };
    } else {
      exchange = softwareKeyExchangeKey(await this.material.softwareKey(kekRecord));
    }
    return unwrapByokBlob(blob, exchange, family);
  }
}
