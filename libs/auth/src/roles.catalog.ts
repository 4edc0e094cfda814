import { KeyledgerAuditDataActions } from './data-actions.catalog.js';
import type { RoleDefinition, RolePermission } from './rbac.types.js';

/**
 * Built-in role definitions: Azure Key Vault (Azure RBAC) roles, Managed HSM local RBAC roles and
 * Keyledger's own "Keyledger Auditor". GUIDs, names, actions and data actions are copied exactly;
 * descriptions are Azure's.
 *
 * Where each was verified:
 * [KV]  Microsoft Learn, "Azure built-in roles for Security" (generated from the live role
 *       definitions, ms.date 02/23/2026) —
 *       https://learn.microsoft.com/azure/role-based-access-control/built-in-roles/security
 *       (GitHub: MicrosoftDocs/azure-docs, articles/role-based-access-control/built-in-roles/security.md,
 *       commit 03e5750af10b23b5ba437d5b333ec5e9437844f9). Cross-checked against the role JSON mirrored by
 *       azadvertizer.net / azure-rbac-catalog.org for 00482a5a…, 8b54135c…, db79e9a7…, 21090545….
 * [HSM] The Managed HSM service's own answer to `GET /providers/Microsoft.Authorization/roleDefinitions`,
 *       recorded by the Azure SDK for JavaScript tests (service build 1.0.20220314) —
 *       Azure/azure-sdk-for-js, sdk/keyvault/keyvault-admin/recordings/node/keyvaultaccesscontrolclient_tracing/
 *       recording_traces_through_the_various_operations.js; GUIDs and role list also on
 *       https://learn.microsoft.com/azure/key-vault/managed-hsm/built-in-roles
 *       (MicrosoftDocs/azure-security-docs, articles/key-vault/managed-hsm/built-in-roles.md).
 *       The service returns empty descriptions; the descriptions here are the doc page's.
 * [HSM-DOC] Only in the doc page's table (no recorded definition found): Managed HSM Restore.
 * [HSM-2026] The same service answer recorded 2026-04-25 (service build 1.0.20260320, api-version
 *       7.6; Azure/azure-sdk-assets, js/sdk/keyvault/keyvault-admin/recordings/node/
 *       keyvaultaccesscontrolclient_role_definitions/recording_can_list_role_definitions.json, copied in
 *       test/conformance/recordings/keyvault-admin/): ten roles. It adds "Managed HSM EKM Administrator",
 *       names the restore role "Managed HSM Restore User" (with the data actions [HSM-DOC] had) and gives
 *       the Administrator `settings/read|write`. Where it differs from [HSM], it wins.
 */

export const BuiltInRoleIds = {
  // Azure Key Vault (Azure RBAC) — [KV]
  keyVaultAdministrator: '00482a5a-887f-4fb3-b363-3b7fe8e74483',
  keyVaultReader: '21090545-7ca7-4776-b22c-e363652d74d2',
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7',
  keyVaultSecretsUser: '4633458b-17de-408a-b874-0445c86b69e6',
  keyVaultCryptoOfficer: '14b46e9e-c2b7-41b4-b07b-48a6ebf60603',
  keyVaultCryptoUser: '12338af0-0e69-4776-bea7-57ae8d297424',
  keyVaultCryptoServiceEncryptionUser: 'e147488a-f6f5-4113-8e2d-b22465e65bf6',
  keyVaultCryptoServiceReleaseUser: '08bbd89e-9f13-488c-ac41-acfcb10c90ab',
  keyVaultCertificatesOfficer: 'a4417e6f-fecd-4de8-b567-7b0420556985',
  keyVaultCertificateUser: 'db79e9a7-68ee-4b58-9aeb-b90e7c24fcba',
  keyVaultDataAccessAdministrator: '8b54135c-b56d-4d72-a534-26097cfdc8d8',
  // Managed HSM local RBAC — [HSM]
  managedHsmAdministrator: 'a290e904-7015-4bba-90c8-60543313cdb4',
  managedHsmCryptoOfficer: '515eb02d-2335-4d2d-92f2-b1cbdf9c3778',
  managedHsmCryptoUser: '21dbd100-6940-42c2-9190-5d6cb909625b',
  managedHsmPolicyAdministrator: '4bd23610-cdcf-4971-bdee-bdc562cc28e4',
  managedHsmCryptoAuditor: '2c18b078-7c48-4d3a-af88-5a3a1b3f82b3',
  managedHsmCryptoServiceEncryptionUser: '33413926-3206-4cdd-b39a-83574fe37a17',
  managedHsmCryptoServiceReleaseUser: '21dbd100-6940-42c2-9190-5d6cb909625c',
  managedHsmBackupUser: '7b127d3c-77bd-4e3e-bbe0-dbb8971fa7f8',
  // [HSM-DOC]
  managedHsmRestore: '6efe6056-5259-49d2-8b3d-d3d73544b20b',
  // [HSM-2026]
  managedHsmEkmAdministrator: 'abdd7ec4-a273-4265-bf38-e001014e2d8e',
  // Keyledger's own role: generated once for Keyledger, never change it.
  keyledgerAuditor: '86d14f41-7631-4fc2-b92c-061b770aae35',
} as const;

