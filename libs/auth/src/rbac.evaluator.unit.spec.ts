import { describe, expect, it } from '@jest/globals';
import {
  ALL_MANAGED_HSM_DATA_ACTIONS,
  ALL_VAULT_DATA_ACTIONS,
  CertificateContactDataActions as CC,
  CertificateDataActions as C,
  CertificateIssuerDataActions as CI,
  KeyDataActions as K,
  KeyledgerAuditDataActions as KL,
  KeyRotationPolicyDataActions as KRP,
  ManagedHsmAdminDataActions as HA,
  ManagedHsmKeyDataActions as HK,
  SecretDataActions as S,
} from './data-actions.catalog.js';
import { compileActionPattern, normalizeRoleDefinitionId, RbacEvaluator } from './rbac.evaluator.js';
import { BUILT_IN_ROLE_DEFINITIONS, BuiltInRoleIds as R, findBuiltInRole } from './roles.catalog.js';
import type { RoleAssignment, RoleDefinition } from './rbac.types.js';

const P = '0b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e01';
const OTHER = '7d0f2e8a-1111-4c51-9a43-3c0a2b1d9e02';

let seq = 0;
const assign = (roleDefinitionId: string, scope: string, principalId = P): RoleAssignment => ({
  id: `a-${String(++seq).padStart(4, '0')}`,
  principalId,
  roleDefinitionId,
  scope,
});

/** The object a vault data action is evaluated on, by the collection it belongs to. */
function vaultResource(action: string, vault = 'v1'): string {
  const sub = action.split('/')[2];
  if (sub === 'secrets') return `/vaults/${vault}/secrets/s1`;
  if (sub === 'keys' || sub === 'keyrotationpolicies') return `/vaults/${vault}/keys/k1`;
  return `/vaults/${vault}/certificates/c1`;
}
const hsmResource = (action: string): string => (action.includes('/managedHsm/keys/') ? '/managedHSMs/pool1/keys/k1' : '/managedHSMs/pool1');

/**
 * Expected data-plane permissions, written out by hand from Azure's role definitions (not derived
 * from the patterns the evaluator compiles), so a pattern-matching bug shows up here.
 */
const EXPECTED_VAULT: ReadonlyArray<readonly [string, string, readonly string[]]> = [
  ['Key Vault Administrator', R.keyVaultAdministrator, ALL_VAULT_DATA_ACTIONS],
  ['Key Vault Reader', R.keyVaultReader, [K.read, KRP.read, C.read, CI.read, S.readMetadata]],
  ['Key Vault Secrets Officer', R.keyVaultSecretsOfficer, Object.values(S)],
  ['Key Vault Secrets User', R.keyVaultSecretsUser, [S.getSecret, S.readMetadata]],
  ['Key Vault Crypto Officer', R.keyVaultCryptoOfficer, [...Object.values(K), KRP.read, KRP.write]],
  ['Key Vault Crypto User', R.keyVaultCryptoUser, [K.read, K.update, K.backup, K.encrypt, K.decrypt, K.wrapKey, K.unwrapKey, K.sign, K.verify]],
  ['Key Vault Crypto Service Encryption User', R.keyVaultCryptoServiceEncryptionUser, [K.read, K.wrapKey, K.unwrapKey]],
  ['Key Vault Crypto Service Release User', R.keyVaultCryptoServiceReleaseUser, [K.release]],
  ['Key Vault Certificates Officer', R.keyVaultCertificatesOfficer, [...Object.values(C), ...Object.values(CI), CC.write]],
  ['Key Vault Certificate User', R.keyVaultCertificateUser, [C.read, S.getSecret, S.readMetadata, K.read]],
  ['Key Vault Data Access Administrator', R.keyVaultDataAccessAdministrator, []],
  ['Keyledger Auditor', R.keyledgerAuditor, []],
];

