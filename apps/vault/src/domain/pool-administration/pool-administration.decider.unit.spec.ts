import { describe, expect, it } from '@jest/globals';
import { deciderSpec } from '#libs/testing';
import { VaultErrorCode } from '../vault.errors.js';
import { fold } from '#libs/kernel';
import { poolAdministrationBatchDecider, poolAdministrationDecider, poolScopeWithin, poolSettingName, restoreCommandsFor, type PoolAdministrationCommand } from './pool-administration.decider.js';
import type { PoolAdministrationEvent, PoolRoleDefinition } from './pool-administration.events.js';

const POOL = 'a4c3b2d1-0000-4000-8000-000000000001';
const P = '0b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e01';
const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';
const CUSTOM = '3f0c7a2e-5b1d-4e8f-9c6a-2d4b8e1f0a77';
const A1 = '11111111-1111-4111-8111-111111111111';
const A2 = '22222222-2222-4222-8222-222222222222';

const definition = (over: Partial<PoolRoleDefinition> = {}): PoolRoleDefinition => ({
  roleDefinitionId: CUSTOM,
  roleName: 'Signer',
  description: '',
  assignableScopes: ['/keys'],
  permissions: [{ actions: [], notActions: [], dataActions: ['Microsoft.KeyVault/managedHsm/keys/sign/action'], notDataActions: [] }],
  ...over,
});
const defined = (over: Partial<PoolRoleDefinition> = {}): PoolAdministrationEvent => ({ type: 'ManagedHsmRoleDefinitionSet', data: { poolId: POOL, ...definition(over) } });
const assign = (assignmentId: string, roleDefinitionId: string, scope: string, builtInRole: boolean): PoolAdministrationCommand => ({
  type: 'CreateRoleAssignment',
  data: { poolId: POOL, assignmentId, principalId: P, roleDefinitionId, scope, builtInRole },
});
const assigned = (assignmentId: string, roleDefinitionId: string, scope: string): PoolAdministrationEvent => ({
  type: 'ManagedHsmRoleAssignmentCreated',
  data: { poolId: POOL, assignmentId, principalId: P, roleDefinitionId, scope },
});