export type BuiltInRoleKey = keyof typeof BuiltInRoleIds;

/** The control-plane actions most Key Vault data roles carry (Azure lists them; the data plane ignores them). */
const KV_READ_CONTROL_PLANE_ACTIONS = [
  'Microsoft.Authorization/*/read',
  'Microsoft.Insights/alertRules/*',
  'Microsoft.Resources/deployments/*',
  'Microsoft.Resources/subscriptions/resourceGroups/read',
  'Microsoft.Support/*',
  'Microsoft.KeyVault/checkNameAvailability/read',
  'Microsoft.KeyVault/deletedVaults/read',
  'Microsoft.KeyVault/locations/*/read',
  'Microsoft.KeyVault/vaults/*/read',
  'Microsoft.KeyVault/operations/read',
] as const;

/** The ABAC condition of Key Vault Data Access Administrator, verbatim. */
export const DATA_ACCESS_ADMINISTRATOR_CONDITION =
  "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR (@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals{00482a5a-887f-4fb3-b363-3b7fe8e74483, a4417e6f-fecd-4de8-b567-7b0420556985, 14b46e9e-c2b7-41b4-b07b-48a6ebf60603, e147488a-f6f5-4113-8e2d-b22465e65bf6, 12338af0-0e69-4776-bea7-57ae8d297424, 21090545-7ca7-4776-b22c-e363652d74d2, b86a8fe4-44ce-4948-aee5-eccb2c155cd7, 4633458b-17de-408a-b874-0445c86b69e6})) AND ((!(ActionMatches{'Microsoft.Authorization/roleAssignments/delete'})) OR (@Resource[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals{00482a5a-887f-4fb3-b363-3b7fe8e74483, a4417e6f-fecd-4de8-b567-7b0420556985, 14b46e9e-c2b7-41b4-b07b-48a6ebf60603, e147488a-f6f5-4113-8e2d-b22465e65bf6, 12338af0-0e69-4776-bea7-57ae8d297424, 21090545-7ca7-4776-b22c-e363652d74d2, b86a8fe4-44ce-4948-aee5-eccb2c155cd7, 4633458b-17de-408a-b874-0445c86b69e6}))";

/**
 * The roles a Key Vault Data Access Administrator may assign or unassign (its ABAC condition,
 * decoded), for the identity service's admin API.
 */
export const DATA_ACCESS_ADMINISTRATOR_ASSIGNABLE_ROLE_IDS: readonly string[] = Object.freeze([
  BuiltInRoleIds.keyVaultAdministrator,
  BuiltInRoleIds.keyVaultCertificatesOfficer,
  BuiltInRoleIds.keyVaultCryptoOfficer,
  BuiltInRoleIds.keyVaultCryptoServiceEncryptionUser,
  BuiltInRoleIds.keyVaultCryptoUser,
  BuiltInRoleIds.keyVaultReader,
  BuiltInRoleIds.keyVaultSecretsOfficer,
  BuiltInRoleIds.keyVaultSecretsUser,
]);

type PermissionInput = {
  readonly actions?: readonly string[];
  readonly notActions?: readonly string[];
  readonly dataActions?: readonly string[];
  readonly notDataActions?: readonly string[];
  readonly condition?: string;
  readonly conditionVersion?: string;
};