const EXPECTED_HSM: ReadonlyArray<readonly [string, string, readonly string[]]> = [
  ['Managed HSM Administrator', R.managedHsmAdministrator, [
    HA.roleAssignmentsRead, HA.roleAssignmentsWrite, HA.roleAssignmentsDelete,
    HA.roleDefinitionsRead, HA.roleDefinitionsWrite, HA.roleDefinitionsDelete,
    HA.securityDomainDownload, HA.securityDomainDownloadStatus, HA.securityDomainUpload, HA.securityDomainUploadStatus, HA.securityDomainTransferKey,
    HA.backupStart, HA.backupStatus, HA.restoreStart, HA.restoreStatus, HA.settingsRead, HA.settingsWrite,
  ]],
  ['Managed HSM Crypto Officer', R.managedHsmCryptoOfficer, [
    HA.roleAssignmentsRead, HA.roleAssignmentsWrite, HA.roleAssignmentsDelete,
    HA.roleDefinitionsRead, HA.roleDefinitionsWrite, HA.roleDefinitionsDelete,
    HK.readDeleted, HK.recoverDeleted, HK.purgeDeleted, HK.export,
  ]],
  ['Managed HSM Crypto User', R.managedHsmCryptoUser, [
    HA.roleDefinitionsRead, HA.roleAssignmentsRead,
    HK.read, HK.write, HK.delete, HK.create, HK.rotate, HK.import, HK.release, HK.backup, HK.restore,
    HK.encrypt, HK.decrypt, HK.wrapKey, HK.unwrapKey, HK.sign, HK.verify, HK.derive, HA.rng,
  ]],
  ['Managed HSM Policy Administrator', R.managedHsmPolicyAdministrator, [
    HA.roleAssignmentsRead, HA.roleAssignmentsWrite, HA.roleAssignmentsDelete, HA.roleDefinitionsRead, HA.roleDefinitionsWrite, HA.roleDefinitionsDelete,
  ]],
  ['Managed HSM Crypto Auditor', R.managedHsmCryptoAuditor, [HA.roleAssignmentsRead, HA.roleDefinitionsRead, HK.read, HK.readDeleted]],
  ['Managed HSM Crypto Service Encryption User', R.managedHsmCryptoServiceEncryptionUser, [HK.read, HK.wrapKey, HK.unwrapKey]],
  ['Managed HSM Crypto Service Release User', R.managedHsmCryptoServiceReleaseUser, [HK.release]],
  ['Managed HSM Backup User', R.managedHsmBackupUser, [HA.backupStart, HA.backupStatus, HK.backup]],
  ['Managed HSM Restore User', R.managedHsmRestore, [HK.restore, HA.restoreStart, HA.restoreStatus]],
  ['Managed HSM EKM Administrator', R.managedHsmEkmAdministrator, [HA.ekmRead, HA.ekmWrite, HA.ekmDelete]],
];

describe('built-in Key Vault roles: every vault data action, as Azure documents them', () => {
  for (const [name, roleId, allowed] of EXPECTED_VAULT) {
    describe(name, () => {
      const evaluator = RbacEvaluator.fromLists([assign(roleId, '/vaults/v1')]);
      const cases = ALL_VAULT_DATA_ACTIONS.map((a) => [a, allowed.includes(a)] as const);
      it.each(cases)('%s → allowed=%s', (action, expected) => {
        const d = evaluator.checkDataAction({ principalId: P, dataAction: action, resource: vaultResource(action) });
        expect(d.allowed).toBe(expected);
        if (expected) expect(d.roleDefinitionId).toBe(roleId);
      });
      it('grants nothing on a managed HSM', () => {
        expect(RbacEvaluator.fromLists([assign(roleId, '/')]).permittedDataActions(P, '/managedHSMs/pool1/keys/k1', ALL_MANAGED_HSM_DATA_ACTIONS)).toEqual([]);
      });
    });
  }

  it('the role name matches the catalogue entry for each GUID', () => {
    for (const [name, roleId] of [...EXPECTED_VAULT, ...EXPECTED_HSM]) expect(findBuiltInRole(roleId)?.roleName).toBe(name);
  });

  it('spot checks named in the issue', () => {
    const check = (roleId: string, action: string): boolean =>
      RbacEvaluator.fromLists([assign(roleId, '/vaults/v1')]).checkDataAction({ principalId: P, dataAction: action, resource: vaultResource(action) }).allowed;
    expect(check(R.keyVaultSecretsUser, S.getSecret)).toBe(true);
    expect(check(R.keyVaultSecretsUser, S.readMetadata)).toBe(true);
    expect(check(R.keyVaultSecretsUser, S.setSecret)).toBe(false);
    expect(check(R.keyVaultCryptoServiceEncryptionUser, K.wrapKey)).toBe(true);
    expect(check(R.keyVaultCryptoServiceEncryptionUser, K.unwrapKey)).toBe(true);
    expect(check(R.keyVaultCryptoServiceEncryptionUser, K.read)).toBe(true);
    expect(check(R.keyVaultCryptoServiceEncryptionUser, K.sign)).toBe(false);
    expect(check(R.keyVaultReader, S.readMetadata)).toBe(true);
    expect(check(R.keyVaultReader, S.getSecret)).toBe(false);
    expect(ALL_VAULT_DATA_ACTIONS.every((a) => check(R.keyVaultAdministrator, a))).toBe(true);
    expect(Object.values(S).some((a) => check(R.keyVaultDataAccessAdministrator, a))).toBe(false);
  });

  it('Keyledger Auditor may read and verify the audit ledger, and nothing else', () => {
    const e = RbacEvaluator.fromLists([assign(R.keyledgerAuditor, '/')]);
    expect(e.permittedDataActions(P, '/', [KL.readRecords, KL.verify, ...ALL_VAULT_DATA_ACTIONS, ...ALL_MANAGED_HSM_DATA_ACTIONS])).toEqual([KL.readRecords, KL.verify]);
    expect(RbacEvaluator.fromLists([assign(R.keyVaultAdministrator, '/')]).checkDataAction({ principalId: P, dataAction: KL.readRecords, resource: '/' }).allowed).toBe(false);
  });
});

