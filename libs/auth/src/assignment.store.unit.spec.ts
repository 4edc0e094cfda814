import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { DomainError } from '#libs/kernel';
import { InMemoryRoleAssignmentReadModel, isRbacEventType, type RbacChange } from './assignment.store.js';
import { KeyDataActions as K, SecretDataActions as S } from './data-actions.catalog.js';
import { RbacEvaluator } from './rbac.evaluator.js';
import { BuiltInRoleIds as R, findBuiltInRole } from './roles.catalog.js';
import type { RoleDefinition } from './rbac.types.js';

const P = '0b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e01';
const Q = '1c6d3d5f-9a1b-4d62-8b54-4d1b3c2e0f12';
const A1 = '11111111-1111-4111-8111-111111111111';
const A2 = '22222222-2222-4222-8222-222222222222';
const CUSTOM = '3f0c7a2e-5b1d-4e8f-9c6a-2d4b8e1f0a77';

const created = (position: number, id: string, roleDefinitionId: string, scope: string, principalId = P): RbacChange => ({
  type: 'RoleAssignmentCreated',
  data: { id, principalId, roleDefinitionId, scope },
  position,
});
const deleted = (position: number, id: string): RbacChange => ({ type: 'RoleAssignmentDeleted', data: { id }, position });
const customRole = (dataActions: string[]): RoleDefinition => ({
  id: CUSTOM,
  roleName: 'Secret reader (custom)',
  description: 'test',
  roleType: 'CustomRole',
  assignableScopes: ['/'],
  permissions: [{ actions: [], notActions: [], dataActions, notDataActions: [] }],
});

const canGet = (model: InMemoryRoleAssignmentReadModel, principalId = P, resource = '/vaults/v/secrets/s'): boolean =>
  new RbacEvaluator(model).checkDataAction({ principalId, dataAction: S.getSecret, resource }).allowed;

function expectInvalid(fn: () => unknown): void {
  let error: unknown;
  try {
    fn();
  } catch (err) {
    error = err;
  }
  expect(error).toBeInstanceOf(DomainError);
  expect((error as DomainError).code).toBe('RbacEventInvalid');
}