function permission(p: PermissionInput): RolePermission {
  return Object.freeze({
    actions: Object.freeze([...(p.actions ?? [])]),
    notActions: Object.freeze([...(p.notActions ?? [])]),
    dataActions: Object.freeze([...(p.dataActions ?? [])]),
    notDataActions: Object.freeze([...(p.notDataActions ?? [])]),
    ...(p.condition !== undefined ? { condition: p.condition } : {}),
    ...(p.conditionVersion !== undefined ? { conditionVersion: p.conditionVersion } : {}),
  });
}

function role(id: string, roleName: string, roleType: RoleDefinition['roleType'], description: string, p: PermissionInput): RoleDefinition {
  return Object.freeze({ id, roleName, description, roleType, assignableScopes: Object.freeze(['/']), permissions: Object.freeze([permission(p)]) });
}

const RBAC_ONLY = "Only works for key vaults that use the 'Azure role-based access control' permission model.";

/** Azure Key Vault built-in roles — source [KV]. */
export const KEY_VAULT_BUILT_IN_ROLES: readonly RoleDefinition[] = Object.freeze([
  role(BuiltInRoleIds.keyVaultAdministrator, 'Key Vault Administrator', 'BuiltInRole',
    `Perform all data plane operations on a key vault and all objects in it, including certificates, keys, and secrets. Cannot manage key vault resources or manage role assignments. ${RBAC_ONLY}`,
    { actions: KV_READ_CONTROL_PLANE_ACTIONS, dataActions: ['Microsoft.KeyVault/vaults/*'] }),
  role(BuiltInRoleIds.keyVaultReader, 'Key Vault Reader', 'BuiltInRole',
    `Read metadata of key vaults and its certificates, keys, and secrets. Cannot read sensitive values such as secret contents or key material. ${RBAC_ONLY}`,
    { actions: KV_READ_CONTROL_PLANE_ACTIONS, dataActions: ['Microsoft.KeyVault/vaults/*/read', 'Microsoft.KeyVault/vaults/secrets/readMetadata/action'] }),
  role(BuiltInRoleIds.keyVaultSecretsOfficer, 'Key Vault Secrets Officer', 'BuiltInRole',
    `Perform any action on the secrets of a key vault, except manage permissions. ${RBAC_ONLY}`,
    { actions: KV_READ_CONTROL_PLANE_ACTIONS, dataActions: ['Microsoft.KeyVault/vaults/secrets/*'] }),
  role(BuiltInRoleIds.keyVaultSecretsUser, 'Key Vault Secrets User', 'BuiltInRole',
    `Read secret contents. ${RBAC_ONLY}`,
    { dataActions: ['Microsoft.KeyVault/vaults/secrets/getSecret/action', 'Microsoft.KeyVault/vaults/secrets/readMetadata/action'] }),
  role(BuiltInRoleIds.keyVaultCryptoOfficer, 'Key Vault Crypto Officer', 'BuiltInRole',
    `Perform any action on the keys of a key vault, except manage permissions. ${RBAC_ONLY}`,
    { actions: KV_READ_CONTROL_PLANE_ACTIONS, dataActions: ['Microsoft.KeyVault/vaults/keys/*', 'Microsoft.KeyVault/vaults/keyrotationpolicies/*'] }),
  role(BuiltInRoleIds.keyVaultCryptoUser, 'Key Vault Crypto User', 'BuiltInRole',
    `Perform cryptographic operations using keys. ${RBAC_ONLY}`,
    {
      dataActions: [
        'Microsoft.KeyVault/vaults/keys/read',
        'Microsoft.KeyVault/vaults/keys/update/action',
        'Microsoft.KeyVault/vaults/keys/backup/action',
        'Microsoft.KeyVault/vaults/keys/encrypt/action',
        'Microsoft.KeyVault/vaults/keys/decrypt/action',
        'Microsoft.KeyVault/vaults/keys/wrap/action',
        'Microsoft.KeyVault/vaults/keys/unwrap/action',
        'Microsoft.KeyVault/vaults/keys/sign/action',
        'Microsoft.KeyVault/vaults/keys/verify/action',
      ],
    }),
  role(BuiltInRoleIds.keyVaultCryptoServiceEncryptionUser, 'Key Vault Crypto Service Encryption User', 'BuiltInRole',
    `Read metadata of keys and perform wrap/unwrap operations. ${RBAC_ONLY}`,
    {
      actions: ['Microsoft.EventGrid/eventSubscriptions/write', 'Microsoft.EventGrid/eventSubscriptions/read', 'Microsoft.EventGrid/eventSubscriptions/delete'],
      dataActions: ['Microsoft.KeyVault/vaults/keys/read', 'Microsoft.KeyVault/vaults/keys/wrap/action', 'Microsoft.KeyVault/vaults/keys/unwrap/action'],
    }),
  role(BuiltInRoleIds.keyVaultCryptoServiceReleaseUser, 'Key Vault Crypto Service Release User', 'BuiltInRole',
    `Release keys. ${RBAC_ONLY}`,
    { dataActions: ['Microsoft.KeyVault/vaults/keys/release/action'] }),
  role(BuiltInRoleIds.keyVaultCertificatesOfficer, 'Key Vault Certificates Officer', 'BuiltInRole',
    `Perform any action on the certificates of a key vault, except manage permissions. ${RBAC_ONLY}`,
    {
      actions: KV_READ_CONTROL_PLANE_ACTIONS,
      dataActions: ['Microsoft.KeyVault/vaults/certificatecas/*', 'Microsoft.KeyVault/vaults/certificates/*', 'Microsoft.KeyVault/vaults/certificatecontacts/write'],
    }),
  role(BuiltInRoleIds.keyVaultCertificateUser, 'Key Vault Certificate User', 'BuiltInRole',
    `Read certificate contents. ${RBAC_ONLY}`,
    {
      dataActions: [
        'Microsoft.KeyVault/vaults/certificates/read',
        'Microsoft.KeyVault/vaults/secrets/getSecret/action',
        'Microsoft.KeyVault/vaults/secrets/readMetadata/action',
        'Microsoft.KeyVault/vaults/keys/read',
      ],
    }),
  role(BuiltInRoleIds.keyVaultDataAccessAdministrator, 'Key Vault Data Access Administrator', 'BuiltInRole',
    'Manage access to Azure Key Vault by adding or removing role assignments for the Key Vault Administrator, Key Vault Certificates Officer, Key Vault Crypto Officer, Key Vault Crypto Service Encryption User, Key Vault Crypto User, Key Vault Reader, Key Vault Secrets Officer, or Key Vault Secrets User roles. Includes an ABAC condition to constrain role assignments.',
    {
      actions: [
        'Microsoft.Authorization/roleAssignments/write',
        'Microsoft.Authorization/roleAssignments/delete',
        'Microsoft.Authorization/*/read',
        'Microsoft.Resources/deployments/*',
        'Microsoft.Resources/subscriptions/resourceGroups/read',
        'Microsoft.Resources/subscriptions/read',
        'Microsoft.Management/managementGroups/read',
        'Microsoft.Resources/deployments/*',
        'Microsoft.Support/*',
        'Microsoft.KeyVault/vaults/*/read',
      ],
      conditionVersion: '2.0',
      condition: DATA_ACCESS_ADMINISTRATOR_CONDITION,
    }),
]);

