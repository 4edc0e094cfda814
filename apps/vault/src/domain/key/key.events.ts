import {
  VaultKeyDeletedV1,
  VaultKeyNearExpiryV1,
  VaultKeyPurgedV1,
  VaultKeyRecoveredV1,
  VaultKeyRestoredV1,
  VaultKeyRotatedV1,
  VaultKeyRotationPolicyUpdatedV1,
  VaultKeyVersionCreatedV1,
  VaultKeyVersionUpdatedV1,
} from '#libs/contracts';
import { v, type EventRegistry, type PublishContext } from '#libs/kernel';
import type { LifetimeAction, ReleasePolicy, Tags } from './key.rules.js';

/**
 * Events of one key's METADATA in the vault (stream `key-{vaultId}-{lower-case name}`), past
 * tense, frozen once published. The crypto service holds the material and its own lifecycle;
 * these events hold what the vault answers and lists: type, size/curve, key_ops, attributes,
 * tags, release policy, soft-delete dates, rotation policy. Never key material, never public
 * key parts (the JWK's n/e/x/y are read from crypto when a single key is answered).
 *
 * Published as the vault's key contracts (libs/contracts, `VaultKey…` v1): the private type
 * names stay as stored, the published ones are the contracts' own, because `KeyDeleted`,
 * `KeyRecovered` and `KeyRestored` are the crypto service's contracts (a type name belongs to
 * one service). Each publish mapping picks the contract's fields explicitly and names the key
 * from the append's object identity (vault, `keys`, lower-case name).
 */

/** One version as the vault records it. Times are unix seconds. */
export type KeyVersionRecord = {
  readonly version: string;
  /** RSA, RSA-HSM, EC, EC-HSM. */
  readonly kty: string;
  /** RSA modulus bits; null for EC. */
  readonly keySize: number | null;
  /** EC curve; null for RSA. */
  readonly crv: string | null;
  readonly keyOps: readonly string[];
  readonly hsm: boolean;
  readonly exportable: boolean;
  readonly enabled: boolean;
  readonly nbf: number | null;
  readonly exp: number | null;
  readonly tags: Tags | null;
  readonly releasePolicy: ReleasePolicy | null;
  readonly created: number;
  readonly updated: number;
};

/** How a version came to be. */
export type KeyVersionOrigin = 'create' | 'import' | 'rotate';

export type KeyVersionCreated = {
  readonly type: 'KeyVersionCreated';
  readonly data: KeyVersionRecord & { readonly vaultId: string; readonly name: string; readonly managed: boolean; readonly origin: KeyVersionOrigin };
};
export type KeyVersionUpdated = {
  readonly type: 'KeyVersionUpdated';
  readonly data: {
    readonly version: string;
    readonly keyOps: readonly string[];
    readonly enabled: boolean;
    readonly nbf: number | null;
    readonly exp: number | null;
    readonly tags: Tags | null;
    readonly releasePolicy: ReleasePolicy | null;
    readonly updated: number;
  };
};
export type KeyDeleted = { readonly type: 'KeyDeleted'; readonly data: { readonly deletedDate: number; readonly scheduledPurgeDate: number } };
export type KeyRecovered = { readonly type: 'KeyRecovered'; readonly data: { readonly recoveredDate: number } };
export type KeyPurgeReason = 'request' | 'scheduled' | 'vault-purged';
export type KeyPurged = { readonly type: 'KeyPurged'; readonly data: { readonly purgedDate: number; readonly reason: KeyPurgeReason } };
export type KeyRestored = {
  readonly type: 'KeyRestored';
  readonly data: {
    readonly vaultId: string;
    readonly name: string;
    readonly managed: boolean;
    readonly restoredDate: number;
    /** Oldest first; the last one is the latest version. */
    readonly versions: readonly KeyVersionRecord[];
    readonly rotationPolicy: RotationPolicyRecord | null;
  };
};

/** A key's rotation policy as stored (Azure's shape minus the id, which is built from the origin). */
export type RotationPolicyRecord = {
  readonly lifetimeActions: readonly LifetimeAction[];
  readonly expiryTime: string | null;
  readonly created: number;
  readonly updated: number;
};
export type KeyRotationPolicyUpdated = { readonly type: 'KeyRotationPolicyUpdated'; readonly data: RotationPolicyRecord };

/** A rotation policy's Notify action fired for the latest version (once per version): the key expires soon. */
export type KeyNearExpiry = { readonly type: 'KeyNearExpiry'; readonly data: { readonly version: string; readonly exp: number; readonly notifiedDate: number } };

/** Follows the KeyVersionCreated of a rotation in the same append: which version the new one replaces. */
export type KeyRotated = { readonly type: 'KeyRotated'; readonly data: { readonly version: string; readonly previousVersion: string; readonly rotatedDate: number } };

export type KeyEvent = KeyVersionCreated | KeyVersionUpdated | KeyDeleted | KeyRecovered | KeyPurged | KeyRestored | KeyRotationPolicyUpdated | KeyNearExpiry | KeyRotated;
export type KeyEventType = KeyEvent['type'];