describe('built-in Managed HSM local roles: every managedHsm data action', () => {
  for (const [name, roleId, allowed] of EXPECTED_HSM) {
    describe(name, () => {
      const evaluator = RbacEvaluator.fromLists([assign(roleId, '/managedHSMs/pool1')]);
      const cases = ALL_MANAGED_HSM_DATA_ACTIONS.map((a) => [a, allowed.includes(a)] as const);
      it.each(cases)('%s → allowed=%s', (action, expected) => {
        expect(evaluator.checkDataAction({ principalId: P, dataAction: action, resource: hsmResource(action) }).allowed).toBe(expected);
      });
      it('grants nothing on a key vault', () => {
        expect(RbacEvaluator.fromLists([assign(roleId, '/')]).permittedDataActions(P, '/vaults/v1/keys/k1', ALL_VAULT_DATA_ACTIONS)).toEqual([]);
      });
    });
  }
});

describe('scope inheritance', () => {
  const secret = (resource: string, assignments: RoleAssignment[], dataAction: string = S.getSecret) =>
    RbacEvaluator.fromLists(assignments).checkDataAction({ principalId: P, dataAction, resource });

  it.each([
    ['/', '/vaults/v/secrets/x', true],
    ['/vaults/v', '/vaults/v/secrets/x', true],
    ['/vaults/v', '/vaults/v/secrets/x/0123456789abcdef0123456789abcdef', true],
    ['/vaults/v/secrets', '/vaults/v/secrets/x', true],
    ['/vaults/v/secrets/x', '/vaults/v/secrets/x', true],
    ['/vaults/v/secrets/a', '/vaults/v/secrets/b', false],
    ['/vaults/v/secrets/a', '/vaults/v/secrets/ab', false],
    ['/vaults/v/secrets/a', '/vaults/v/secrets', false],
    ['/vaults/v/secrets/a', '/vaults/v', false],
    ['/vaults/v', '/vaults/v2/secrets/x', false],
    ['/vaults/v', '/vaults/v2', false],
    ['/vaults/v/keys', '/vaults/v/secrets/x', false],
    ['/vaults/Dev/Secrets/DB-Password', '/vaults/dev/secrets/db-password', true],
    ['/vaults/dev/', '/vaults/DEV/secrets/x', true],
  ])('assignment at %s → resource %s: %s', (scope, resource, expected) => {
    expect(secret(resource, [assign(R.keyVaultSecretsUser, scope)]).allowed).toBe(expected);
  });

  it('managed HSM pool, /keys and single-key scopes', () => {
    const sign = (scope: string, resource: string) =>
      RbacEvaluator.fromLists([assign(R.managedHsmCryptoUser, scope)]).checkDataAction({ principalId: P, dataAction: HK.sign, resource }).allowed;
    expect(sign('/managedHSMs/pool1', '/managedHSMs/pool1/keys/k')).toBe(true);
    expect(sign('/managedHSMs/pool1/keys', '/managedHSMs/pool1/keys/k')).toBe(true);
    expect(sign('/managedHSMs/pool1/keys/k', '/managedHSMs/pool1/keys/k')).toBe(true);
    expect(sign('/managedHSMs/pool1/keys/k', '/managedHSMs/pool1/keys/k2')).toBe(false);
    expect(sign('/managedHSMs/pool1', '/managedHSMs/pool2/keys/k')).toBe(false);
    expect(sign('/vaults/pool1', '/managedHSMs/pool1/keys/k')).toBe(false);
  });

  it('another principal’s assignment grants nothing; deny by default', () => {
    expect(secret('/vaults/v/secrets/x', [assign(R.keyVaultAdministrator, '/', OTHER)])).toEqual({ allowed: false, reason: 'NoApplicableAssignment' });
    expect(secret('/vaults/v/secrets/x', [])).toEqual({ allowed: false, reason: 'NoApplicableAssignment' });
  });

  it('an applicable assignment whose role lacks the action says so', () => {
    expect(secret('/vaults/v/secrets/x', [assign(R.keyVaultReader, '/vaults/v')])).toEqual({ allowed: false, reason: 'NotGranted' });
  });

  it('principal ids compare case-insensitively and several ids (groups) are unioned', () => {
    const e = RbacEvaluator.fromLists([assign(R.keyVaultSecretsUser, '/vaults/v', OTHER)]);
    expect(e.checkDataAction({ principalId: OTHER.toUpperCase(), dataAction: S.getSecret, resource: '/vaults/v/secrets/x' }).allowed).toBe(true);
    expect(e.checkDataAction({ principalId: [P, OTHER], dataAction: S.getSecret, resource: '/vaults/v/secrets/x' }).allowed).toBe(true);
  });

  it('accepts Azure-style role definition ids', () => {
    const a = { ...assign(R.keyVaultSecretsUser, '/vaults/v'), roleDefinitionId: `/providers/Microsoft.Authorization/roleDefinitions/${R.keyVaultSecretsUser.toUpperCase()}` };
    const d = RbacEvaluator.fromLists([a]).checkDataAction({ principalId: P, dataAction: S.getSecret, resource: '/vaults/v/secrets/x' });
    expect(d).toEqual({ allowed: true, assignmentId: a.id, roleDefinitionId: R.keyVaultSecretsUser, reason: 'Granted' });
    expect(normalizeRoleDefinitionId('Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/a290e904-7015-4bba-90c8-60543313cdb4')).toBe(R.managedHsmAdministrator);
    expect(normalizeRoleDefinitionId('not-a-guid')).toBeUndefined();
  });
});

