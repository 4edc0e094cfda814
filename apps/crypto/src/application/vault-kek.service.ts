import { createVaultKek, unwrapVaultKek, type VaultKek } from '#libs/crypto-core';
import type { CustodyRepository } from '../adapters/persistence/custody.repository.js';
import { ErrorCode, serviceError } from '../domain/crypto.errors.js';
import { BoundedCache } from './bounded-cache.js';
import type { RootKeyService } from './root-key.service.js';

const MAX_CACHED_KEKS = 10_000;
const KEK_TTL_MS = 3_600_000;

/**
 * Per-vault key-encryption keys: created on first use (random AES-256, wrapped by the root,
 * stored in `vault_keks`), unwrapped once and kept in memory until sealed or evicted.
 */
export class VaultKekService {
  private readonly byId: BoundedCache<string, VaultKek>;
  private readonly activeIds = new Map<string, string>();
  private readonly pending = new Map<string, Promise<VaultKek>>();

  constructor(
    private readonly repo: CustodyRepository,
    private readonly root: RootKeyService,
  ) {
    this.byId = new BoundedCache<string, VaultKek>(MAX_CACHED_KEKS, KEK_TTL_MS, (kek) => kek.destroy());
    root.onSeal(() => this.clear());
  }

  /** The vault's active KEK, created if the vault has none yet. */
  async active(tenant: string, vault: string): Promise<VaultKek> {
    const vaultKey = `${tenant}\u0000${vault}`;
    const id = this.activeIds.get(vaultKey);
    if (id) {
      const cached = this.byId.get(id);
      if (cached) return cached;
    }
    let p = this.pending.get(vaultKey);
    if (!p) {
      p = this.loadOrCreate(tenant, vault).finally(() => this.pending.delete(vaultKey));
      this.pending.set(vaultKey, p);
    }
    return p;
  }

  /** A KEK by id (named by a ciphertext); it must belong to this tenant and vault. */
  async byKekId(kekId: string, tenant: string, vault: string): Promise<VaultKek> {
    const cached = this.byId.get(kekId);
    if (cached) {
      if (cached.vault.tenant !== tenant || cached.vault.vault !== vault) throw serviceError(ErrorCode.CiphertextInvalid, 'the ciphertext belongs to another vault');
      return cached;
    }
    const row = await this.repo.kekById(kekId);
    if (!row) throw serviceError(ErrorCode.Internal, 'the vault key-encryption key named by the material does not exist', { kekId });
    if (row.tenant !== tenant || row.vault !== vault) throw serviceError(ErrorCode.CiphertextInvalid, 'the ciphertext belongs to another vault');
    const kek = await unwrapVaultKek(this.root.root(), { tenant, vault }, row.kekId, row.wrapped);
    this.byId.set(kek.id, kek);
    return kek;
  }

  private async loadOrCreate(tenant: string, vault: string): Promise<VaultKek> {
    const root = this.root.root();
    let row = await this.repo.activeKek(tenant, vault);
    if (!row) {
      const created = await createVaultKek(root, { tenant, vault });
      if (await this.repo.insertActiveKek({ kekId: created.kekId, tenant, vault, rootId: root.id, wrapped: created.wrapped })) {
        this.remember(created.kek);
        return created.kek;
      }
      created.kek.destroy();
      row = await this.repo.activeKek(tenant, vault);
      if (!row) throw serviceError(ErrorCode.Internal, 'the vault key-encryption key could not be stored');
    }
    const kek = await unwrapVaultKek(root, { tenant, vault }, row.kekId, row.wrapped);
    this.remember(kek);
    return kek;
  }

  private remember(kek: VaultKek): void {
    this.byId.set(kek.id, kek);
    this.activeIds.set(`${kek.vault.tenant}\u0000${kek.vault.vault}`, kek.id);
  }

  clear(): void {
    this.activeIds.clear();
    this.byId.clear();
  }

  close(): void {
    this.activeIds.clear();
    this.byId.close();
  }
}
