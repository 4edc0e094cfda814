import { randomUUID } from 'node:crypto';
import { DomainError, fold } from '#libs/kernel';
import { decideAndAppend, type EventStore } from '#libs/eventstore';
import type { VaultRecord, VaultsRepository } from '../../adapters/persistence/vaults.repository.js';
import { assertCanPurge, assertRetentionDays, assertVaultName, vaultDecider, type VaultCommand } from '../../domain/vault/vault.decider.js';
import { vaultStreamId, type VaultEvent, type VaultTags } from '../../domain/vault/vault.events.js';
import { VaultErrorCode } from '../../domain/vault.errors.js';
import type { Caller } from '../access/caller.js';
import type { SecretsService } from '../secrets/secrets.service.js';

export type CreateVaultInput = {
  readonly name: string;
  readonly tenantId: string;
  readonly retentionDays: number;
  readonly purgeProtection: boolean;
  readonly tags: VaultTags;
  /** A Managed HSM pool awaiting its security domain (download or upload) before it serves keys. */
  readonly securityDomain?: 'pending';
};

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * Containers of one kind — vaults, or Managed HSM pools (`repo.kind`) — event-sourced (stream
 * per name: `vault-{name}` / `managedhsm-{name}`), and the directory the request pipeline
 * resolves host names with: lookups are cached for a second, so a vault created, deleted
 * or recovered on another instance is seen within that time (this instance sees its own
 * changes at once).
 */
export class VaultsService {
  private readonly cache = new Map<string, { record: VaultRecord | undefined; until: number }>();

  constructor(
    private readonly store: EventStore,
    private readonly repo: VaultsRepository,
    private readonly secrets: SecretsService,
    private readonly cacheTtlMs = 1_000,
    /** The vault's keys: destroyed (material in crypto, metadata here) when the vault is purged. */
    private readonly keys?: { purgeAllOf(vault: VaultRecord, caller: Caller): Promise<number> },
    /** Certificates go first: each takes its managed key and secret with it. */
    private readonly certificates?: { purgeAllOf(vault: VaultRecord, caller: Caller): Promise<number> },
  ) {}

  /** An active vault by name (case-insensitive), or undefined. */
  async resolve(name: string): Promise<VaultRecord | undefined> {
    const key = name.toLowerCase();
    const hit = this.cache.get(key);
    const now = Date.now();
    if (hit && hit.until > now) return hit.record;
    const record = await this.repo.find(key);
    const active = record?.status === 'active' ? record : undefined;
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(key, { record: active, until: now + this.cacheTtlMs });
    return active;
  }

  async get(name: string): Promise<VaultRecord> {
    const r = await this.repo.find(name.toLowerCase());
    if (!r || r.status !== 'active') throw new DomainError(VaultErrorCode.VaultNotFound, `vault ${name} was not found`, { name });
    return r;
  }

  async getDeleted(name: string): Promise<VaultRecord> {
    const r = await this.repo.find(name.toLowerCase());
    if (!r || r.status !== 'deleted') throw new DomainError(VaultErrorCode.DeletedVaultNotFound, `deleted vault ${name} was not found`, { name });
    return r;
  }

  /** Which kind of container this service keeps. */
  get kind(): VaultRecord['kind'] {
    return this.repo.kind;
  }

  list(status: 'active' | 'deleted' = 'active'): Promise<VaultRecord[]> {
    return this.repo.list(status);
  }

  async create(input: CreateVaultInput, caller: Caller): Promise<VaultRecord> {
    assertVaultName(input.name);
    assertRetentionDays(input.retentionDays);
    await this.run(input.name, () => ({ type: 'CreateVault', data: { vaultId: randomUUID(), ...input, ...(this.repo.kind === 'managedHsm' ? { kind: this.repo.kind } : {}), now: nowSeconds() } }), caller, 201);
    return this.get(input.name);
  }

  async update(name: string, patch: { tags?: VaultTags; purgeProtection?: boolean }, caller: Caller): Promise<VaultRecord> {
    await this.run(name, () => ({ type: 'UpdateVault', data: { name, ...patch, now: nowSeconds() } }), caller, 200);
    return this.get(name);
  }

  async delete(name: string, caller: Caller): Promise<VaultRecord> {
    await this.run(name, () => ({ type: 'DeleteVault', data: { name, now: nowSeconds() } }), caller, 200);
    return this.getDeleted(name);
  }

  async recover(name: string, caller: Caller): Promise<VaultRecord> {
    await this.run(name, () => ({ type: 'RecoverVault', data: { name, now: nowSeconds() } }), caller, 200);
    return this.get(name);
  }

  /** Shreds every secret of the vault, then forgets the vault. */
  async purge(name: string, reason: 'request' | 'scheduled', caller: Caller, at?: number): Promise<void> {
    const streamId = vaultStreamId(name.toLowerCase(), this.repo.kind);
    const state = fold(vaultDecider.evolve, vaultDecider.initialState(), await this.store.readStream<VaultEvent>(streamId));
    const now = at ?? nowSeconds();
    assertCanPurge(state, name, now, reason);
    const record = await this.getDeleted(name);
    // The secrets' purges are part of this request: its one audit record covers them.
    await this.certificates?.purgeAllOf(record, { ...caller, audit: undefined });
    await this.secrets.purgeAllOf(record, { ...caller, audit: undefined });
    await this.keys?.purgeAllOf(record, { ...caller, audit: undefined });
    await this.run(name, () => ({ type: 'PurgeVault', data: { name, now, reason } }), caller, 204);
  }

  private async run(name: string, command: (now: number) => VaultCommand, caller: Caller, successStatus: number): Promise<void> {
    const nameKey = name.toLowerCase();
    const audit = caller.audit;
    await decideAndAppend(this.store, vaultDecider, vaultStreamId(nameKey, this.repo.kind), () => command(nowSeconds()), {
      metadata: { actor: caller.objectId, tenant: caller.tenantId, correlationId: caller.correlationId },
      object: { vault: nameKey, collection: null, name: nameKey },
      ...(audit ? { audit: [audit.forCommit(successStatus)] } : {}),
      inTransaction: (tx, recorded) => this.repo.project(tx, nameKey, recorded),
    });
    audit?.committed();
    this.cache.delete(nameKey);
  }
}
