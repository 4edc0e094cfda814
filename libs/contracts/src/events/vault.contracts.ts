import { z } from 'zod';
import { defineContract, type MessageOf } from './contract.js';

/**
 * The vault service's published lifecycle events (topic keyledger.vault.events.v1) for vaults
 * and secrets, version 2. Every one names its object explicitly: `vault` (the vault name),
 * `collection` (`secrets`, or null for the vault itself), `name` (the object name; the vault
 * name for a vault event) and `version` (the object version the event is about, or null when
 * it is about the whole object). Version 1 was the private event's data as published before
 * contracts existed (no object identity for most types): it is only readable where an
 * upcaster can lift it without guessing (`VaultCreated`, which carried its name).
 *
 * Never in a contract: secret values, ciphertext, data-key handles. Times are unix seconds.
 */
const objectName = z.string().regex(/^[0-9A-Za-z-]{1,127}$/, 'must be a vault object name');
const vaultName = z.string().regex(/^[0-9A-Za-z-]{3,24}$/, 'must be a vault name');
const hex32 = z.string().regex(/^[0-9a-f]{32}$/, 'must be a 32-hex version');
const seconds = z.int().nonnegative();
const tags = z.record(z.string(), z.string());

const vaultIdentity = { vault: vaultName, collection: z.null(), name: vaultName, version: z.null() };
const secretIdentity = <V extends z.ZodType>(version: V) => ({ vault: vaultName, collection: z.literal('secrets'), name: objectName, version });

export const VaultCreatedV2 = defineContract({
  type: 'VaultCreated',
  schemaVersion: 2,
  source: 'vault',
  schema: z.strictObject({ ...vaultIdentity, vaultId: z.string().min(1), retentionDays: z.int().min(7).max(90), purgeProtection: z.boolean(), tags, created: seconds }),
});
export const VaultUpdatedV2 = defineContract({
  type: 'VaultUpdated',
  schemaVersion: 2,
  source: 'vault',
  schema: z.strictObject({ ...vaultIdentity, tags, purgeProtection: z.boolean(), updated: seconds }),
});
export const VaultDeletedV2 = defineContract({
  type: 'VaultDeleted',
  schemaVersion: 2,
  source: 'vault',
  schema: z.strictObject({ ...vaultIdentity, deletedDate: seconds, scheduledPurgeDate: seconds }),
});
export const VaultRecoveredV2 = defineContract({ type: 'VaultRecovered', schemaVersion: 2, source: 'vault', schema: z.strictObject({ ...vaultIdentity, recoveredDate: seconds }) });
export const VaultPurgedV2 = defineContract({
  type: 'VaultPurged',
  schemaVersion: 2,
  source: 'vault',
  schema: z.strictObject({ ...vaultIdentity, vaultId: z.string().min(1), purgedDate: seconds, reason: z.enum(['request', 'scheduled']) }),
});

/** The attributes of one secret version as Azure reports them. */
const secretAttributes = {
  contentType: z.string().max(1024).nullable(),
  tags: tags.nullable(),
  enabled: z.boolean(),
  nbf: seconds.nullable(),
  exp: seconds.nullable(),
};
export const SecretVersionSchema = z.strictObject({ version: hex32, ...secretAttributes, created: seconds, updated: seconds });

export const SecretVersionCreatedV2 = defineContract({
  type: 'SecretVersionCreated',
  schemaVersion: 2,
  source: 'vault',
  schema: z.strictObject({ ...secretIdentity(hex32), managed: z.boolean(), ...secretAttributes, created: seconds, updated: seconds }),
});
export const SecretVersionUpdatedV2 = defineContract({
  type: 'SecretVersionUpdated',
  schemaVersion: 2,
  source: 'vault',
  schema: z.strictObject({ ...secretIdentity(hex32), ...secretAttributes, updated: seconds }),
});
export const SecretDeletedV2 = defineContract({
  type: 'SecretDeleted',
  schemaVersion: 2,
  source: 'vault',
  schema: z.strictObject({ ...secretIdentity(z.null()), deletedDate: seconds, scheduledPurgeDate: seconds }),
});
export const SecretRecoveredV2 = defineContract({ type: 'SecretRecovered', schemaVersion: 2, source: 'vault', schema: z.strictObject({ ...secretIdentity(z.null()), recoveredDate: seconds }) });
export const SecretPurgedV2 = defineContract({
  type: 'SecretPurged',
  schemaVersion: 2,
  source: 'vault',
  schema: z.strictObject({ ...secretIdentity(z.null()), purgedDate: seconds, reason: z.enum(['request', 'scheduled', 'vault-purged']) }),
});
/** `version` is the latest restored version; `versions` lists them all, oldest first. */
export const SecretRestoredV2 = defineContract({
  type: 'SecretRestored',
  schemaVersion: 2,
  source: 'vault',
  schema: z.strictObject({ ...secretIdentity(hex32), managed: z.boolean(), restoredDate: seconds, versions: z.array(SecretVersionSchema).min(1) }),
});

