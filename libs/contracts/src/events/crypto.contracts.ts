import { z } from 'zod';
import { defineContract, type MessageOf } from './contract.js';

/**
 * The crypto service's published key lifecycle events (topic keyledger.crypto.events.v1),
 * version 2, each naming its object: `vault`, `collection` ("keys"), `name`, `version` (null
 * for an event about every version of the key). Public key parts only (`n`/`e`, `crv`/`x`/`y`):
 * no private component, no material reference. Times are unix seconds.
 *
 * Version 1 was the private event's data as published before contracts; the version-carrying
 * events (created, version added, imported, restored) named their vault, name and version
 * explicitly and are lifted to v2 by upcasters; the others cannot be and are not readable.
 */
/** The crypto service's canonical (lower-case) name segments. */
const objectName = z.string().regex(/^[0-9A-Za-z][0-9A-Za-z._-]{0,126}$/, 'must be a key name');
const vaultName = z.string().regex(/^[0-9A-Za-z][0-9A-Za-z._-]{0,126}$/, 'must be a vault name');
const version = z.string().min(1).max(64);
const unix = z.int();
const KEY_TYPES = ['RSA', 'RSA-HSM', 'EC', 'EC-HSM', 'oct', 'oct-HSM'] as const;
const KEY_OPERATIONS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import', 'export'] as const;
const CURVE_NAMES = ['P-256', 'P-256K', 'P-384', 'P-521'] as const;

const keyIdentity = <V extends z.ZodType>(v: V) => ({ vault: vaultName, collection: z.literal('keys'), name: objectName, version: v });

export const PublicKeySchema = z.union([
  z.strictObject({ kty: z.literal('RSA'), n: z.string().min(1), e: z.string().min(1) }),
  z.strictObject({ kty: z.literal('EC'), crv: z.enum(CURVE_NAMES), x: z.string().min(1), y: z.string().min(1) }),
]);

const keyVersion = {
  ...keyIdentity(version),
  kty: z.enum(KEY_TYPES),
  hsm: z.boolean(),
  sizeBits: z.int(),
  crv: z.enum(CURVE_NAMES).nullable(),
  keyOps: z.array(z.enum(KEY_OPERATIONS)),
  enabled: z.boolean(),
  notBefore: unix.nullable(),
  expires: unix.nullable(),
  exportable: z.boolean(),
  /** null for symmetric keys. */
  publicKey: PublicKeySchema.nullable(),
  created: unix,
};

export const KeyCreatedV2 = defineContract({ type: 'KeyCreated', schemaVersion: 2, source: 'crypto', schema: z.strictObject(keyVersion) });
export const KeyVersionAddedV2 = defineContract({ type: 'KeyVersionAdded', schemaVersion: 2, source: 'crypto', schema: z.strictObject(keyVersion) });
export const KeyImportedV2 = defineContract({ type: 'KeyImported', schemaVersion: 2, source: 'crypto', schema: z.strictObject({ ...keyVersion, importedFrom: z.enum(['jwk', 'byok']) }) });
export const KeyRestoredV2 = defineContract({
  type: 'KeyRestored',
  schemaVersion: 2,
  source: 'crypto',
  schema: z.strictObject({ ...keyVersion, updated: unix, restored: unix, restoredFromVault: z.string().min(1) }),
});
export const KeyUpdatedV2 = defineContract({
  type: 'KeyUpdated',
  schemaVersion: 2,
  source: 'crypto',
  schema: z.strictObject({ ...keyIdentity(version), enabled: z.boolean(), notBefore: unix.nullable(), expires: unix.nullable(), keyOps: z.array(z.enum(KEY_OPERATIONS)), updated: unix }),
});
/** Soft delete: every version stays but is out of use until recovered or purged. */
export const KeyDeletedV2 = defineContract({ type: 'KeyDeleted', schemaVersion: 2, source: 'crypto', schema: z.strictObject({ ...keyIdentity(z.null()), versions: z.array(version), deleted: unix }) });
export const KeyRecoveredV2 = defineContract({ type: 'KeyRecovered', schemaVersion: 2, source: 'crypto', schema: z.strictObject({ ...keyIdentity(z.null()), versions: z.array(version), recovered: unix }) });
/** Purge: every version's material is destroyed. */
export const KeyDestroyedV2 = defineContract({ type: 'KeyDestroyed', schemaVersion: 2, source: 'crypto', schema: z.strictObject({ ...keyIdentity(z.null()), versions: z.array(version), destroyed: unix }) });

export const KEY_CONTRACTS = [KeyCreatedV2, KeyVersionAddedV2, KeyImportedV2, KeyRestoredV2, KeyUpdatedV2, KeyDeletedV2, KeyRecoveredV2, KeyDestroyedV2] as const;
export type KeyContractEvent = MessageOf<(typeof KEY_CONTRACTS)[number]>;

/** v1 (published before contracts) → v2 for the events whose v1 named vault, name and version. */
export function liftKeyVersionV1(d: Record<string, unknown>): { data: Record<string, unknown> } {
  const { tenant: _tenant, materialId: _material, ...rest } = d;
  return { data: { ...rest, collection: 'keys' } };
}
