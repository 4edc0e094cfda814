import { v, type EventRegistry } from '#libs/eventstore';
import type { LifetimeAction, ReleasePolicy, Tags } from './key.rules.js';

/**
 * Events of one key's METADATA in the vault (stream `key-{vaultId}-{lower-case name}`), past
 * tense, frozen once published. The crypto service holds the material and its own lifecycle;
 * these events hold what the vault answers and lists: type, size/curve, key_ops, attributes,
 * tags, release policy, soft-delete dates, rotation policy. Never key material, never public
 * key parts (the JWK's n/e/x/y are read from crypto when a single key is answered).
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

export function registerKeyEvents(r: EventRegistry): EventRegistry {
  return r
    .define({
      type: 'KeyVersionCreated',
      schemaVersion: 1,
      validate: v.object({ ...versionShape, vaultId: v.nonEmpty, name: v.nonEmpty, managed: v.boolean, origin: (x) => x === 'create' || x === 'import' || x === 'rotate' }),
    })
    .define({
      type: 'KeyVersionUpdated',
      schemaVersion: 1,
      validate: v.object({ version: hex32, keyOps: ops, enabled: v.boolean, nbf: secondsOrNull, exp: secondsOrNull, tags: tagsOrNull, releasePolicy: policy, updated: seconds }),
    })
    .define({ type: 'KeyDeleted', schemaVersion: 1, validate: v.object({ deletedDate: seconds, scheduledPurgeDate: seconds }) })
    .define({ type: 'KeyRecovered', schemaVersion: 1, validate: v.object({ recoveredDate: seconds }) })
    .define({ type: 'KeyPurged', schemaVersion: 1, validate: v.object({ purgedDate: seconds, reason: (x) => x === 'request' || x === 'scheduled' || x === 'vault-purged' }) })
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
    })
    .define({ type: 'KeyRotationPolicyUpdated', schemaVersion: 1, validate: v.object(policyShape) })
    .define({ type: 'KeyRotated', schemaVersion: 1, validate: v.object({ version: hex32, previousVersion: hex32, rotatedDate: seconds }) })
    .define({ type: 'KeyNearExpiry', schemaVersion: 1, validate: v.object({ version: hex32, exp: seconds, notifiedDate: seconds }) });
}