/** Managed HSM local RBAC built-in roles — source [HSM] unless marked. */
export const MANAGED_HSM_BUILT_IN_ROLES: readonly RoleDefinition[] = Object.freeze([
  role(BuiltInRoleIds.managedHsmAdministrator, 'Managed HSM Administrator', 'AKVBuiltInRole',
    'Grants permissions to perform all operations related to the security domain, full backup and restore, and role management. Not permitted to perform any key management operations.',
    {
      dataActions: [
        'Microsoft.KeyVault/managedHsm/roleAssignments/delete/action',
        'Microsoft.KeyVault/managedHsm/roleAssignments/read/action',
        'Microsoft.KeyVault/managedHsm/roleAssignments/write/action',
        'Microsoft.KeyVault/managedHsm/roleDefinitions/read/action',
        'Microsoft.KeyVault/managedHsm/roleDefinitions/write/action',
        'Microsoft.KeyVault/managedHsm/roleDefinitions/delete/action',
        'Microsoft.KeyVault/managedHsm/securitydomain/download/action',
        'Microsoft.KeyVault/managedHsm/securitydomain/download/read',
        'Microsoft.KeyVault/managedHsm/securitydomain/upload/action',
        'Microsoft.KeyVault/managedHsm/securitydomain/upload/read',
        'Microsoft.KeyVault/managedHsm/securitydomain/transferkey/read',
        'Microsoft.KeyVault/managedHsm/backup/start/action',
        'Microsoft.KeyVault/managedHsm/restore/start/action',
        'Microsoft.KeyVault/managedHsm/backup/status/action',
        'Microsoft.KeyVault/managedHsm/restore/status/action',
        // [HSM-2026]
        'Microsoft.KeyVault/managedHsm/settings/read/action',
        'Microsoft.KeyVault/managedHsm/settings/write/action',
      ],
    }),
  role(BuiltInRoleIds.managedHsmCryptoOfficer, 'Managed HSM Crypto Officer', 'AKVBuiltInRole',
    'Grants permissions to perform all role management, purge or recover deleted keys, and export keys. Not permitted to perform any other key management operations.',
    {
      dataActions: [
        'Microsoft.KeyVault/managedHsm/roleAssignments/delete/action',
        'Microsoft.KeyVault/managedHsm/roleAssignments/read/action',
        'Microsoft.KeyVault/managedHsm/roleAssignments/write/action',
        'Microsoft.KeyVault/managedHsm/roleDefinitions/read/action',
        'Microsoft.KeyVault/managedHsm/roleDefinitions/write/action',
        'Microsoft.KeyVault/managedHsm/roleDefinitions/delete/action',
        'Microsoft.KeyVault/managedHsm/keys/deletedKeys/read/action',
        'Microsoft.KeyVault/managedHsm/keys/deletedKeys/delete',
        'Microsoft.KeyVault/managedHsm/keys/deletedKeys/recover/action',
        'Microsoft.KeyVault/managedHsm/keys/export/action',
      ],
    }),
  role(BuiltInRoleIds.managedHsmCryptoUser, 'Managed HSM Crypto User', 'AKVBuiltInRole',
    'Grants permissions to perform all key management operations except purge or recover deleted keys and export keys.',
    {
      dataActions: [
        'Microsoft.KeyVault/managedHsm/roleDefinitions/read/action',
        'Microsoft.KeyVault/managedHsm/roleAssignments/read/action',
        'Microsoft.KeyVault/managedHsm/keys/read/action',
        'Microsoft.KeyVault/managedHsm/keys/write/action',
        'Microsoft.KeyVault/managedHsm/keys/delete',
        'Microsoft.KeyVault/managedHsm/keys/create',
        'Microsoft.KeyVault/managedHsm/keys/rotate/action',
        'Microsoft.KeyVault/managedHsm/keys/import/action',
        'Microsoft.KeyVault/managedHsm/keys/release/action',
        'Microsoft.KeyVault/managedHsm/keys/backup/action',
        'Microsoft.KeyVault/managedHsm/keys/restore/action',
        'Microsoft.KeyVault/managedHsm/keys/encrypt/action',
        'Microsoft.KeyVault/managedHsm/keys/decrypt/action',
        'Microsoft.KeyVault/managedHsm/keys/wrap/action',
        'Microsoft.KeyVault/managedHsm/keys/unwrap/action',
        'Microsoft.KeyVault/managedHsm/keys/sign/action',
        'Microsoft.KeyVault/managedHsm/keys/verify/action',
        'Microsoft.KeyVault/managedHsm/keys/derive/action',
        'Microsoft.KeyVault/managedHsm/rng/action',
      ],
    }),
  role(BuiltInRoleIds.managedHsmPolicyAdministrator, 'Managed HSM Policy Administrator', 'AKVBuiltInRole',
    'Grants permissions to create and delete role assignments.',
    {
      dataActions: [
        'Microsoft.KeyVault/managedHsm/roleDefinitions/read/action',
        'Microsoft.KeyVault/managedHsm/roleDefinitions/write/action',
        'Microsoft.KeyVault/managedHsm/roleDefinitions/delete/action',
        'Microsoft.KeyVault/managedHsm/roleAssignments/read/action',
        'Microsoft.KeyVault/managedHsm/roleAssignments/write/action',
        'Microsoft.KeyVault/managedHsm/roleAssignments/delete/action',
      ],
    }),
  role(BuiltInRoleIds.managedHsmCryptoAuditor, 'Managed HSM Crypto Auditor', 'AKVBuiltInRole',
    'Grants read permissions to read (but not use) key attributes.',
    {
      dataActions: [
        'Microsoft.KeyVault/managedHsm/roleAssignments/read/action',
        'Microsoft.KeyVault/managedHsm/roleDefinitions/read/action',
        'Microsoft.KeyVault/managedHsm/keys/read/action',
        'Microsoft.KeyVault/managedHsm/keys/deletedKeys/read/action',
      ],
    }),
  role(BuiltInRoleIds.managedHsmCryptoServiceEncryptionUser, 'Managed HSM Crypto Service Encryption User', 'AKVBuiltInRole',
    'Grants permissions to use a key for service encryption.',
    {
      dataActions: [
        'Microsoft.KeyVault/managedHsm/keys/read/action',
        'Microsoft.KeyVault/managedHsm/keys/wrap/action',
        'Microsoft.KeyVault/managedHsm/keys/unwrap/action',
      ],
    }),
  role(BuiltInRoleIds.managedHsmCryptoServiceReleaseUser, 'Managed HSM Crypto Service Release User', 'AKVBuiltInRole',
    'Grants permissions to release a key to a trusted execution environment.',
    { dataActions: ['Microsoft.KeyVault/managedHsm/keys/release/action'] }),
  role(BuiltInRoleIds.managedHsmBackupUser, 'Managed HSM Backup User', 'AKVBuiltInRole',
    'Grants permissions to perform single-key or whole-HSM backup.',
    {
      dataActions: [
        'Microsoft.KeyVault/managedHsm/backup/start/action',
        'Microsoft.KeyVault/managedHsm/backup/status/action',
        'Microsoft.KeyVault/managedHsm/keys/backup/action',
      ],
    }),
  // [HSM-DOC] data actions read from the doc page's "Permitted operations" table (Restore column).
  // [HSM-2026] names it "Managed HSM Restore User" with the same data actions.
  role(BuiltInRoleIds.managedHsmRestore, 'Managed HSM Restore User', 'AKVBuiltInRole',
    'Grants permissions to perform single-key or whole-HSM restore.',
    {
      dataActions: [
        'Microsoft.KeyVault/managedHsm/keys/restore/action',
        'Microsoft.KeyVault/managedHsm/restore/start/action',
        'Microsoft.KeyVault/managedHsm/restore/status/action',
      ],
    }),
  // [HSM-2026]
  role(BuiltInRoleIds.managedHsmEkmAdministrator, 'Managed HSM EKM Administrator', 'AKVBuiltInRole',
    'Grants permissions to manage External Key Manager (EKM) proxy connections.',
    {
      dataActions: [
        'Microsoft.KeyVault/managedHsm/ekm/read/action',
        'Microsoft.KeyVault/managedHsm/ekm/write/action',
        'Microsoft.KeyVault/managedHsm/ekm/delete/action',
      ],
    }),
]);

