import { generateDataKey, peekKeyId, unwrapDataKey } from '#libs/crypto-core';
import type { CustodyRepository } from '../adapters/persistence/custody.repository.js';
import { badParameter, ErrorCode, serviceError } from '../domain/crypto.errors.js';
import { canonicalRef, type RefInput } from '../domain/object-ref.js';
import type { AuditScope, CallerContext } from './operation-auditor.js';
import type { RootKeyService } from './root-key.service.js';
import type { VaultKekService } from './vault-kek.service.js';

interface DataKeyRequest {
  readonly ctx?: CallerContext | null;
  readonly ref?: RefInput | null;
}

const KEY_ID = /^dk-[A-Za-z0-9_-]{1,64}$/;
const MAX_IDS = 10_000;

/**
 * Envelope encryption for stored values (KMS GenerateDataKey style): a random AES-256 data
 * key per object version, sealed under the vault KEK with the object's identity as AAD and
 * kept only in the mutable `data_keys` table. Destroying it is crypto-shredding: events and
 * backups carry only ciphertext and the key id.
 */
export class DataKeysService {
  constructor(
    private readonly custody: CustodyRepository,
    private readonly keks: VaultKekService,
    private readonly root: RootKeyService,
  ) {}

  async generate(input: DataKeyRequest, scope: AuditScope): Promise<{ keyId: string; plaintext: Buffer }> {
    this.root.root();
    const ref = canonicalRef(input.ref, 'any', 'required');
    scope.ref = ref;
    const kek = await this.keks.active(ref.tenant, ref.vault);
    const dk = generateDataKey(kek, ref);
    scope.extra.dataKeyId = dk.dataKeyId;
    try {
      await this.custody.insertDataKey({ keyId: dk.dataKeyId, tenant: ref.tenant, vault: ref.vault, collection: ref.collection, name: ref.name, version: ref.version, kekId: kek.id, wrapped: dk.wrapped });
    } catch (err) {
      dk.plaintext.fill(0);
      throw err;
    }
    return { keyId: dk.dataKeyId, plaintext: dk.plaintext };
  }

  /** Forgets a data key whose answer could not be audited (it was never handed out). */
  async discard(keyId: string): Promise<void> {
    await this.custody.deleteDataKey(keyId).catch(() => undefined);
  }

  async decrypt(input: DataKeyRequest & { readonly keyId?: string | null }, scope: AuditScope): Promise<Buffer> {
    this.root.root();
    const ref = canonicalRef(input.ref, 'any', 'required');
    scope.ref = ref;
    const keyId = input.keyId ?? '';
    if (!KEY_ID.test(keyId)) throw badParameter('key_id is not a data key id', { field: 'key_id' });
    scope.extra.dataKeyId = keyId;
    const row = await this.custody.dataKey(keyId);
    if (!row || row.wrapped === null) throw serviceError(ErrorCode.DataKeyNotFound, 'the data key does not exist or was destroyed');
    // The envelope names the KEK; the AAD (the object's identity) decides whether it opens.
    const kek = await this.keks.byKekId(peekKeyId(row.wrapped), ref.tenant, ref.vault);
    return unwrapDataKey(kek, ref, row.wrapped);
  }

  async destroy(input: DataKeyRequest & { readonly keyIds?: readonly string[] | null }, scope: AuditScope): Promise<number> {
    this.root.root();
    const ref = canonicalRef(input.ref, 'any', 'optional');
    scope.ref = ref;
    const ids = [...new Set(input.keyIds ?? [])];
    if (ids.length > MAX_IDS) throw badParameter(`at most ${MAX_IDS} key ids per call`, { field: 'key_ids' });
    for (const id of ids) if (!KEY_ID.test(id)) throw badParameter('key_ids holds a value that is not a data key id', { field: 'key_ids' });
    const destroyed = await this.custody.destroyDataKeys(ref, ids);
    scope.extra.destroyed = String(destroyed);
    return destroyed;
  }
}
