import { assertNever, DomainError, type Decider } from '#libs/kernel';
import { badParameter, VaultErrorCode } from '../vault.errors.js';
import type { ContainerKind, VaultEvent, VaultTags } from './vault.events.js';

/** Azure's vault name rule: 3-24 of [0-9a-zA-Z-], starting with a letter, ending with a letter or digit, no "--". */
export const VAULT_NAME = /^[a-zA-Z][0-9a-zA-Z-]{1,22}[0-9a-zA-Z]$/;
export const MIN_RETENTION_DAYS = 7;
export const MAX_RETENTION_DAYS = 90;
export const MAX_VAULT_TAGS = 50;

export function assertVaultName(name: string): string {
  if (!VAULT_NAME.test(name) || name.includes('--')) {
    throw badParameter(`Vault name '${name.slice(0, 64)}' is invalid: use 3-24 letters, digits and hyphens, starting with a letter, ending with a letter or digit, without consecutive hyphens.`, {
      reason: 'VaultName',
    });
  }
  return name;
}

export function assertRetentionDays(days: number): number {
  if (!Number.isInteger(days) || days < MIN_RETENTION_DAYS || days > MAX_RETENTION_DAYS) {
    throw badParameter(`softDeleteRetentionInDays must be an integer from ${MIN_RETENTION_DAYS} to ${MAX_RETENTION_DAYS}.`, { reason: 'Retention' });
  }
  return days;
}

