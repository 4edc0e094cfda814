import { describe, expect, it } from '@jest/globals';
import { ALL_KNOWN_DATA_ACTIONS, ALL_SECRET_DATA_ACTIONS, ALL_VAULT_DATA_ACTIONS } from './data-actions.catalog.js';
import { compileActionPattern } from './rbac.evaluator.js';
import { isAssignableScope, parseScope, scopeCovers, Scopes } from './rbac.scope.js';
import {
  BUILT_IN_ROLE_DEFINITIONS,
  BuiltInRoleIds,
  DATA_ACCESS_ADMINISTRATOR_ASSIGNABLE_ROLE_IDS,
  DATA_ACCESS_ADMINISTRATOR_CONDITION,
  findBuiltInRole,
  isBuiltInRoleId,
  KEY_VAULT_BUILT_IN_ROLES,
  MANAGED_HSM_BUILT_IN_ROLES,
} from './roles.catalog.js';

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

describe('built-in role catalogue', () => {
  it('lists the Azure Key Vault roles with their exact GUIDs', () => {
    expect(Object.fromEntries(KEY_VAULT_BUILT_IN_ROLES.map((r) => [r.roleName, r.id]))).toEqual({
      'Key Vault Administrator': '00482a5a-887f-4fb3-b363-3b7fe8e74483',
      'Key Vault Reader': '21090545-7ca7-4776-b22c-e363652d74d2',
      'Key Vault Secrets Officer': 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
      'Key Vault Secrets User': '4633458b-17de-408a-b874-0445c86b69e6',
      'Key Vault Crypto Officer': '14b46e9e-c2b7-41b4-b07b-48a6ebf60603',
      'Key Vault Crypto User': '12338af0-0e69-4776-bea7-57ae8d297424',
      'Key Vault Crypto Service Encryption User': 'e147488a-f6f5-4113-8e2d-b22465e65bf6',
      'Key Vault Crypto Service Release User': '08bbd89e-9f13-488c-ac41-acfcb10c90ab',
      'Key Vault Certificates Officer': 'a4417e6f-fecd-4de8-b567-7b0420556985',
      'Key Vault Certificate User': 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba',
      'Key Vault Data Access Administrator': '8b54135c-b56d-4d72-a534-26097cfdc8d8',
    });
  });

  it('lists the Managed HSM local roles with their exact GUIDs', () => {
    expect(Object.fromEntries(MANAGED_HSM_BUILT_IN_ROLES.map((r) => [r.roleName, r.id]))).toEqual({
      'Managed HSM Administrator': 'a290e904-7015-4bba-90c8-60543313cdb4',
      'Managed HSM Crypto Officer': '515eb02d-2335-4d2d-92f2-b1cbdf9c3778',
      'Managed HSM Crypto User': '21dbd100-6940-42c2-9190-5d6cb909625b',
      'Managed HSM Policy Administrator': '4bd23610-cdcf-4971-bdee-bdc562cc28e4',
      'Managed HSM Crypto Auditor': '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3',
      'Managed HSM Crypto Service Encryption User': '33413926-3206-4cdd-b39a-83574fe37a17',
      'Managed HSM Crypto Service Release User': '21dbd100-6940-42c2-9190-5d6cb909625c',
      'Managed HSM Backup User': '7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8',
      'Managed HSM Restore User': '6efe6056-5259-49d2-8b3d-d3d73544b20b',
      'Managed HSM EKM Administrator': 'abdd7ec4-a273-4265-bf38-e001014e2d8e',
    });
  });

  it('has unique lower-case GUIDs and unique names, all assignable at /', () => {
    const ids = BUILT_IN_ROLE_DEFINITIONS.map((r) => r.id);
    expect(ids.every((id) => GUID.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(BUILT_IN_ROLE_DEFINITIONS.map((r) => r.roleName.toLowerCase())).size).toBe(ids.length);
    expect(BUILT_IN_ROLE_DEFINITIONS.every((r) => r.assignableScopes.join() === '/')).toBe(true);
    expect(Object.values(BuiltInRoleIds).sort()).toEqual([...ids].sort());
  });

  it('every data action pattern names at least one known data action (catches typos)', () => {
    for (const role of BUILT_IN_ROLE_DEFINITIONS) {
      for (const pattern of role.permissions.flatMap((p) => [...p.dataActions, ...p.notDataActions])) {
        const m = compileActionPattern(pattern);
        expect([role.roleName, pattern, ALL_KNOWN_DATA_ACTIONS.some((a) => m(a.toLowerCase()))]).toEqual([role.roleName, pattern, true]);
      }
    }
  });

  it('the catalogue is frozen', () => {
    const admin = findBuiltInRole('Key Vault Administrator');
    expect(Object.isFrozen(admin)).toBe(true);
    expect(Object.isFrozen(admin?.permissions[0]?.dataActions)).toBe(true);
    expect(Object.isFrozen(ALL_VAULT_DATA_ACTIONS)).toBe(true);
  });

  it('finds roles by GUID (any case) or name (any case)', () => {
    expect(findBuiltInRole('key vault secrets user')?.id).toBe(BuiltInRoleIds.keyVaultSecretsUser);
    expect(findBuiltInRole(BuiltInRoleIds.keyVaultReader.toUpperCase())?.roleName).toBe('Key Vault Reader');
    expect(findBuiltInRole('Keyledger Auditor')?.id).toBe('86d14f41-7631-4fc2-b92c-061b770aae35');
    expect(findBuiltInRole('Owner')).toBeUndefined();
    expect(isBuiltInRoleId(BuiltInRoleIds.managedHsmAdministrator)).toBe(true);
    expect(isBuiltInRoleId('00000000-0000-4000-8000-000000000000')).toBe(false);
  });

  it('Data Access Administrator: no data actions, and its ABAC condition names exactly the assignable roles', () => {
    const daa = findBuiltInRole(BuiltInRoleIds.keyVaultDataAccessAdministrator);
    expect(daa?.permissions[0]?.dataActions).toEqual([]);
    expect(daa?.permissions[0]?.condition).toBe(DATA_ACCESS_ADMINISTRATOR_CONDITION);
    const guids = DATA_ACCESS_ADMINISTRATOR_CONDITION.match(/GuidEquals\{([^}]*)\}/)?.[1]?.split(',').map((s) => s.trim());
    expect(new Set(guids)).toEqual(new Set(DATA_ACCESS_ADMINISTRATOR_ASSIGNABLE_ROLE_IDS));
  });

  it('secret data actions are the nine Azure defines', () => {
    expect(ALL_SECRET_DATA_ACTIONS.map((a) => a.replace('Microsoft.KeyVault/vaults/secrets/', ''))).toEqual([
      'getSecret/action', 'setSecret/action', 'readMetadata/action', 'update/action', 'delete', 'backup/action', 'restore/action', 'recover/action', 'purge/action',
    ]);
  });
});