/**
 * The vault's key METADATA events (the vault's keys surface; stream `key-{vaultId}-{name}`),
 * version 1. The vault stores them under its private names (`KeyVersionCreated`, `KeyDeleted`,
 * `KeyRestored`, …) and publishes them under names of their own, prefixed `VaultKey`: a type
 * name belongs to one service, and `KeyDeleted`, `KeyRecovered`, `KeyRestored` are the crypto
 * service's contracts (the material's lifecycle). The publish mapping of each private event
 * (apps/vault/src/domain/key/key.events.ts) maps it to its contract; the envelope carries the
 * contract's type.
 *
 * Metadata only: type, size or curve, key_ops, attributes, tags, release policy, soft-delete
 * dates, rotation policy. Never key material and no public key parts either (the JWK's n/e/x/y
 * are crypto's, in its own contracts). Times are unix seconds; names are lower case.
 */
const keyName = z.string().regex(/^[0-9A-Za-z-]{1,127}$/, 'must be a key name');
const vaultKeyIdentity = <V extends z.ZodType>(version: V) => ({ vault: vaultName, collection: z.literal('keys'), name: keyName, version });
/** Key types a vault or a Managed HSM pool holds (oct-HSM only in pools). */
const VAULT_KEY_TYPES = ['RSA', 'RSA-HSM', 'EC', 'EC-HSM', 'oct', 'oct-HSM'] as const;
const keyOps = z.array(z.string().regex(/^[A-Za-z]{1,16}$/, 'must be a key operation'));
/** Azure's key release policy (the policy document is public metadata, not key material). */
const releasePolicy = z.strictObject({ contentType: z.string().max(1024), immutable: z.boolean(), data: z.string() }).nullable();
const isoDuration = z.string().regex(/^P[0-9YMD]+$/, 'must be an ISO 8601 duration');
export const RotationPolicySchema = z.strictObject({
  lifetimeActions: z.array(
    z.strictObject({
      trigger: z.strictObject({ timeAfterCreate: isoDuration.optional(), timeBeforeExpiry: isoDuration.optional() }),
      action: z.strictObject({ type: z.enum(['Rotate', 'Notify']) }),
    }),
  ),
  expiryTime: isoDuration.nullable(),
  created: seconds,
  updated: seconds,
});
/** The attributes of one key version as the vault records them. */
const vaultKeyAttributes = {
  kty: z.enum(VAULT_KEY_TYPES),
  /** RSA modulus bits; null for EC. */
  keySize: z.int().positive().nullable(),
  /** EC curve; null for RSA. */
  crv: z.string().max(16).nullable(),
  keyOps,
  hsm: z.boolean(),
  exportable: z.boolean(),
  enabled: z.boolean(),
  nbf: seconds.nullable(),
  exp: seconds.nullable(),
  tags: tags.nullable(),
  releasePolicy,
};
export const VaultKeyVersionSchema = z.strictObject({ version: hex32, ...vaultKeyAttributes, created: seconds, updated: seconds });