export const KEY_EVENT_TYPES: readonly KeyEventType[] = ['KeyVersionCreated', 'KeyVersionUpdated', 'KeyDeleted', 'KeyRecovered', 'KeyPurged', 'KeyRestored', 'KeyRotationPolicyUpdated', 'KeyNearExpiry', 'KeyRotated'];

export const keyStreamId = (vaultId: string, nameKey: string): string => `key-${vaultId}-${nameKey}`;

const hex32 = (x: unknown): boolean => typeof x === 'string' && /^[0-9a-f]{32}$/.test(x);
const seconds = (x: unknown): boolean => Number.isInteger(x) && (x as number) >= 0;
const secondsOrNull = v.nullable(seconds);
const tagsOrNull = v.nullable(v.record);
const ops = (x: unknown): boolean => Array.isArray(x) && x.every((o) => typeof o === 'string' && /^[A-Za-z]{1,16}$/.test(o));
const policy = (x: unknown): boolean => {
  if (x === null) return true;
  const p = x as Record<string, unknown>;
  return typeof p === 'object' && typeof p.contentType === 'string' && typeof p.immutable === 'boolean' && typeof p.data === 'string' && Object.keys(p).length === 3;
};
const durationOrNull = (x: unknown): boolean => x === null || (typeof x === 'string' && /^P[0-9YMD]+$/.test(x));
const actions = (x: unknown): boolean =>
  Array.isArray(x) &&
  x.every((a) => {
    const r = a as { trigger?: Record<string, unknown>; action?: { type?: unknown } };
    return typeof r === 'object' && r !== null && typeof r.trigger === 'object' && r.trigger !== null && (r.action?.type === 'Rotate' || r.action?.type === 'Notify');
  });

const versionShape = {
  version: hex32,
  // oct / oct-HSM: symmetric keys of Managed HSM pools.
  kty: (x: unknown) => x === 'RSA' || x === 'RSA-HSM' || x === 'EC' || x === 'EC-HSM' || x === 'oct' || x === 'oct-HSM',
  keySize: v.nullable((x: unknown) => Number.isInteger(x)),
  crv: v.nullable(v.string),
  keyOps: ops,
  hsm: v.boolean,
  exportable: v.boolean,
  enabled: v.boolean,
  nbf: secondsOrNull,
  exp: secondsOrNull,
  tags: tagsOrNull,
  releasePolicy: policy,
  created: seconds,
  updated: seconds,
};
const versionRecord = (x: unknown): boolean => v.object(versionShape)(x).length === 0;
const policyShape = { lifetimeActions: actions, expiryTime: durationOrNull, created: seconds, updated: seconds };

/**
 * The key an event is about, as the appending code named it (AppendOptions.object): the
 * published contracts name vault, collection and key explicitly.
 */
function keyIdentity(ctx: PublishContext, type: string): { vault: string; collection: 'keys'; name: string } {
  const o = ctx.object;
  if (!o || o.collection !== 'keys') throw new Error(`${type} appended without its key identity (AppendOptions.object)`);
  return { vault: o.vault, collection: 'keys', name: o.name };
}

type Data = Record<string, unknown>;
const tagsOf = (t: unknown): unknown => (t === null || typeof t !== 'object' ? t : { ...(t as Data) });
const releasePolicyOf = (p: unknown): unknown => {
  if (p === null || typeof p !== 'object') return p;
  const r = p as Data;
  return { contentType: r.contentType, immutable: r.immutable, data: r.data };
};
/** The published attributes of one version (the private record holds nothing else, but fields are picked, never spread). */
const versionAttributes = (d: Data) => ({
  kty: d.kty,
  keySize: d.keySize,
  crv: d.crv,
  keyOps: Array.isArray(d.keyOps) ? [...(d.keyOps as unknown[])] : d.keyOps,
  hsm: d.hsm,
  exportable: d.exportable,
  enabled: d.enabled,
  nbf: d.nbf,
  exp: d.exp,
  tags: tagsOf(d.tags),
  releasePolicy: releasePolicyOf(d.releasePolicy),
});
const rotationPolicyOf = (p: Data) => ({
  lifetimeActions: Array.isArray(p.lifetimeActions)
    ? (p.lifetimeActions as Data[]).map((a) => {
        const trigger = (a.trigger ?? {}) as Data;
        return {
          trigger: { ...(trigger.timeAfterCreate !== undefined ? { timeAfterCreate: trigger.timeAfterCreate } : {}), ...(trigger.timeBeforeExpiry !== undefined ? { timeBeforeExpiry: trigger.timeBeforeExpiry } : {}) },
          action: { type: (a.action as Data | undefined)?.type },
        };
      })
    : p.lifetimeActions,
  expiryTime: p.expiryTime,
  created: p.created,
  updated: p.updated,
});