describe('scopes', () => {
  it.each([
    ['/', true],
    ['/vaults/dev', true],
    ['/vaults/dev/secrets', true],
    ['/vaults/dev/keys', true],
    ['/vaults/dev/certificates', true],
    ['/vaults/dev/secrets/db-password', true],
    ['/vaults/dev/keys/k1', true],
    ['/vaults/dev/certificates/c1', true],
    ['/managedHSMs/pool1', true],
    ['/managedHSMs/pool1/keys', true],
    ['/managedHSMs/pool1/keys/k1', true],
    ['/vaults', false],
    ['/managedHSMs', false],
    ['/vaults/dev/storage', false],
    ['/vaults/dev/secrets/x/version', false],
    ['/managedHSMs/pool1/secrets', false],
    ['/subscriptions/x', false],
    ['vaults/dev', false],
    ['/vaults/dev//secrets', false],
    ['', false],
  ])('isAssignableScope(%j) = %s', (scope, expected) => {
    expect(isAssignableScope(scope)).toBe(expected);
  });

  it('normalises case and one trailing slash', () => {
    expect(parseScope('/Vaults/Dev/Secrets/X/')?.key).toBe('/vaults/dev/secrets/x');
    expect(parseScope('/')?.segments).toEqual([]);
  });

  it('covers segment-wise only', () => {
    expect(scopeCovers('/', '/vaults/a')).toBe(true);
    expect(scopeCovers('/vaults/a', '/vaults/a')).toBe(true);
    expect(scopeCovers('/vaults/a', '/vaults/a/secrets')).toBe(true);
    expect(scopeCovers('/vaults/a', '/vaults/ab')).toBe(false);
    expect(scopeCovers('/vaults/a/secrets', '/vaults/a')).toBe(false);
  });

  it('builds scope strings', () => {
    expect(Scopes.object('dev', 'secrets', 'db')).toBe('/vaults/dev/secrets/db');
    expect(Scopes.managedHsmKey('p', 'k')).toBe('/managedHSMs/p/keys/k');
    expect([Scopes.root(), Scopes.vault('v'), Scopes.collection('v', 'keys'), Scopes.managedHsm('p'), Scopes.managedHsmKeys('p')].every(isAssignableScope)).toBe(true);
  });
});
