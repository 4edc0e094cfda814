import { DomainError } from '#libs/kernel';

/**
 * Stable error codes of the vault domain. The HTTP adapter maps each to Azure's status,
 * `error.code`, `innererror.code` and message text (see adapters/http/azure-errors.ts);
 * domain code never decides a status code.
 */
export const VaultErrorCode = {
  BadParameter: 'BadParameter',
  SecretNotFound: 'SecretNotFound',
  DeletedSecretNotFound: 'DeletedSecretNotFound',
  SecretDisabled: 'SecretDisabled',
  SecretIsDeletedButRecoverable: 'SecretIsDeletedButRecoverable',
  SecretRestoreConflict: 'SecretRestoreConflict',
  SecretManaged: 'SecretManaged',
  PurgeProtected: 'PurgeProtected',
  MalformedBackup: 'MalformedBackup',
  VaultNotFound: 'VaultNotFound',
  DeletedVaultNotFound: 'DeletedVaultNotFound',
  VaultAlreadyExists: 'VaultAlreadyExists',
  VaultIsDeletedButRecoverable: 'VaultIsDeletedButRecoverable',
  VaultPurgeProtectionIrreversible: 'VaultPurgeProtectionIrreversible',
  // A Managed HSM pool's local RBAC and settings (domain/pool-administration).
  RoleAssignmentExists: 'RoleAssignmentExists',
  RoleAssignmentNotFound: 'RoleAssignmentNotFound',
  RoleDefinitionNotFound: 'RoleDefinitionNotFound',
  RoleDefinitionInUse: 'RoleDefinitionInUse',
  SettingNotFound: 'SettingNotFound',
  CertificateIssuerNotFound: 'CertificateIssuerNotFound',
  ContactsNotFound: 'ContactsNotFound',
} as const;
export type VaultErrorCode = (typeof VaultErrorCode)[keyof typeof VaultErrorCode];

export const badParameter = (message: string, details: Record<string, string | number | boolean> = {}): DomainError =>
  new DomainError(VaultErrorCode.BadParameter, message, details);

export const secretNotFound = (name: string): DomainError => new DomainError(VaultErrorCode.SecretNotFound, `secret ${name} was not found`, { name });

export const deletedSecretNotFound = (name: string): DomainError =>
  new DomainError(VaultErrorCode.DeletedSecretNotFound, `deleted secret ${name} was not found`, { name });
