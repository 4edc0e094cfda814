import { v, type EventRegistry, type PublishContext } from '#libs/kernel';
import { VaultCreatedV2, VaultDeletedV2, VaultPurgedV2, VaultRecoveredV2, VaultUpdatedV2 } from '#libs/contracts';

/**
 * Events of one container: a vault (stream `vault-{lower-case name}`) or a Managed HSM pool
 * (stream `managedhsm-{lower-case name}`, `VaultCreated.kind = 'managedHsm'`). A purged name can
 * be created again: the new container continues the stream with a new `vaultId`. Times are unix
 * seconds.
 */
export type VaultTags = Readonly<Record<string, string>>;

/** A key vault, or a Managed HSM pool (HSM-backed keys only, no secrets or certificates). */
export type ContainerKind = 'vault' | 'managedHsm';

export type VaultCreated = {
  readonly type: 'VaultCreated';
  readonly data: {
    readonly vaultId: string;
    readonly name: string;
    /** Absent in events of vaults written before pools existed: a vault. */
    readonly kind?: ContainerKind;
    /** A Managed HSM pool created awaiting its security domain (absent: usable at once). */
    readonly securityDomain?: 'pending';
    readonly tenantId: string;
    readonly retentionDays: number;
    readonly purgeProtection: boolean;
    readonly tags: VaultTags;
    readonly created: number;
  };
};
export type VaultUpdated = {
  readonly type: 'VaultUpdated';
  readonly data: { readonly tags: VaultTags; readonly purgeProtection: boolean; readonly updated: number };
};
export type VaultDeleted = { readonly type: 'VaultDeleted'; readonly data: { readonly deletedDate: number; readonly scheduledPurgeDate: number } };
export type VaultRecovered = { readonly type: 'VaultRecovered'; readonly data: { readonly recoveredDate: number } };
export type VaultPurged = { readonly type: 'VaultPurged'; readonly data: { readonly vaultId: string; readonly purgedDate: number; readonly reason: 'request' | 'scheduled' } };

export type VaultEvent = VaultCreated | VaultUpdated | VaultDeleted | VaultRecovered | VaultPurged;

export const vaultStreamId = (nameKey: string, kind: ContainerKind = 'vault'): string => (kind === 'managedHsm' ? `managedhsm-${nameKey}` : `vault-${nameKey}`);

const seconds = (x: unknown): boolean => Number.isInteger(x) && (x as number) >= 0;
const days = (x: unknown): boolean => Number.isInteger(x) && (x as number) >= 7 && (x as number) <= 90;

/** A vault event names its vault explicitly in its contract (AppendOptions.object, collection null). */
function vaultIdentity(ctx: PublishContext, type: string): { vault: string; collection: null; name: string; version: null } {
  const o = ctx.object;
  if (!o || o.collection !== null) throw new Error(`${type} appended without its vault identity (AppendOptions.object)`);
  return { vault: o.vault, collection: null, name: o.vault, version: null };
}

export function registerVaultEvents(r: EventRegistry): EventRegistry {
  return r
    .define({
      type: 'VaultCreated',
      schemaVersion: 1,
      validate: v.object(
        { vaultId: v.nonEmpty, name: v.nonEmpty, kind: (x) => x === 'vault' || x === 'managedHsm', tenantId: v.nonEmpty, retentionDays: days, purgeProtection: v.boolean, tags: v.record, created: seconds, securityDomain: (x) => x === 'pending' },
        ['kind', 'securityDomain'],
      ),
      contract: VaultCreatedV2,
      publish: (d, ctx) => ({ ...vaultIdentity(ctx, 'VaultCreated'), vaultId: d.vaultId, retentionDays: d.retentionDays, purgeProtection: d.purgeProtection, tags: d.tags, created: d.created }),
    })
    .define({
      type: 'VaultUpdated',
      schemaVersion: 1,
      validate: v.object({ tags: v.record, purgeProtection: v.boolean, updated: seconds }),
      contract: VaultUpdatedV2,
      publish: (d, ctx) => ({ ...vaultIdentity(ctx, 'VaultUpdated'), tags: d.tags, purgeProtection: d.purgeProtection, updated: d.updated }),
    })
    .define({
      type: 'VaultDeleted',
      schemaVersion: 1,
      validate: v.object({ deletedDate: seconds, scheduledPurgeDate: seconds }),
      contract: VaultDeletedV2,
      publish: (d, ctx) => ({ ...vaultIdentity(ctx, 'VaultDeleted'), deletedDate: d.deletedDate, scheduledPurgeDate: d.scheduledPurgeDate }),
    })
    .define({
      type: 'VaultRecovered',
      schemaVersion: 1,
      validate: v.object({ recoveredDate: seconds }),
      contract: VaultRecoveredV2,
      publish: (d, ctx) => ({ ...vaultIdentity(ctx, 'VaultRecovered'), recoveredDate: d.recoveredDate }),
    })
    .define({
      type: 'VaultPurged',
      schemaVersion: 1,
      validate: v.object({ vaultId: v.nonEmpty, purgedDate: seconds, reason: (x) => x === 'request' || x === 'scheduled' }),
      contract: VaultPurgedV2,
      publish: (d, ctx) => ({ ...vaultIdentity(ctx, 'VaultPurged'), vaultId: d.vaultId, purgedDate: d.purgedDate, reason: d.reason }),
    });
}
