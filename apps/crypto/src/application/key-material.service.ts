import { encodeContext, loadSoftwareKey, openWithContext, sealWithContext, type PrivateJwk, type SoftwareKey, type VaultKek } from '#libs/crypto-core';
import type { HsmKeysAdapter, TokenKey } from '../adapters/hsm/hsm-keys.adapter.js';
import type { TokenSecretKey } from '../adapters/hsm/token-aes.adapter.js';
import type { RsaWorkerPool } from '../adapters/workers/rsa-worker.pool.js';
import type { KeysRepository, KeyVersionRecord } from '../adapters/persistence/keys.repository.js';
import { ErrorCode, serviceError } from '../domain/crypto.errors.js';
import { BoundedCache } from './bounded-cache.js';
import type { RootKeyService } from './root-key.service.js';
import type { VaultKekService } from './vault-kek.service.js';

/** AAD purpose of wrapped software key material (disjoint from the other layers' purposes). */
export const KEY_MATERIAL_PURPOSE = 'keyledger/key-material/v1';

export function keyMaterialContext(k: { tenant: string; vault: string; name: string; version: string }): Buffer {
  return encodeContext(KEY_MATERIAL_PURPOSE, [k.tenant, k.vault, 'keys', k.name, k.version]);
}

const cacheKey = (k: { tenant: string; vault: string; name: string; version: string }): string => `${k.tenant}\u0000${k.vault}\u0000${k.name}\u0000${k.version}`;

/**
 * Key material in use. Software keys: the private JWK sealed under the vault KEK (AAD binds
 * tenant, vault, name, version), opened on first use into a `SoftwareKey` handle kept in a
 * bounded, expiring cache; evicted handles are destroyed (raw symmetric bytes zeroed; Node
 * frees KeyObjects). HSM keys: token handles. Sealing drops all of it.
 */
export class KeyMaterialService {
  private readonly software: BoundedCache<string, { readonly key: SoftwareKey; readonly materialId: string }>;
  private readonly loading = new Map<string, Promise<SoftwareKey>>();
  /** version → CKA_ID of its token objects (immutable while the key lives). */
  private readonly hsmObjects = new BoundedCache<string, string>(100_000, 86_400_000);

  constructor(
    private readonly keys: KeysRepository,
    private readonly keks: VaultKekService,
    private readonly root: RootKeyService,
    private readonly hsm: HsmKeysAdapter,
    cache: { readonly maxEntries: number; readonly ttlMs: number },
    private readonly workers: RsaWorkerPool | null = null,
  ) {
    this.software = new BoundedCache<string, { readonly key: SoftwareKey; readonly materialId: string }>(cache.maxEntries, cache.ttlMs, (e) => {
      e.key.destroy();
      this.workers?.evict(e.materialId);
    });
    root.onSeal(() => this.clear());
  }

  get cachedSoftwareKeys(): number {
    return this.software.size;
  }

  /** Seals a private JWK for storage under the vault's active KEK. The JSON bytes are zeroed. */
  wrap(kek: VaultKek, k: { tenant: string; vault: string; name: string; version: string }, jwk: PrivateJwk): Buffer {
    const plain = Buffer.from(JSON.stringify(jwk), 'utf8');
    try {
      return sealWithContext(kek.material(), kek.id, plain, keyMaterialContext(k));
    } finally {
      plain.fill(0);
    }
  }

  /** The loaded software key of a version (cached). */
  async softwareKey(record: KeyVersionRecord): Promise<SoftwareKey> {
    const id = cacheKey(record);
    const hit = this.software.get(id);
    if (hit && hit.materialId === record.materialId) return hit.key;
    let p = this.loading.get(id);
    if (!p) {
      p = this.load(record).finally(() => this.loading.delete(id));
      this.loading.set(id, p);
    }
    return p;
  }

  private async load(record: KeyVersionRecord): Promise<SoftwareKey> {
    const plain = await this.openPrivateJwk(record);
    let jwk: PrivateJwk;
    try {
      jwk = JSON.parse(plain.toString('utf8')) as PrivateJwk;
    } catch {
      throw serviceError(ErrorCode.Internal, 'stored key material is not readable');
    } finally {
      plain.fill(0);
    }
    const key = loadSoftwareKey(jwk);
    // The root may have been sealed while this load ran: then do not cache.
    if (!this.root.sealed) this.software.set(cacheKey(record), { key, materialId: record.materialId });
    return key;
  }

  /** The private JWK (UTF-8 JSON) of a software version, opened from its envelope; the caller zeroes it. */
  async openPrivateJwk(record: KeyVersionRecord): Promise<Buffer> {
    this.root.root();
    const m = await this.keys.material(record.materialId);
    if (!m || m.destroyed || !m.wrapped || !m.kekId) throw serviceError(ErrorCode.KeyNotFound, 'the key material has been destroyed');
    let plain: Buffer;
    try {
      const kek = await this.keks.byKekId(m.kekId, record.tenant, record.vault);
      plain = openWithContext(kek.material(), m.wrapped, keyMaterialContext(record), { expectedKeyId: kek.id });
    } catch (err) {
      // Stored material that does not authenticate for this version (moved, edited) is a fault
      // of the store, not of the caller's request.
      if (err instanceof Error && (err as { code?: unknown }).code === 'CiphertextInvalid') {
        throw serviceError(ErrorCode.Internal, 'stored key material does not authenticate for this key version', { materialId: record.materialId });
      }
      throw err;
    }
    return plain;
  }

  /** The CKA_ID of an HSM version's token objects. */
  async hsmObjectId(record: KeyVersionRecord): Promise<string> {
    const m = await this.keys.material(record.materialId);
    if (!m || m.destroyed || !m.hsmObjectId) throw serviceError(ErrorCode.KeyNotFound, 'the key material has been destroyed');
    return m.hsmObjectId;
  }

  /** The token key pair of an HSM version. */
  async hsmKey(record: KeyVersionRecord): Promise<TokenKey | TokenSecretKey> {
    this.root.token();
    const id = cacheKey(record);
    let objectId = this.hsmObjects.get(id);
    if (!objectId) {
      const m = await this.keys.material(record.materialId);
      if (!m || m.destroyed || !m.hsmObjectId) throw serviceError(ErrorCode.KeyNotFound, 'the key material has been destroyed');
      objectId = m.hsmObjectId;
      this.hsmObjects.set(id, objectId);
    }
    return record.kty === 'oct-HSM' ? this.hsm.secret(this.root.token(), objectId, record.sizeBits) : this.hsm.find(this.root.token(), objectId);
  }

  /** Drops cached material of every version of a key. */
  evictKey(tenant: string, vault: string, name: string): void {
    const prefix = `${tenant}\u0000${vault}\u0000${name}\u0000`;
    this.software.deleteWhere((k) => k.startsWith(prefix));
    this.hsmObjects.deleteWhere((k) => k.startsWith(prefix));
  }

  clear(): void {
    this.software.clear();
    this.workers?.clear();
    this.hsmObjects.clear();
    this.hsm.clear();
  }

  close(): void {
    this.software.close();
    this.hsmObjects.close();
    this.hsm.clear();
  }
}