describe('pool administration decider (a Managed HSM pool\'s local RBAC and settings)', () => {
  it('assigns a built-in role; the same name, or the same principal, role and scope again, is RoleAssignmentExists', () => {
    deciderSpec(poolAdministrationDecider).given([]).when(assign(A1, CRYPTO_USER, '/keys', true)).then([assigned(A1, CRYPTO_USER, '/keys')]);
    deciderSpec(poolAdministrationDecider).given([assigned(A1, CRYPTO_USER, '/keys')]).when(assign(A1, CRYPTO_USER, '/', true)).thenThrows(VaultErrorCode.RoleAssignmentExists);
    deciderSpec(poolAdministrationDecider).given([assigned(A1, CRYPTO_USER, '/keys')]).when(assign(A2, CRYPTO_USER, '/keys', true)).thenThrows(VaultErrorCode.RoleAssignmentExists);
  });

  it('refuses an unknown role definition and a custom one outside its assignable scopes', () => {
    deciderSpec(poolAdministrationDecider).given([]).when(assign(A1, CUSTOM, '/', false)).thenThrows(VaultErrorCode.RoleDefinitionNotFound);
    deciderSpec(poolAdministrationDecider).given([defined()]).when(assign(A1, CUSTOM, '/', false)).thenThrows(VaultErrorCode.BadParameter);
    deciderSpec(poolAdministrationDecider).given([defined()]).when(assign(A1, CUSTOM, '/keys/k1', false)).then([assigned(A1, CUSTOM, '/keys/k1')]);
  });

  it('deletes an assignment once; a definition only when nothing is assigned it', () => {
    const del = (assignmentId: string): PoolAdministrationCommand => ({ type: 'DeleteRoleAssignment', data: { poolId: POOL, assignmentId } });
    deciderSpec(poolAdministrationDecider).given([assigned(A1, CRYPTO_USER, '/')]).when(del(A1)).then([{ type: 'ManagedHsmRoleAssignmentDeleted', data: { poolId: POOL, assignmentId: A1 } }]);
    deciderSpec(poolAdministrationDecider).given([assigned(A1, CRYPTO_USER, '/'), { type: 'ManagedHsmRoleAssignmentDeleted', data: { poolId: POOL, assignmentId: A1 } }]).when(del(A1)).thenThrows(VaultErrorCode.RoleAssignmentNotFound);
    const delDef: PoolAdministrationCommand = { type: 'DeleteRoleDefinition', data: { poolId: POOL, roleDefinitionId: CUSTOM } };
    deciderSpec(poolAdministrationDecider).given([defined(), assigned(A1, CUSTOM, '/keys')]).when(delDef).thenThrows(VaultErrorCode.RoleDefinitionInUse);
    deciderSpec(poolAdministrationDecider).given([defined()]).when(delDef).then([{ type: 'ManagedHsmRoleDefinitionDeleted', data: { poolId: POOL, roleDefinitionId: CUSTOM } }]);
    deciderSpec(poolAdministrationDecider).given([]).when(delDef).thenThrows(VaultErrorCode.RoleDefinitionNotFound);
  });

  it('updates a definition, but not so that an assignment falls outside its assignable scopes', () => {
    deciderSpec(poolAdministrationDecider).given([defined()]).when({ type: 'SetRoleDefinition', data: { poolId: POOL, ...definition({ roleName: 'Signer 2' }) } }).then([defined({ roleName: 'Signer 2' })]);
    deciderSpec(poolAdministrationDecider)
      .given([defined(), assigned(A1, CUSTOM, '/keys')])
      .when({ type: 'SetRoleDefinition', data: { poolId: POOL, ...definition({ assignableScopes: ['/keys/other'] }) } })
      .thenThrows(VaultErrorCode.BadParameter);
  });

  it('updates a known boolean setting with "true"/"false" (any case), refuses other values and unknown settings', () => {
    const update = (setting: string, value: string): PoolAdministrationCommand => ({ type: 'UpdateSetting', data: { poolId: POOL, setting, value } });
    deciderSpec(poolAdministrationDecider)
      .given([])
      .when(update('allowkeymanagementoperationsthrougharm', 'TRUE'))
      .then([{ type: 'ManagedHsmSettingUpdated', data: { poolId: POOL, setting: 'AllowKeyManagementOperationsThroughARM', settingType: 'boolean', settingValue: 'true' } }]);
    deciderSpec(poolAdministrationDecider).given([]).when(update('AllowKeyManagementOperationsThroughARM', 'yes')).thenThrows(VaultErrorCode.BadParameter);
    deciderSpec(poolAdministrationDecider).given([]).when(update('NoSuchSetting', 'true')).thenThrows(VaultErrorCode.SettingNotFound);
    expect(poolSettingName('ALLOWKEYMANAGEMENTOPERATIONSTHROUGHARM')).toBe('AllowKeyManagementOperationsThroughARM');
  });

  it('pool scopes: / holds everything, /keys every key, a key only itself', () => {
    expect([poolScopeWithin('/keys/k1', '/'), poolScopeWithin('/keys/k1', '/keys'), poolScopeWithin('/keys', '/keys/k1'), poolScopeWithin('/keys/k10', '/keys/k1')]).toEqual([true, true, false, false]);
  });

  it('a restore (full backup) adds what the pool lacks: its own administrator named again, an equal definition or setting, or a second run add nothing', () => {
    const ADMIN = '5a5a5a5a-0000-4000-8000-00000000adad';
    const ADMINISTRATOR = 'a290e904-7015-4bba-90c8-60543313cdb4';
    const TARGET = 'b4c3b2d1-0000-4000-8000-000000000002';
    const state = (events: PoolAdministrationEvent[]) => fold(poolAdministrationDecider.evolve, poolAdministrationDecider.initialState(), events);
    const adminOf = (assignmentId: string): PoolAdministrationEvent => ({ type: 'ManagedHsmRoleAssignmentCreated', data: { poolId: POOL, assignmentId, principalId: ADMIN, roleDefinitionId: ADMINISTRATOR, scope: '/' } });
    const source = state([
      adminOf(A1),
      defined(),
      assigned(A2, CUSTOM, '/keys'),
      { type: 'ManagedHsmSettingUpdated', data: { poolId: POOL, setting: 'AllowKeyManagementOperationsThroughARM', settingType: 'boolean', settingValue: 'true' } },
    ]);
    // The target's own administrator (the same principal, another assignment id) is not assigned twice.
    const target = state([adminOf('99999999-9999-4999-8999-999999999999')]);
    const builtIn = (id: string): boolean => id === ADMINISTRATOR || id === CRYPTO_USER;
    const commands = restoreCommandsFor(TARGET, target, source, builtIn);
    expect(commands.map((c) => c.type)).toEqual(['SetRoleDefinition', 'CreateRoleAssignment', 'UpdateSetting']);
    expect(commands[1]).toEqual({ type: 'CreateRoleAssignment', data: { poolId: TARGET, assignmentId: A2, principalId: P, roleDefinitionId: CUSTOM, scope: '/keys', builtInRole: false } });
    const after = fold(poolAdministrationDecider.evolve, target, poolAdministrationBatchDecider.decide({ type: 'PoolAdministrationBatch', data: { commands } }, target));
    expect([after.assignments.size, after.definitions.get(CUSTOM)?.roleName, after.settings.get('AllowKeyManagementOperationsThroughARM')]).toEqual([2, 'Signer', 'true']);
    expect(restoreCommandsFor(TARGET, after, source, builtIn)).toEqual([]);
    expect(restoreCommandsFor(POOL, source, source, builtIn)).toEqual([]);
  });

  it('a restore the pool\'s rules refuse is refused as a whole (a backed-up definition narrower than an assignment of the pool)', () => {
    const target = fold(poolAdministrationDecider.evolve, poolAdministrationDecider.initialState(), [defined({ assignableScopes: ['/'] }), assigned(A1, CUSTOM, '/')]);
    const source = fold(poolAdministrationDecider.evolve, poolAdministrationDecider.initialState(), [defined({ assignableScopes: ['/keys'] })]);
    const commands = restoreCommandsFor(POOL, target, source, () => false);
    expect(() => poolAdministrationBatchDecider.decide({ type: 'PoolAdministrationBatch', data: { commands } }, target)).toThrow(expect.objectContaining({ code: VaultErrorCode.BadParameter }));
  });
});
