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

export const VAULT_CONTRACTS = [VaultCreatedV2, VaultUpdatedV2, VaultDeletedV2, VaultRecoveredV2, VaultPurgedV2] as const;
export const SECRET_CONTRACTS = [SecretVersionCreatedV2, SecretVersionUpdatedV2, SecretDeletedV2, SecretRecoveredV2, SecretPurgedV2, SecretRestoredV2] as const;

export type VaultContractEvent = MessageOf<(typeof VAULT_CONTRACTS)[number]>;
export type SecretContractEvent = MessageOf<(typeof SECRET_CONTRACTS)[number]>;