describe('InMemoryRoleAssignmentReadModel', () => {
  it('assignment grants, revocation removes access', () => {
    const m = new InMemoryRoleAssignmentReadModel();
    expect(canGet(m)).toBe(false);
    expect(m.apply(created(1, A1, R.keyVaultSecretsUser, '/vaults/v'))).toBe('applied');
    expect(canGet(m)).toBe(true);
    expect(new RbacEvaluator(m).checkDataAction({ principalId: P, dataAction: S.getSecret, resource: '/vaults/v/secrets/s' }).assignmentId).toBe(A1);
    expect(m.apply(deleted(2, A1))).toBe('applied');
    expect(canGet(m)).toBe(false);
    expect(m.listAssignments()).toEqual([]);
    expect(m.position).toBe(2n);
  });

  it('applying the same event twice changes nothing', () => {
    const m = new InMemoryRoleAssignmentReadModel();
    const e = created(7, A1, R.keyVaultSecretsUser, '/vaults/v');
    m.apply(e);
    const before = m.snapshot();
    expect(m.apply(e)).toBe('duplicate');
    expect(m.apply({ ...e, position: '7' })).toBe('duplicate');
    expect(m.snapshot()).toEqual(before);
    m.apply(deleted(8, A1));
    const afterDelete = m.snapshot();
    expect(m.apply(deleted(8, A1))).toBe('duplicate');
    expect(m.snapshot()).toEqual(afterDelete);
  });

  it('a redelivered creation never resurrects a revoked assignment', () => {
    const m = new InMemoryRoleAssignmentReadModel();
    m.apply(created(3, A1, R.keyVaultAdministrator, '/'));
    m.apply(deleted(4, A1));
    expect(m.apply(created(3, A1, R.keyVaultAdministrator, '/'))).toBe('duplicate');
    expect(canGet(m)).toBe(false);
  });

  it('a deletion that arrives before its creation wins (tombstone)', () => {
    const m = new InMemoryRoleAssignmentReadModel();
    expect(m.apply(deleted(10, A1))).toBe('applied');
    expect(m.apply(created(9, A1, R.keyVaultAdministrator, '/'))).toBe('duplicate');
    expect(canGet(m)).toBe(false);
    expect(m.snapshot().deletedAssignments).toEqual([{ id: A1, position: '10' }]);
  });

  it('the same assignment id may be created again by a later event', () => {
    const m = new InMemoryRoleAssignmentReadModel();
    m.apply(created(1, A1, R.keyVaultSecretsUser, '/vaults/v'));
    m.apply(deleted(2, A1));
    expect(m.apply(created(3, A1, R.keyVaultSecretsUser, '/vaults/v'))).toBe('applied');
    expect(canGet(m)).toBe(true);
  });

  it('re-creating an id with another principal moves it between principals', () => {
    const m = new InMemoryRoleAssignmentReadModel();
    m.apply(created(1, A1, R.keyVaultSecretsUser, '/vaults/v', P));
    m.apply(created(2, A1, R.keyVaultSecretsUser, '/vaults/v', Q));
    expect(canGet(m, P)).toBe(false);
    expect(canGet(m, Q)).toBe(true);
  });

  it('custom role definitions: create, update, delete, stale update ignored', () => {
    const m = new InMemoryRoleAssignmentReadModel();
    m.apply(created(1, A1, CUSTOM, '/vaults/v'));
    expect(canGet(m)).toBe(false); // the definition has not arrived yet
    expect(m.apply({ type: 'RoleDefinitionCreated', data: customRole([S.getSecret]), position: 2 })).toBe('applied');
    expect(canGet(m)).toBe(true);
    m.apply({ type: 'RoleDefinitionUpdated', data: customRole([S.readMetadata]), position: 5 });
    expect(canGet(m)).toBe(false);
    expect(m.apply({ type: 'RoleDefinitionUpdated', data: customRole([S.getSecret]), position: 4 })).toBe('duplicate');
    expect(canGet(m)).toBe(false);
    m.apply({ type: 'RoleDefinitionUpdated', data: customRole([S.getSecret]), position: 6 });
    expect(canGet(m)).toBe(true);
    m.apply({ type: 'RoleDefinitionDeleted', data: { id: CUSTOM }, position: 7 });
    expect(canGet(m)).toBe(false);
    expect(m.listRoleDefinitions().some((d) => d.id === CUSTOM)).toBe(false);
    expect(m.roleDefinition(R.keyVaultAdministrator)?.definition.roleName).toBe('Key Vault Administrator');
  });

  it('built-in roles cannot be redefined or deleted by events (poison event, state unchanged)', () => {
    const m = new InMemoryRoleAssignmentReadModel();
    m.apply(created(1, A1, R.keyVaultSecretsUser, '/vaults/v'));
    const before = m.snapshot();
    expectInvalid(() => m.apply({ type: 'RoleDefinitionUpdated', data: { ...customRole(['*']), id: R.keyVaultSecretsUser }, position: 2 }));
    expectInvalid(() => m.apply({ type: 'RoleDefinitionDeleted', data: { id: R.keyVaultAdministrator.toUpperCase() }, position: 3 }));
    expect(m.snapshot()).toEqual(before);
    expect(canGet(m)).toBe(true);
    // Restating a built-in exactly (e.g. identity seeding its catalogue as events) is harmless.
    const secretsUser = findBuiltInRole(R.keyVaultSecretsUser) as RoleDefinition;
    expect(m.apply({ type: 'RoleDefinitionCreated', data: { ...secretsUser, roleType: 'BuiltInRole' }, position: 4 })).toBe('ignored');
    expect(m.snapshot()).toEqual({ ...before, position: '4' });
  });

  it('malformed events are rejected with RbacEventInvalid and change nothing', () => {
    const m = new InMemoryRoleAssignmentReadModel();
    const bad: unknown[] = [
      created(-1, A1, R.keyVaultSecretsUser, '/vaults/v'),
      created(1.5, A1, R.keyVaultSecretsUser, '/vaults/v'),
      { ...created(1, A1, R.keyVaultSecretsUser, '/vaults/v'), position: 'x' },
      created(1, A1, 'not-a-guid', '/vaults/v'),
      created(1, A1, R.keyVaultSecretsUser, 'vaults/v'),
      created(1, A1, R.keyVaultSecretsUser, '/vaults/../v'),
      created(1, '', R.keyVaultSecretsUser, '/vaults/v'),
      { type: 'RoleAssignmentCreated', data: null, position: 1 },
      { type: 'RoleAssignmentDeleted', data: {}, position: 1 },
      { type: 'RoleDefinitionCreated', data: { ...customRole([]), permissions: 'all' }, position: 1 },
      { type: 'RoleDefinitionCreated', data: { ...customRole([]), id: 'nope' }, position: 1 },
      { type: 'SomethingElse', data: {}, position: 1 },
    ];
    for (const e of bad) expectInvalid(() => m.apply(e as RbacChange));
    expect(m.snapshot()).toEqual(new InMemoryRoleAssignmentReadModel().snapshot());
    expect(m.position).toBe(-1n);
  });

  it('validates with the published contracts (libs/contracts): undeclared fields are refused, naming the event', () => {
    const m = new InMemoryRoleAssignmentReadModel();
    let error: unknown;
    try {
      m.apply({ ...created(1, A1, R.keyVaultSecretsUser, '/vaults/v'), data: { id: A1, principalId: P, roleDefinitionId: R.keyVaultSecretsUser, scope: '/vaults/v', hash: 'x' } } as unknown as RbacChange);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe('RbacEventInvalid');
    expect((error as DomainError).message).toMatch(/^event RoleAssignmentCreated\.v1 is invalid: .*"hash"/);
    // Defaults of the contract (description, scopes, empty action lists) apply to a sparse custom role.
    expect(m.apply({ type: 'RoleDefinitionCreated', data: { id: CUSTOM, roleName: 'sparse', permissions: [{ dataActions: [S.getSecret] }] }, position: 2 } as unknown as RbacChange)).toBe('applied');
    expect(m.roleDefinition(CUSTOM)?.definition).toEqual({ id: CUSTOM, roleName: 'sparse', description: '', roleType: 'CustomRole', assignableScopes: ['/'], permissions: [{ actions: [], notActions: [], dataActions: [S.getSecret], notDataActions: [] }] });
  });

  it('isRbacEventType filters a mixed identity topic', () => {
    expect(isRbacEventType('RoleAssignmentCreated')).toBe(true);
    expect(isRbacEventType('RoleDefinitionDeleted')).toBe(true);
    expect(isRbacEventType('ServicePrincipalCreated')).toBe(false);
  });

  it('snapshot → restore gives an identical model that keeps deduplicating', () => {
    const m = new InMemoryRoleAssignmentReadModel();
    m.apply({ type: 'RoleDefinitionCreated', data: customRole([K.sign]), position: 1 });
    m.apply(created(2, A1, R.keyVaultSecretsUser, '/vaults/v'));
    m.apply(created(3, A2, CUSTOM, '/vaults/v/keys/k', Q));
    m.apply(deleted(4, '33333333-3333-4333-8333-333333333333'));
    const snap = m.snapshot();
    const json = JSON.parse(JSON.stringify(snap)) as typeof snap;
    const r = InMemoryRoleAssignmentReadModel.restore(json);
    expect(r.snapshot()).toEqual(snap);
    expect(r.position).toBe(4n);
    expect(canGet(r)).toBe(true);
    expect(new RbacEvaluator(r).checkDataAction({ principalId: Q, dataAction: K.sign, resource: '/vaults/v/keys/k' }).allowed).toBe(true);
    expect(r.apply(created(3, '33333333-3333-4333-8333-333333333333', R.keyVaultAdministrator, '/'))).toBe('duplicate');
    expect(InMemoryRoleAssignmentReadModel.restore(new InMemoryRoleAssignmentReadModel().snapshot()).position).toBe(-1n);
  });

  it('is deterministic: any delivery order, with duplicates, converges to the same state', () => {
    // Each entity's events in their true order; delivery may interleave entities and repeat events.
    const history: RbacChange[] = [
      { type: 'RoleDefinitionCreated', data: customRole([S.getSecret]), position: 1 },
      created(2, A1, R.keyVaultSecretsUser, '/vaults/v'),
      created(3, A2, CUSTOM, '/vaults/w', Q),
      { type: 'RoleDefinitionUpdated', data: customRole([S.getSecret, S.setSecret]), position: 4 },
      deleted(5, A1),
      created(6, A1, R.keyVaultCryptoUser, '/vaults/v/keys'),
      deleted(7, 'deadbeef-0000-4000-8000-000000000000'),
    ];
    const reference = new InMemoryRoleAssignmentReadModel();
    for (const e of history) reference.apply(e);
    const expected = reference.snapshot();

    fc.assert(
      fc.property(fc.shuffledSubarray(history, { minLength: history.length, maxLength: history.length }), fc.array(fc.nat(history.length - 1), { maxLength: 10 }), (order, repeats) => {
        const m = new InMemoryRoleAssignmentReadModel();
        const deliveries = [...order, ...repeats.map((i) => history[i] as RbacChange)];
        for (const e of deliveries) m.apply(e);
        expect(m.snapshot()).toEqual(expected);
      }),
      { numRuns: 300 },
    );
  });
});
