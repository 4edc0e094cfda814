import { describe, expect, it } from '@jest/globals';
import { deciderSpec } from '#libs/testing';
import { VaultErrorCode } from '../vault.errors.js';
import { assertVaultName, recoveryLevelOf, vaultDecider, type VaultCommand } from './vault.decider.js';
import type { VaultEvent } from './vault.events.js';

const ID = 'a4c3b2d1-0000-4000-8000-000000000001';
const TENANT = '4eeb1e29-c100-4249-9b4c-7c16d469679f';
const T0 = 1_800_000_000;

const create = (overrides: Partial<Extract<VaultCommand, { type: 'CreateVault' }>['data']> = {}): VaultCommand => ({
  type: 'CreateVault',
  data: { vaultId: ID, name: 'team-a', tenantId: TENANT, retentionDays: 30, purgeProtection: false, tags: {}, now: T0, ...overrides },
});
const created = (overrides: Partial<Extract<VaultEvent, { type: 'VaultCreated' }>['data']> = {}): VaultEvent => ({
  type: 'VaultCreated',
  data: { vaultId: ID, name: 'team-a', tenantId: TENANT, retentionDays: 30, purgeProtection: false, tags: {}, created: T0, ...overrides },
});
const deleted: VaultEvent = { type: 'VaultDeleted', data: { deletedDate: T0 + 10, scheduledPurgeDate: T0 + 10 + 30 * 86_400 } };

describe('vault decider', () => {
  it('creates a vault; the same name again is a conflict, soft-deleted or not', () => {
    deciderSpec(vaultDecider).given([]).when(create()).then([created()]);
    deciderSpec(vaultDecider).given([created()]).when(create()).thenThrows(VaultErrorCode.VaultAlreadyExists);
    deciderSpec(vaultDecider).given([created(), deleted]).when(create()).thenThrows(VaultErrorCode.VaultIsDeletedButRecoverable);
  });

  it('validates the name (Azure: 3-24, letter first, no "--") and the retention (7-90 days)', () => {
    for (const name of ['ab', 'a--b', '1abc', 'abc-', 'x'.repeat(25), 'a_b']) deciderSpec(vaultDecider).given([]).when(create({ name })).thenThrows(VaultErrorCode.BadParameter);
    for (const retentionDays of [6, 91]) deciderSpec(vaultDecider).given([]).when(create({ retentionDays })).thenThrows(VaultErrorCode.BadParameter);
    expect(assertVaultName('dev')).toBe('dev');
  });

  it('deletes with the retention, recovers, and purges only when due under purge protection', () => {
    deciderSpec(vaultDecider).given([created()]).when({ type: 'DeleteVault', data: { name: 'team-a', now: T0 + 10 } }).then([deleted]);
    deciderSpec(vaultDecider).given([created(), deleted]).when({ type: 'RecoverVault', data: { name: 'team-a', now: T0 + 20 } }).then([{ type: 'VaultRecovered', data: { recoveredDate: T0 + 20 } }]);
    deciderSpec(vaultDecider)
      .given([created(), deleted])
      .when({ type: 'PurgeVault', data: { name: 'team-a', now: T0 + 20, reason: 'request' } })
      .then([{ type: 'VaultPurged', data: { vaultId: ID, purgedDate: T0 + 20, reason: 'request' } }]);
    deciderSpec(vaultDecider)
      .given([created({ purgeProtection: true }), deleted])
      .when({ type: 'PurgeVault', data: { name: 'team-a', now: T0 + 20, reason: 'request' } })
      .thenThrows(VaultErrorCode.PurgeProtected);
    deciderSpec(vaultDecider).given([created()]).when({ type: 'PurgeVault', data: { name: 'team-a', now: T0, reason: 'request' } }).thenThrows(VaultErrorCode.DeletedVaultNotFound);
  });

  it('purge protection is irreversible; a purged name can be created again', () => {
    deciderSpec(vaultDecider)
      .given([created({ purgeProtection: true })])
      .when({ type: 'UpdateVault', data: { name: 'team-a', purgeProtection: false, now: T0 } })
      .thenThrows(VaultErrorCode.VaultPurgeProtectionIrreversible);
    deciderSpec(vaultDecider)
      .given([created(), deleted, { type: 'VaultPurged', data: { vaultId: ID, purgedDate: T0 + 30, reason: 'request' } }])
      .when(create({ vaultId: 'b4c3b2d1-0000-4000-8000-000000000002' }))
      .then([created({ vaultId: 'b4c3b2d1-0000-4000-8000-000000000002' })]);
  });

  it('reports Azure recovery levels', () => {
    expect(recoveryLevelOf(90, false)).toBe('Recoverable+Purgeable');
    expect(recoveryLevelOf(90, true)).toBe('Recoverable');
    expect(recoveryLevelOf(7, false)).toBe('CustomizedRecoverable+Purgeable');
    expect(recoveryLevelOf(7, true)).toBe('CustomizedRecoverable');
  });
});
