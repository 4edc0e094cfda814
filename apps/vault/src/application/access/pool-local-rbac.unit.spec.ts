import { describe, expect, it } from '@jest/globals';
import { ManagedHsmKeyDataActions } from '#libs/auth';
import { fold } from '#libs/kernel';
import { poolAdministrationDecider, type PoolAdministrationState } from '../../domain/pool-administration/pool-administration.decider.js';
import type { PoolAdministrationEvent } from '../../domain/pool-administration/pool-administration.events.js';
import { AccessControl } from './access-control.js';

const POOL_ID = 'a4c3b2d1-0000-4000-8000-000000000001';
const APP = '0b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e01';
const CRYPTO_USER = '21dbd100-6940-42c2-9190-5d6cb909625b';
const CUSTOM = '3f0c7a2e-5b1d-4e8f-9c6a-2d4b8e1f0a77';
const state = (events: PoolAdministrationEvent[]): PoolAdministrationState => fold(poolAdministrationDecider.evolve, poolAdministrationDecider.initialState(), events);
const created = (assignmentId: string, roleDefinitionId: string, scope: string): PoolAdministrationEvent => ({
  type: 'ManagedHsmRoleAssignmentCreated',
  data: { poolId: POOL_ID, assignmentId, principalId: APP, roleDefinitionId, scope },
});

describe("a pool's local RBAC in the vault's access model (the one evaluator)", () => {
  it('grants at the pool-local scope it was given, on that pool only, and no longer once replaced without it', () => {
    const access = new AccessControl();
    const sign = (resource: string) => access.check(APP, ManagedHsmKeyDataActions.sign, resource).allowed;
    expect(sign('/managedHSMs/pool1/keys/k1')).toBe(false);
    access.pools.replace(POOL_ID, 'pool1', 1, state([created('11111111-1111-4111-8111-111111111111', CRYPTO_USER, '/keys/k1')]));
    expect([sign('/managedHSMs/pool1/keys/k1'), sign('/managedHSMs/pool1/keys/k2'), sign('/managedHSMs/pool2/keys/k1')]).toEqual([true, false, false]);
    expect(access.check(APP, ManagedHsmKeyDataActions.sign, '/managedHSMs/pool1/keys/k1').assignmentId).toBe('11111111-1111-4111-8111-111111111111');
    access.pools.replace(POOL_ID, 'pool1', 2, state([]));
    expect(sign('/managedHSMs/pool1/keys/k1')).toBe(false);
  });

  it('evaluates a custom role of the pool, ignores an older state, and forgets a removed pool', () => {
    const access = new AccessControl();
    const verifier = (poolId: string, dataActions: string[]): PoolAdministrationEvent => ({
      type: 'ManagedHsmRoleDefinitionSet',
      data: { poolId, roleDefinitionId: CUSTOM, roleName: 'Verifier', description: '', assignableScopes: ['/'], permissions: [{ actions: [], notActions: [], dataActions, notDataActions: [] }] },
    });
    const events: PoolAdministrationEvent[] = [verifier(POOL_ID, ['Microsoft.KeyVault/managedHsm/keys/verify/action']), created('22222222-2222-4222-8222-222222222222', CUSTOM, '/')];
    access.pools.replace(POOL_ID, 'pool1', 2, state(events));
    access.pools.replace(POOL_ID, 'pool1', 1, state([]));
    expect(access.check(APP, ManagedHsmKeyDataActions.verify, '/managedHSMs/pool1/keys/any').allowed).toBe(true);
    expect(access.check(APP, ManagedHsmKeyDataActions.sign, '/managedHSMs/pool1/keys/any').allowed).toBe(false);
    // Another pool with the same custom role id (a restore copies ids) but other permissions does not change this one's.
    const other = 'b5d4c3e2-0000-4000-8000-000000000002';
    access.pools.replace(other, 'pool2', 1, state([verifier(other, [])]));
    expect(access.check(APP, ManagedHsmKeyDataActions.verify, '/managedHSMs/pool1/keys/any').allowed).toBe(true);
    access.pools.remove(POOL_ID);
    expect(access.check(APP, ManagedHsmKeyDataActions.verify, '/managedHSMs/pool1/keys/any').allowed).toBe(false);
  });
});
