/**
 * Azure Key Vault / Managed HSM data actions, spelled exactly as Azure spells them.
 *
 * Sources (checked when this file was written):
 * - Key Vault (`Microsoft.KeyVault/vaults/...`) data actions: Microsoft Learn, "Azure permissions for
 *   Security", section Microsoft.KeyVault, DataAction rows —
 *   https://learn.microsoft.com/azure/role-based-access-control/permissions/security#microsoftkeyvault
 *   (GitHub: MicrosoftDocs/azure-docs, articles/role-based-access-control/permissions/security.md).
 * - Managed HSM (`Microsoft.KeyVault/managedHsm/...`) data actions: the service's known values in
 *   `KnownDataAction` of `@azure/keyvault-admin` (Azure/azure-sdk-for-js,
 *   sdk/keyvault/keyvault-admin/src/generated/models/models.ts), plus `keys/rotate/action` and
 *   `keys/derive/action`, which the service returns inside the built-in "Managed HSM Crypto User"
 *   role (recorded in Azure/azure-sdk-for-js, sdk/keyvault/keyvault-admin/recordings/node/
 *   keyvaultaccesscontrolclient_tracing/recording_traces_through_the_various_operations.js) and the
 *   Managed HSM "Local RBAC built-in roles" page lists.
 *
 * Azure compares action strings case-insensitively; the evaluator does too.
 * Managed storage accounts (`vaults/storageaccounts/...`) are deliberately absent: Keyledger does
 * not implement that deprecated feature (the Administrator's `vaults/*` would still cover them).
 */

export const SecretDataActions = {
  getSecret: 'Microsoft.KeyVault/vaults/secrets/getSecret/action',
  setSecret: 'Microsoft.KeyVault/vaults/secrets/setSecret/action',
  readMetadata: 'Microsoft.KeyVault/vaults/secrets/readMetadata/action',
  update: 'Microsoft.KeyVault/vaults/secrets/update/action',
  delete: 'Microsoft.KeyVault/vaults/secrets/delete',
  backup: 'Microsoft.KeyVault/vaults/secrets/backup/action',
  restore: 'Microsoft.KeyVault/vaults/secrets/restore/action',
  recover: 'Microsoft.KeyVault/vaults/secrets/recover/action',
  purge: 'Microsoft.KeyVault/vaults/secrets/purge/action',
} as const;

export const KeyDataActions = {
  read: 'Microsoft.KeyVault/vaults/keys/read',
  create: 'Microsoft.KeyVault/vaults/keys/create/action',
  import: 'Microsoft.KeyVault/vaults/keys/import/action',
  update: 'Microsoft.KeyVault/vaults/keys/update/action',
  delete: 'Microsoft.KeyVault/vaults/keys/delete',
  backup: 'Microsoft.KeyVault/vaults/keys/backup/action',
  restore: 'Microsoft.KeyVault/vaults/keys/restore/action',
  recover: 'Microsoft.KeyVault/vaults/keys/recover/action',
  purge: 'Microsoft.KeyVault/vaults/keys/purge/action',
  encrypt: 'Microsoft.KeyVault/vaults/keys/encrypt/action',
  decrypt: 'Microsoft.KeyVault/vaults/keys/decrypt/action',
  wrapKey: 'Microsoft.KeyVault/vaults/keys/wrap/action',
  unwrapKey: 'Microsoft.KeyVault/vaults/keys/unwrap/action',
  sign: 'Microsoft.KeyVault/vaults/keys/sign/action',
  verify: 'Microsoft.KeyVault/vaults/keys/verify/action',
  release: 'Microsoft.KeyVault/vaults/keys/release/action',
  rotate: 'Microsoft.KeyVault/vaults/keys/rotate/action',
} as const;

export const KeyRotationPolicyDataActions = {
  read: 'Microsoft.KeyVault/vaults/keyrotationpolicies/read',
  write: 'Microsoft.KeyVault/vaults/keyrotationpolicies/write',
} as const;

export const CertificateDataActions = {
  read: 'Microsoft.KeyVault/vaults/certificates/read',
  create: 'Microsoft.KeyVault/vaults/certificates/create/action',
  import: 'Microsoft.KeyVault/vaults/certificates/import/action',
  update: 'Microsoft.KeyVault/vaults/certificates/update/action',
  delete: 'Microsoft.KeyVault/vaults/certificates/delete',
  backup: 'Microsoft.KeyVault/vaults/certificates/backup/action',
  restore: 'Microsoft.KeyVault/vaults/certificates/restore/action',
  recover: 'Microsoft.KeyVault/vaults/certificates/recover/action',
  purge: 'Microsoft.KeyVault/vaults/certificates/purge/action',
} as const;