/** Keyledger's own built-in role (not an Azure role). */
export const KEYLEDGER_BUILT_IN_ROLES: readonly RoleDefinition[] = Object.freeze([
  role(BuiltInRoleIds.keyledgerAuditor, 'Keyledger Auditor', 'BuiltInRole',
    'Read Keyledger audit records and run audit-chain verification. Grants no access to secrets, keys or certificates.',
    { dataActions: [KeyledgerAuditDataActions.readRecords, KeyledgerAuditDataActions.verify] }),
]);

export const BUILT_IN_ROLE_DEFINITIONS: readonly RoleDefinition[] = Object.freeze([
  ...KEY_VAULT_BUILT_IN_ROLES,
  ...MANAGED_HSM_BUILT_IN_ROLES,
  ...KEYLEDGER_BUILT_IN_ROLES,
]);

const byId = new Map(BUILT_IN_ROLE_DEFINITIONS.map((r) => [r.id, r] as const));
const byName = new Map(BUILT_IN_ROLE_DEFINITIONS.map((r) => [r.roleName.toLowerCase(), r] as const));

export function isBuiltInRoleId(id: string): boolean {
  return byId.has(id.toLowerCase());
}

/** A built-in role by GUID (any case) or by its exact name (case-insensitive), e.g. for `keyledger role assign --role`. */
export function findBuiltInRole(idOrName: string): RoleDefinition | undefined {
  const key = idOrName.trim().toLowerCase();
  return byId.get(key) ?? byName.get(key);
}
