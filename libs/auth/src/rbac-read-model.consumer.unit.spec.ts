import { describe, expect, it } from '@jest/globals';
import type { Kafka } from 'kafkajs';
import { KeyledgerAuditDataActions } from './data-actions.catalog.js';
import { RbacEvaluator } from './rbac.evaluator.js';
import { RbacReadModelConsumer } from './rbac-read-model.consumer.js';
import { BuiltInRoleIds } from './roles.catalog.js';

const P = '0b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e01';
const A = '11111111-1111-4111-8111-111111111111';
const T = '4eeb1e29-c100-4249-9b4c-7c16d469679f';
const env = (type: string, data: object, id = `${type}-1`): string => JSON.stringify({ id, type, schemaVersion: 1, source: 'identity', subject: 's', time: '2026-01-01T00:00:00Z', correlationId: 'c', tenant: T, data });

describe('RbacReadModelConsumer.handle (identity events → read model)', () => {
  const consumer = (): RbacReadModelConsumer => new RbacReadModelConsumer({ kafka: {} as Kafka, groupPrefix: 'test' });
  const canRead = (c: RbacReadModelConsumer): boolean => new RbacEvaluator(c.model).checkDataAction({ principalId: P, dataAction: KeyledgerAuditDataActions.readRecords, resource: '/' }).allowed;

  it('applies role assignments with the Kafka offset as position, and learns tenants', () => {
    const c = consumer();
    c.handle(env('TenantCreated', { tenantId: T.toUpperCase(), name: 'default', isDefault: true }), 0n);
    c.handle(env('PrincipalCreated', { objectId: P }), 1n);
    c.handle(env('RoleAssignmentCreated', { id: A, principalId: P, roleDefinitionId: BuiltInRoleIds.keyledgerAuditor, scope: '/' }), 2n);
    expect(c.defaultTenant).toBe(T);
    expect(canRead(c)).toBe(true);
    c.handle(env('RoleAssignmentDeleted', { id: A }), 3n);
    expect(canRead(c)).toBe(false);
    // A redelivered creation (older offset) does not resurrect the revoked assignment.
    c.handle(env('RoleAssignmentCreated', { id: A, principalId: P, roleDefinitionId: BuiltInRoleIds.keyledgerAuditor, scope: '/' }), 2n);
    expect(canRead(c)).toBe(false);
  });

  it('skips messages that are not JSON or not valid RBAC events without throwing', () => {
    const c = consumer();
    expect(() => c.handle(Buffer.from('{not json'), 0n)).not.toThrow();
    expect(() => c.handle(env('RoleAssignmentCreated', { id: A }), 1n)).not.toThrow();
    expect(c.appliedCount).toBe(0);
  });

  it('reads identity events as their contracts: an unknown schema version is skipped with a logged code, not applied', () => {
    const warnings: Record<string, unknown>[] = [];
    const c = new RbacReadModelConsumer({ kafka: {} as Kafka, groupPrefix: 'test', logger: { warn: (f) => warnings.push(f), info: () => undefined } });
    const v2 = JSON.stringify({ ...JSON.parse(env('RoleAssignmentCreated', { id: A, principalId: P, roleDefinitionId: BuiltInRoleIds.keyledgerAuditor, scope: '/' })), schemaVersion: 2 });
    c.handle(v2, 0n);
    expect(canRead(c)).toBe(false);
    expect(warnings).toEqual([expect.objectContaining({ type: 'RoleAssignmentCreated', code: 'UnknownContractVersion' })]);
    c.handle(env('TenantCreated', { tenantId: 'not-a-guid', name: 'x', isDefault: true }), 1n);
    expect(c.defaultTenant).toBeUndefined();
    expect(warnings[1]).toEqual(expect.objectContaining({ type: 'TenantCreated', code: 'ContractValidationFailed' }));
  });
});