/** Certificate issuers ("certificate authorities") and contacts are vault-level certificate settings. */
export const CertificateIssuerDataActions = {
  read: 'Microsoft.KeyVault/vaults/certificatecas/read',
  write: 'Microsoft.KeyVault/vaults/certificatecas/write',
  delete: 'Microsoft.KeyVault/vaults/certificatecas/delete',
} as const;

export const CertificateContactDataActions = {
  write: 'Microsoft.KeyVault/vaults/certificatecontacts/write',
} as const;

export const ManagedHsmKeyDataActions = {
  read: 'Microsoft.KeyVault/managedHsm/keys/read/action',
  write: 'Microsoft.KeyVault/managedHsm/keys/write/action',
  create: 'Microsoft.KeyVault/managedHsm/keys/create',
  delete: 'Microsoft.KeyVault/managedHsm/keys/delete',
  import: 'Microsoft.KeyVault/managedHsm/keys/import/action',
  export: 'Microsoft.KeyVault/managedHsm/keys/export/action',
  release: 'Microsoft.KeyVault/managedHsm/keys/release/action',
  rotate: 'Microsoft.KeyVault/managedHsm/keys/rotate/action',
  derive: 'Microsoft.KeyVault/managedHsm/keys/derive/action',
  backup: 'Microsoft.KeyVault/managedHsm/keys/backup/action',
  restore: 'Microsoft.KeyVault/managedHsm/keys/restore/action',
  readDeleted: 'Microsoft.KeyVault/managedHsm/keys/deletedKeys/read/action',
  recoverDeleted: 'Microsoft.KeyVault/managedHsm/keys/deletedKeys/recover/action',
  purgeDeleted: 'Microsoft.KeyVault/managedHsm/keys/deletedKeys/delete',
  encrypt: 'Microsoft.KeyVault/managedHsm/keys/encrypt/action',
  decrypt: 'Microsoft.KeyVault/managedHsm/keys/decrypt/action',
  wrapKey: 'Microsoft.KeyVault/managedHsm/keys/wrap/action',
  unwrapKey: 'Microsoft.KeyVault/managedHsm/keys/unwrap/action',
  sign: 'Microsoft.KeyVault/managedHsm/keys/sign/action',
  verify: 'Microsoft.KeyVault/managedHsm/keys/verify/action',
} as const;

export const ManagedHsmAdminDataActions = {
  rng: 'Microsoft.KeyVault/managedHsm/rng/action',
  roleAssignmentsRead: 'Microsoft.KeyVault/managedHsm/roleAssignments/read/action',
  roleAssignmentsWrite: 'Microsoft.KeyVault/managedHsm/roleAssignments/write/action',
  roleAssignmentsDelete: 'Microsoft.KeyVault/managedHsm/roleAssignments/delete/action',
  roleDefinitionsRead: 'Microsoft.KeyVault/managedHsm/roleDefinitions/read/action',
  roleDefinitionsWrite: 'Microsoft.KeyVault/managedHsm/roleDefinitions/write/action',
  roleDefinitionsDelete: 'Microsoft.KeyVault/managedHsm/roleDefinitions/delete/action',
  securityDomainDownload: 'Microsoft.KeyVault/managedHsm/securitydomain/download/action',
  securityDomainDownloadStatus: 'Microsoft.KeyVault/managedHsm/securitydomain/download/read',
  securityDomainUpload: 'Microsoft.KeyVault/managedHsm/securitydomain/upload/action',
  securityDomainUploadStatus: 'Microsoft.KeyVault/managedHsm/securitydomain/upload/read',
  securityDomainTransferKey: 'Microsoft.KeyVault/managedHsm/securitydomain/transferkey/read',
  backupStart: 'Microsoft.KeyVault/managedHsm/backup/start/action',
  backupStatus: 'Microsoft.KeyVault/managedHsm/backup/status/action',
  restoreStart: 'Microsoft.KeyVault/managedHsm/restore/start/action',
  restoreStatus: 'Microsoft.KeyVault/managedHsm/restore/status/action',
  // Pool settings and EKM (in the service's 2026 role list: Administrator, EKM Administrator).
  settingsRead: 'Microsoft.KeyVault/managedHsm/settings/read/action',
  settingsWrite: 'Microsoft.KeyVault/managedHsm/settings/write/action',
  ekmRead: 'Microsoft.KeyVault/managedHsm/ekm/read/action',
  ekmWrite: 'Microsoft.KeyVault/managedHsm/ekm/write/action',
  ekmDelete: 'Microsoft.KeyVault/managedHsm/ekm/delete/action',
} as const;