export const VaultKeyVersionCreatedV1 = defineContract({
  type: 'VaultKeyVersionCreated',
  schemaVersion: 1,
  source: 'vault',
  schema: z.strictObject({ ...vaultKeyIdentity(hex32), managed: z.boolean(), origin: z.enum(['create', 'import', 'rotate']), ...vaultKeyAttributes, created: seconds, updated: seconds }),
});
export const VaultKeyVersionUpdatedV1 = defineContract({
  type: 'VaultKeyVersionUpdated',
  schemaVersion: 1,
  source: 'vault',
  schema: z.strictObject({ ...vaultKeyIdentity(hex32), keyOps, enabled: z.boolean(), nbf: seconds.nullable(), exp: seconds.nullable(), tags: tags.nullable(), releasePolicy, updated: seconds }),
});
export const VaultKeyDeletedV1 = defineContract({
  type: 'VaultKeyDeleted',
  schemaVersion: 1,
  source: 'vault',
  schema: z.strictObject({ ...vaultKeyIdentity(z.null()), deletedDate: seconds, scheduledPurgeDate: seconds }),
});
export const VaultKeyRecoveredV1 = defineContract({ type: 'VaultKeyRecovered', schemaVersion: 1, source: 'vault', schema: z.strictObject({ ...vaultKeyIdentity(z.null()), recoveredDate: seconds }) });
export const VaultKeyPurgedV1 = defineContract({
  type: 'VaultKeyPurged',
  schemaVersion: 1,
  source: 'vault',
  schema: z.strictObject({ ...vaultKeyIdentity(z.null()), purgedDate: seconds, reason: z.enum(['request', 'scheduled', 'vault-purged']) }),
});
/** `version` is the latest restored version; `versions` lists them all, oldest first. */
export const VaultKeyRestoredV1 = defineContract({
  type: 'VaultKeyRestored',
  schemaVersion: 1,
  source: 'vault',
  schema: z.strictObject({ ...vaultKeyIdentity(hex32), managed: z.boolean(), restoredDate: seconds, versions: z.array(VaultKeyVersionSchema).min(1), rotationPolicy: RotationPolicySchema.nullable() }),
});
export const VaultKeyRotationPolicyUpdatedV1 = defineContract({
  type: 'VaultKeyRotationPolicyUpdated',
  schemaVersion: 1,
  source: 'vault',
  schema: z.strictObject({ ...vaultKeyIdentity(z.null()), rotationPolicy: RotationPolicySchema }),
});
/** Follows the VaultKeyVersionCreated of a rotation: `version` (the new one) replaces `previousVersion`. */
export const VaultKeyRotatedV1 = defineContract({
  type: 'VaultKeyRotated',
  schemaVersion: 1,
  source: 'vault',
  schema: z.strictObject({ ...vaultKeyIdentity(hex32), previousVersion: hex32, rotatedDate: seconds }),
});
/** A rotation policy's Notify action fired for `version` (the latest): it expires at `exp`. */
export const VaultKeyNearExpiryV1 = defineContract({
  type: 'VaultKeyNearExpiry',
  schemaVersion: 1,
  source: 'vault',
  schema: z.strictObject({ ...vaultKeyIdentity(hex32), exp: seconds, notifiedDate: seconds }),
});

export const VAULT_CONTRACTS = [VaultCreatedV2, VaultUpdatedV2, VaultDeletedV2, VaultRecoveredV2, VaultPurgedV2] as const;
export const SECRET_CONTRACTS = [SecretVersionCreatedV2, SecretVersionUpdatedV2, SecretDeletedV2, SecretRecoveredV2, SecretPurgedV2, SecretRestoredV2] as const;
export const VAULT_KEY_CONTRACTS = [
  VaultKeyVersionCreatedV1,
  VaultKeyVersionUpdatedV1,
  VaultKeyDeletedV1,
  VaultKeyRecoveredV1,
  VaultKeyPurgedV1,
  VaultKeyRestoredV1,
  VaultKeyRotationPolicyUpdatedV1,
  VaultKeyRotatedV1,
  VaultKeyNearExpiryV1,
] as const;

export type VaultContractEvent = MessageOf<(typeof VAULT_CONTRACTS)[number]>;
export type SecretContractEvent = MessageOf<(typeof SECRET_CONTRACTS)[number]>;
export type VaultKeyContractEvent = MessageOf<(typeof VAULT_KEY_CONTRACTS)[number]>;

/**
 * A Managed HSM pool's security domain took effect (the pool is activated): `via` download (the
 * domain was generated and handed out as shares), upload (a domain restored from a quorum of
 * shares) or bootstrap. Only the domain's id is published; its key is never in an event's
 * published form. Service-internal (no other service folds it): not a lifecycle contract.
 */