describe('additivity, notDataActions, conditions', () => {
  it('permissions are the union of all applicable assignments', () => {
    const e = RbacEvaluator.fromLists([assign(R.keyVaultSecretsUser, '/vaults/v'), assign(R.keyVaultCryptoServiceEncryptionUser, '/vaults/v/keys/k')]);
    expect(e.permittedDataActions(P, '/vaults/v/secrets/s', ALL_VAULT_DATA_ACTIONS)).toEqual([S.getSecret, S.readMetadata]);
    expect(e.permittedDataActions(P, '/vaults/v/keys/k', ALL_VAULT_DATA_ACTIONS)).toEqual([K.read, K.wrapKey, K.unwrapKey]);
    expect(e.permittedDataActions(P, '/vaults/v/keys/other', ALL_VAULT_DATA_ACTIONS)).toEqual([]);
  });

  it('the applied assignment is the most specific granting one (deterministic for audit)', () => {
    const vaultLevel = assign(R.keyVaultAdministrator, '/vaults/v');
    const objectLevel = assign(R.keyVaultSecretsUser, '/vaults/v/secrets/s');
    const root = assign(R.keyVaultSecretsOfficer, '/');
    for (const order of [[vaultLevel, objectLevel, root], [root, objectLevel, vaultLevel]]) {
      const d = RbacEvaluator.fromLists(order).checkDataAction({ principalId: P, dataAction: S.getSecret, resource: '/vaults/v/secrets/s' });
      expect(d).toEqual({ allowed: true, assignmentId: objectLevel.id, roleDefinitionId: R.keyVaultSecretsUser, reason: 'Granted' });
    }
    const set = RbacEvaluator.fromLists([root, objectLevel, vaultLevel]).checkDataAction({ principalId: P, dataAction: S.setSecret, resource: '/vaults/v/secrets/s' });
    expect(set.assignmentId).toBe(vaultLevel.id);
  });

  const CUSTOM_ID = '3f0c7a2e-5b1d-4e8f-9c6a-2d4b8e1f0a77';
  const allSecretsButValue: RoleDefinition = {
    id: CUSTOM_ID,
    roleName: 'Secrets writer (no read)',
    description: '',
    roleType: 'CustomRole',
    assignableScopes: ['/'],
    permissions: [{ actions: [], notActions: [], dataActions: ['Microsoft.KeyVault/vaults/secrets/*'], notDataActions: ['microsoft.keyvault/vaults/secrets/getsecret/action'] }],
  };

  it('notDataActions remove actions from the same role (case-insensitive)', () => {
    const e = RbacEvaluator.fromLists([assign(CUSTOM_ID, '/vaults/v')], [...BUILT_IN_ROLE_DEFINITIONS, allSecretsButValue]);
    expect(e.checkDataAction({ principalId: P, dataAction: S.setSecret, resource: '/vaults/v/secrets/s' }).allowed).toBe(true);
    expect(e.checkDataAction({ principalId: P, dataAction: S.getSecret, resource: '/vaults/v/secrets/s' })).toEqual({ allowed: false, reason: 'ExcludedByNotDataActions' });
  });

  it('notDataActions are not a deny: another role still grants', () => {
    const secretsUser = assign(R.keyVaultSecretsUser, '/vaults/v');
    const e = RbacEvaluator.fromLists([assign(CUSTOM_ID, '/vaults/v'), secretsUser], [...BUILT_IN_ROLE_DEFINITIONS, allSecretsButValue]);
    expect(e.checkDataAction({ principalId: P, dataAction: S.getSecret, resource: '/vaults/v/secrets/s' })).toEqual({
      allowed: true,
      assignmentId: secretsUser.id,
      roleDefinitionId: R.keyVaultSecretsUser,
      reason: 'Granted',
    });
  });

  it('a permission block with an ABAC condition grants nothing (fail closed)', () => {
    const conditioned: RoleDefinition = {
      ...allSecretsButValue,
      permissions: [{ actions: [], notActions: [], dataActions: ['Microsoft.KeyVault/vaults/secrets/*'], notDataActions: [], condition: "@Resource[x] StringEquals 'y'" }],
    };
    const e = RbacEvaluator.fromLists([assign(CUSTOM_ID, '/vaults/v')], [...BUILT_IN_ROLE_DEFINITIONS, conditioned]);
    expect(e.checkDataAction({ principalId: P, dataAction: S.setSecret, resource: '/vaults/v/secrets/s' }).allowed).toBe(false);
  });

  it('an assignment to an unknown role definition grants nothing', () => {
    const e = RbacEvaluator.fromLists([assign('99999999-9999-4999-8999-999999999999', '/')]);
    expect(e.checkDataAction({ principalId: P, dataAction: S.getSecret, resource: '/vaults/v/secrets/s' })).toEqual({ allowed: false, reason: 'NotGranted' });
  });
});