/** Keyledger's own data actions (not Azure's): reading and verifying the audit ledger. */
export const KeyledgerAuditDataActions = {
  readRecords: 'Keyledger/audit/records/read',
  verify: 'Keyledger/audit/verify/action',
} as const;

type ValuesOf<T> = T[keyof T];

export type SecretDataAction = ValuesOf<typeof SecretDataActions>;
export type KeyDataAction = ValuesOf<typeof KeyDataActions>;
export type KeyRotationPolicyDataAction = ValuesOf<typeof KeyRotationPolicyDataActions>;
export type CertificateDataAction = ValuesOf<typeof CertificateDataActions>;
export type CertificateIssuerDataAction = ValuesOf<typeof CertificateIssuerDataActions>;
export type CertificateContactDataAction = ValuesOf<typeof CertificateContactDataActions>;
export type ManagedHsmKeyDataAction = ValuesOf<typeof ManagedHsmKeyDataActions>;
export type ManagedHsmAdminDataAction = ValuesOf<typeof ManagedHsmAdminDataActions>;
export type KeyledgerAuditDataAction = ValuesOf<typeof KeyledgerAuditDataActions>;

export type VaultDataAction =
  | SecretDataAction
  | KeyDataAction
  | KeyRotationPolicyDataAction
  | CertificateDataAction
  | CertificateIssuerDataAction
  | CertificateContactDataAction;
export type ManagedHsmDataAction = ManagedHsmKeyDataAction | ManagedHsmAdminDataAction;
/** Every data action Keyledger knows. Custom roles may still name others (wildcards, future actions). */
export type KnownDataAction = VaultDataAction | ManagedHsmDataAction | KeyledgerAuditDataAction;

const values = <T extends Record<string, string>>(o: T): readonly ValuesOf<T>[] => Object.freeze(Object.values(o) as ValuesOf<T>[]);

export const ALL_SECRET_DATA_ACTIONS = values(SecretDataActions);
export const ALL_KEY_DATA_ACTIONS = values(KeyDataActions);
export const ALL_KEY_ROTATION_POLICY_DATA_ACTIONS = values(KeyRotationPolicyDataActions);
export const ALL_CERTIFICATE_DATA_ACTIONS = values(CertificateDataActions);
export const ALL_CERTIFICATE_ISSUER_DATA_ACTIONS = values(CertificateIssuerDataActions);
export const ALL_CERTIFICATE_CONTACT_DATA_ACTIONS = values(CertificateContactDataActions);
export const ALL_VAULT_DATA_ACTIONS: readonly VaultDataAction[] = Object.freeze([
  ...ALL_SECRET_DATA_ACTIONS,
  ...ALL_KEY_DATA_ACTIONS,
  ...ALL_KEY_ROTATION_POLICY_DATA_ACTIONS,
  ...ALL_CERTIFICATE_DATA_ACTIONS,
  ...ALL_CERTIFICATE_ISSUER_DATA_ACTIONS,
  ...ALL_CERTIFICATE_CONTACT_DATA_ACTIONS,
]);
export const ALL_MANAGED_HSM_DATA_ACTIONS: readonly ManagedHsmDataAction[] = Object.freeze([
  ...values(ManagedHsmKeyDataActions),
  ...values(ManagedHsmAdminDataActions),
]);
export const ALL_KEYLEDGER_DATA_ACTIONS = values(KeyledgerAuditDataActions);
export const ALL_KNOWN_DATA_ACTIONS: readonly KnownDataAction[] = Object.freeze([
  ...ALL_VAULT_DATA_ACTIONS,
  ...ALL_MANAGED_HSM_DATA_ACTIONS,
  ...ALL_KEYLEDGER_DATA_ACTIONS,
]);