export const ManagedHsmSecurityDomainActivatedV1 = defineContract({
  type: 'ManagedHsmSecurityDomainActivated',
  schemaVersion: 1,
  source: 'vault',
  schema: z.strictObject({
    ...vaultIdentity,
    vaultId: z.string().min(1),
    domainId: z.uuid(),
    via: z.enum(['download', 'upload', 'bootstrap']),
    required: z.int().min(2).max(10).nullable(),
    shares: z.int().min(2).max(10).nullable(),
    activated: seconds,
  }),
});
export const POOL_CONTRACTS = [ManagedHsmSecurityDomainActivatedV1] as const;

/**
 * A Managed HSM pool's own administration (local RBAC and settings), kept by the vault service
 * in the pool (as Azure keeps them inside the HSM, not in Entra ID): stream
 * `managedhsm-admin-{poolId}`. The pool is named like a vault (`vault` = pool name, `collection`
 * null); `poolId` tells a pool from an earlier, purged one of the same name. Scopes are the pool's
 * local ones (`/`, `/keys`, `/keys/{name}`); role definition ids are GUIDs. Not lifecycle events:
 * the audit service does not fold them (its request records carry who changed what).
 */
const guid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'must be a lower-case GUID');
const poolScope = z.string().regex(/^\/(?:keys(?:\/[0-9A-Za-z-]{1,127})?)?$/, 'must be /, /keys or /keys/{name}');
const poolIdentity = { ...vaultIdentity, poolId: z.string().min(1) };
const poolActionList = z.array(z.string().min(1).max(256)).max(512).readonly();
export const PoolRolePermissionSchema = z.strictObject({ actions: poolActionList, notActions: poolActionList, dataActions: poolActionList, notDataActions: poolActionList });

export const ManagedHsmRoleAssignmentCreatedV1 = defineContract({
  type: 'ManagedHsmRoleAssignmentCreated',
  schemaVersion: 1,
  source: 'vault',
  schema: z.strictObject({ ...poolIdentity, assignmentId: guid, principalId: z.string().min(1).max(128), roleDefinitionId: guid, scope: poolScope }),
});
export const ManagedHsmRoleAssignmentDeletedV1 = defineContract({
  type: 'ManagedHsmRoleAssignmentDeleted',
  schemaVersion: 1,
  source: 'vault',
  schema: z.strictObject({ ...poolIdentity, assignmentId: guid }),
});
export const ManagedHsmRoleDefinitionSetV1 = defineContract({
  type: 'ManagedHsmRoleDefinitionSet',
  schemaVersion: 1,
  source: 'vault',
  schema: z.strictObject({
    ...poolIdentity,
    roleDefinitionId: guid,
    roleName: z.string().min(1).max(512),
    description: z.string().max(4096),
    assignableScopes: z.array(poolScope).min(1).max(64).readonly(),
    permissions: z.array(PoolRolePermissionSchema).max(16).readonly(),
  }),
});
export const ManagedHsmRoleDefinitionDeletedV1 = defineContract({
  type: 'ManagedHsmRoleDefinitionDeleted',
  schemaVersion: 1,
  source: 'vault',
  schema: z.strictObject({ ...poolIdentity, roleDefinitionId: guid }),
});
export const ManagedHsmSettingUpdatedV1 = defineContract({
  type: 'ManagedHsmSettingUpdated',
  schemaVersion: 1,
  source: 'vault',
  schema: z.strictObject({ ...poolIdentity, setting: z.string().min(1).max(128), settingType: z.literal('boolean'), settingValue: z.string().max(64) }),
});

export const MANAGED_HSM_ADMINISTRATION_CONTRACTS = [
  ManagedHsmRoleAssignmentCreatedV1,
  ManagedHsmRoleAssignmentDeletedV1,
  ManagedHsmRoleDefinitionSetV1,
  ManagedHsmRoleDefinitionDeletedV1,
  ManagedHsmSettingUpdatedV1,
] as const;
export type ManagedHsmAdministrationContractEvent = MessageOf<(typeof MANAGED_HSM_ADMINISTRATION_CONTRACTS)[number]>;