describe('input hardening', () => {
  const admin = RbacEvaluator.fromLists([assign(R.keyVaultAdministrator, '/')]);
  it.each(['', 'vaults/v', '/vaults//x', '/vaults/v/../w', '/vaults/./v', '/vaults/v%2f..', '/vaults/v w', '//'])('rejects resource %j', (resource) => {
    expect(admin.checkDataAction({ principalId: P, dataAction: S.getSecret, resource })).toEqual({ allowed: false, reason: 'InvalidResource' });
  });

  it.each([
    ['empty', ''],
    ['a bare wildcard', '*'],
    ['a wildcard pattern', 'Microsoft.KeyVault/vaults/*'],
    ['a collection wildcard', 'Microsoft.KeyVault/vaults/secrets/*'],
    ['300 characters', 'x'.repeat(300)],
  ])('rejects a requested action that is %s', (_name, dataAction) => {
    expect(admin.checkDataAction({ principalId: P, dataAction, resource: '/vaults/v/secrets/s' })).toEqual({ allowed: false, reason: 'InvalidAction' });
  });

  it('refuses a collection’s action on another collection’s object, and vault actions on managed HSMs', () => {
    expect(admin.checkDataAction({ principalId: P, dataAction: S.getSecret, resource: '/vaults/v/keys/k' }).reason).toBe('ActionResourceMismatch');
    expect(admin.checkDataAction({ principalId: P, dataAction: K.sign, resource: '/vaults/v/secrets/k' }).reason).toBe('ActionResourceMismatch');
    expect(admin.checkDataAction({ principalId: P, dataAction: K.sign, resource: '/managedHSMs/p/keys/k' }).reason).toBe('ActionResourceMismatch');
    expect(admin.checkDataAction({ principalId: P, dataAction: HK.sign, resource: '/vaults/v/keys/k' }).reason).toBe('ActionResourceMismatch');
    expect(admin.checkDataAction({ principalId: P, dataAction: KRP.write, resource: '/vaults/v/keys/k' }).allowed).toBe(true);
    expect(admin.checkDataAction({ principalId: P, dataAction: S.readMetadata, resource: '/vaults/v/secrets' }).allowed).toBe(true);
    expect(admin.checkDataAction({ principalId: P, dataAction: S.readMetadata, resource: '/vaults/v' }).allowed).toBe(true);
  });

  it('an assignment with a malformed scope never applies', () => {
    const e = RbacEvaluator.fromLists([assign(R.keyVaultAdministrator, 'vaults/v'), assign(R.keyVaultAdministrator, '/vaults/../')]);
    expect(e.checkDataAction({ principalId: P, dataAction: S.getSecret, resource: '/vaults/v/secrets/s' }).allowed).toBe(false);
  });

  it('wildcards match any run of characters, anchored, ignoring case', () => {
    const m = compileActionPattern('Microsoft.KeyVault/vaults/*/read');
    expect(m('microsoft.keyvault/vaults/keys/read')).toBe(true);
    expect(m('microsoft.keyvault/vaults/certificatecas/read')).toBe(true);
    expect(m('microsoft.keyvault/vaults/secrets/readmetadata/action')).toBe(false);
    expect(m('microsoft.keyvault/vaults/keys/read/extra')).toBe(false);
    expect(compileActionPattern('Microsoft.KeyVault/vaults/secrets/getSecret/action')('microsoft.keyvault/vaults/secrets/getsecret/action')).toBe(true);
    expect(compileActionPattern('Microsoft.KeyVault/vaults/keys/*')('microsoft.keyvault/vaults/keyrotationpolicies/read')).toBe(false);
    expect(compileActionPattern('a.b(c)*')('a.b(c)d')).toBe(true);
    expect(compileActionPattern('a.b*')('axb')).toBe(false);
  });
});

describe('resource paths judged again on every check (the parse is remembered, the decision is not)', () => {
  it('gives the same answer on repeated checks, and follows the policy source between them', () => {
    const evaluator = RbacEvaluator.fromLists([assign(R.keyVaultSecretsUser, '/vaults/v1/secrets/a')]);
    for (let i = 0; i < 3; i++) {
      expect(evaluator.checkDataAction({ principalId: P, dataAction: S.getSecret, resource: '/vaults/v1/secrets/A' })).toMatchObject({ allowed: true, reason: 'Granted' });
      expect(evaluator.checkDataAction({ principalId: P, dataAction: S.getSecret, resource: '/vaults/v1/secrets/b' })).toMatchObject({ allowed: false, reason: 'NoApplicableAssignment' });
      expect(evaluator.checkDataAction({ principalId: P, dataAction: S.getSecret, resource: '/vaults/v1/secrets/../a' })).toMatchObject({ allowed: false, reason: 'InvalidResource' });
    }
    // Another policy on the same (now remembered) path decides by its own assignments.
    expect(RbacEvaluator.fromLists([]).checkDataAction({ principalId: P, dataAction: S.getSecret, resource: '/vaults/v1/secrets/A' }).allowed).toBe(false);
  });
});