export function registerKeyEvents(r: EventRegistry): EventRegistry {
  return r
    .define({
      type: 'KeyVersionCreated',
      schemaVersion: 1,
      validate: v.object({ ...versionShape, vaultId: v.nonEmpty, name: v.nonEmpty, managed: v.boolean, origin: (x) => x === 'create' || x === 'import' || x === 'rotate' }),
      contract: VaultKeyVersionCreatedV1,
      publish: (d, ctx) => ({ ...keyIdentity(ctx, 'KeyVersionCreated'), version: d.version, managed: d.managed, origin: d.origin, ...versionAttributes(d), created: d.created, updated: d.updated }),
    })
    .define({
      type: 'KeyVersionUpdated',
      schemaVersion: 1,
      validate: v.object({ version: hex32, keyOps: ops, enabled: v.boolean, nbf: secondsOrNull, exp: secondsOrNull, tags: tagsOrNull, releasePolicy: policy, updated: seconds }),
      contract: VaultKeyVersionUpdatedV1,
      publish: (d, ctx) => ({
        ...keyIdentity(ctx, 'KeyVersionUpdated'),
        version: d.version,
        keyOps: Array.isArray(d.keyOps) ? [...(d.keyOps as unknown[])] : d.keyOps,
        enabled: d.enabled,
        nbf: d.nbf,
        exp: d.exp,
        tags: tagsOf(d.tags),
        releasePolicy: releasePolicyOf(d.releasePolicy),
        updated: d.updated,
      }),
    })
    .define({
      type: 'KeyDeleted',
      schemaVersion: 1,
      validate: v.object({ deletedDate: seconds, scheduledPurgeDate: seconds }),
      contract: VaultKeyDeletedV1,
      publish: (d, ctx) => ({ ...keyIdentity(ctx, 'KeyDeleted'), version: null, deletedDate: d.deletedDate, scheduledPurgeDate: d.scheduledPurgeDate }),
    })
    .define({
      type: 'KeyRecovered',
      schemaVersion: 1,
      validate: v.object({ recoveredDate: seconds }),
      contract: VaultKeyRecoveredV1,
      publish: (d, ctx) => ({ ...keyIdentity(ctx, 'KeyRecovered'), version: null, recoveredDate: d.recoveredDate }),
    })
    .define({
      type: 'KeyPurged',
      schemaVersion: 1,
      validate: v.object({ purgedDate: seconds, reason: (x) => x === 'request' || x === 'scheduled' || x === 'vault-purged' }),
      contract: VaultKeyPurgedV1,
      publish: (d, ctx) => ({ ...keyIdentity(ctx, 'KeyPurged'), version: null, purgedDate: d.purgedDate, reason: d.reason }),
    })
    .define({
      type: 'KeyRestored',
      schemaVersion: 1,
      validate: v.object({
        vaultId: v.nonEmpty,
        name: v.nonEmpty,
        managed: v.boolean,
        restoredDate: seconds,
        versions: (x) => Array.isArray(x) && x.length > 0 && x.every(versionRecord),
        rotationPolicy: (x) => x === null || v.object(policyShape)(x).length === 0,
      }),
      contract: VaultKeyRestoredV1,
      publish: (d, ctx) => {
        const versions = (Array.isArray(d.versions) ? (d.versions as Data[]) : []).map((x) => ({ version: x.version, ...versionAttributes(x), created: x.created, updated: x.updated }));
        const policy = d.rotationPolicy;
        return {
          ...keyIdentity(ctx, 'KeyRestored'),
          version: versions[versions.length - 1]?.version,
          managed: d.managed,
          restoredDate: d.restoredDate,
          versions,
          rotationPolicy: policy !== null && typeof policy === 'object' ? rotationPolicyOf(policy as Data) : policy,
        };
      },
    })
    .define({
      type: 'KeyRotationPolicyUpdated',
      schemaVersion: 1,
      validate: v.object(policyShape),
      contract: VaultKeyRotationPolicyUpdatedV1,
      publish: (d, ctx) => ({ ...keyIdentity(ctx, 'KeyRotationPolicyUpdated'), version: null, rotationPolicy: rotationPolicyOf(d) }),
    })
    .define({
      type: 'KeyRotated',
      schemaVersion: 1,
      validate: v.object({ version: hex32, previousVersion: hex32, rotatedDate: seconds }),
      contract: VaultKeyRotatedV1,
      publish: (d, ctx) => ({ ...keyIdentity(ctx, 'KeyRotated'), version: d.version, previousVersion: d.previousVersion, rotatedDate: d.rotatedDate }),
    })
    .define({
      type: 'KeyNearExpiry',
      schemaVersion: 1,
      validate: v.object({ version: hex32, exp: seconds, notifiedDate: seconds }),
      contract: VaultKeyNearExpiryV1,
      publish: (d, ctx) => ({ ...keyIdentity(ctx, 'KeyNearExpiry'), version: d.version, exp: d.exp, notifiedDate: d.notifiedDate }),
    });
}