export function parseVaultTags(raw: unknown): VaultTags {
  if (raw === undefined || raw === null) return {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw badParameter('tags must be an object of string values.', { reason: 'Tags' });
  const entries = Object.entries(raw as Record<string, unknown>);
  if (entries.length > MAX_VAULT_TAGS) throw badParameter(`A vault has at most ${MAX_VAULT_TAGS} tags.`, { reason: 'Tags' });
  const out: Record<string, string> = {};
  for (const [k, v] of entries) {
    if (k.length === 0 || k.length > 512 || typeof v !== 'string' || v.length > 256) throw badParameter('Tag names are 1-512 characters and values strings of at most 256.', { reason: 'Tags' });
    out[k] = v;
  }
  return out;
}

/** Azure's `recoveryLevel` for objects in a vault with this configuration (soft delete is always on). */
export function recoveryLevelOf(retentionDays: number, purgeProtection: boolean): string {
  const customized = retentionDays < MAX_RETENTION_DAYS;
  if (purgeProtection) return customized ? 'CustomizedRecoverable' : 'Recoverable';
  return customized ? 'CustomizedRecoverable+Purgeable' : 'Recoverable+Purgeable';
}

export type VaultState = {
  readonly status: 'absent' | 'active' | 'deleted';
  readonly vaultId: string | null;
  readonly name: string | null;
  readonly tenantId: string | null;
  readonly retentionDays: number;
  readonly purgeProtection: boolean;
  readonly tags: VaultTags;
  readonly created: number | null;
  readonly updated: number | null;
  readonly deletedDate: number | null;
  readonly scheduledPurgeDate: number | null;
};

export const initialVaultState = (): VaultState => ({
  status: 'absent',
  vaultId: null,
  name: null,
  tenantId: null,
  retentionDays: MAX_RETENTION_DAYS,
  purgeProtection: false,
  tags: {},
  created: null,
  updated: null,
  deletedDate: null,
  scheduledPurgeDate: null,
});

export type CreateVault = {
  readonly type: 'CreateVault';
  readonly data: {
    readonly vaultId: string;
    readonly name: string;
    /** Absent: a vault. */
    readonly kind?: ContainerKind;
    /** A pool created awaiting its security domain. */
    readonly securityDomain?: 'pending';
    readonly tenantId: string;
    readonly retentionDays: number;
    readonly purgeProtection: boolean;
    readonly tags: VaultTags;
    readonly now: number;
  };
};
export type UpdateVault = { readonly type: 'UpdateVault'; readonly data: { readonly name: string; readonly tags?: VaultTags; readonly purgeProtection?: boolean; readonly now: number } };
export type DeleteVault = { readonly type: 'DeleteVault'; readonly data: { readonly name: string; readonly now: number } };
export type RecoverVault = { readonly type: 'RecoverVault'; readonly data: { readonly name: string; readonly now: number } };
export type PurgeVault = { readonly type: 'PurgeVault'; readonly data: { readonly name: string; readonly now: number; readonly reason: 'request' | 'scheduled' } };
export type VaultCommand = CreateVault | UpdateVault | DeleteVault | RecoverVault | PurgeVault;

const notFound = (name: string): DomainError => new DomainError(VaultErrorCode.VaultNotFound, `vault ${name} was not found`, { name });
const DAY = 86_400;

/** Checks a purge before the vault's secrets are shredded; decide checks it again. */
export function assertCanPurge(state: VaultState, name: string, now: number, reason: 'request' | 'scheduled'): void {
  if (state.status !== 'deleted') throw new DomainError(VaultErrorCode.DeletedVaultNotFound, `deleted vault ${name} was not found`, { name });
  const due = state.scheduledPurgeDate !== null && state.scheduledPurgeDate <= now;
  if (reason === 'scheduled' && !due) throw new DomainError(VaultErrorCode.PurgeProtected, `vault ${name} is not due for purge`, { name });
  if (state.purgeProtection && !due) throw new DomainError(VaultErrorCode.PurgeProtected, `vault ${name} cannot be purged while purge protection holds it`, { name });
}

function decide(command: VaultCommand, state: VaultState): readonly VaultEvent[] {
  switch (command.type) {
    case 'CreateVault': {
      const c = command.data;
      if (state.status === 'active') throw new DomainError(VaultErrorCode.VaultAlreadyExists, `vault ${c.name} already exists`, { name: c.name });
      if (state.status === 'deleted') throw new DomainError(VaultErrorCode.VaultIsDeletedButRecoverable, `vault ${c.name} is deleted but recoverable`, { name: c.name });
      assertVaultName(c.name);
      assertRetentionDays(c.retentionDays);
      return [
        {
          type: 'VaultCreated',
          data: {
            vaultId: c.vaultId,
            name: c.name,
            ...(c.kind === 'managedHsm' ? { kind: c.kind } : {}),
            ...(c.kind === 'managedHsm' && c.securityDomain === 'pending' ? { securityDomain: 'pending' as const } : {}),
            tenantId: c.tenantId,
            retentionDays: c.retentionDays,
            purgeProtection: c.purgeProtection,
            tags: { ...c.tags },
            created: c.now,
          },
        },
      ];
    }
    case 'UpdateVault': {
      const c = command.data;
      if (state.status !== 'active') throw notFound(c.name);
      if (c.purgeProtection === false && state.purgeProtection) {
        throw new DomainError(VaultErrorCode.VaultPurgeProtectionIrreversible, 'purge protection cannot be disabled once enabled', { name: c.name });
      }
      return [{ type: 'VaultUpdated', data: { tags: { ...(c.tags ?? state.tags) }, purgeProtection: c.purgeProtection ?? state.purgeProtection, updated: c.now } }];
    }
    case 'DeleteVault': {
      const c = command.data;
      if (state.status !== 'active') throw notFound(c.name);
      return [{ type: 'VaultDeleted', data: { deletedDate: c.now, scheduledPurgeDate: c.now + state.retentionDays * DAY } }];
    }
    case 'RecoverVault': {
      const c = command.data;
      if (state.status !== 'deleted') throw new DomainError(VaultErrorCode.DeletedVaultNotFound, `deleted vault ${c.name} was not found`, { name: c.name });
      return [{ type: 'VaultRecovered', data: { recoveredDate: c.now } }];
    }
    case 'PurgeVault': {
      const c = command.data;
      assertCanPurge(state, c.name, c.now, c.reason);
      return [{ type: 'VaultPurged', data: { vaultId: state.vaultId as string, purgedDate: c.now, reason: c.reason } }];
    }
    default:
      return assertNever(command, 'vault command');
  }
}

function evolve(state: VaultState, event: VaultEvent): VaultState {
  switch (event.type) {
    case 'VaultCreated': {
      const e = event.data;
      return {
        status: 'active',
        vaultId: e.vaultId,
        name: e.name,
        tenantId: e.tenantId,
        retentionDays: e.retentionDays,
        purgeProtection: e.purgeProtection,
        tags: e.tags,
        created: e.created,
        updated: e.created,
        deletedDate: null,
        scheduledPurgeDate: null,
      };
    }
    case 'VaultUpdated':
      return { ...state, tags: event.data.tags, purgeProtection: event.data.purgeProtection, updated: event.data.updated };
    case 'VaultDeleted':
      return { ...state, status: 'deleted', deletedDate: event.data.deletedDate, scheduledPurgeDate: event.data.scheduledPurgeDate };
    case 'VaultRecovered':
      return { ...state, status: 'active', deletedDate: null, scheduledPurgeDate: null };
    case 'VaultPurged':
      return initialVaultState();
    default:
      return assertNever(event, 'vault event');
  }
}

export const vaultDecider: Decider<VaultState, VaultCommand, VaultEvent> = { initialState: initialVaultState, decide, evolve };
