import { v, type EventRegistry } from '#libs/kernel';
import type { Tags } from './secret.rules.js';

/**
 * Events of one secret (stream `secret-{vaultId}-{lower-case name}`), past tense, frozen
 * once published (a new shape gets a new schema version and an upcaster).
 *
 * Values are never in an event: `ciphertext` is the AES-256-GCM envelope of the value under
 * the secret's data key, bound to (tenant, vault, "secrets", name, version) as AAD. The
 * published (Kafka) copy drops even the ciphertext.
 */

/** Which crypto-service data key sealed a value: its id and the object version it was generated for. */
export type DataKeyHandle = { readonly keyId: string; readonly keyRef: string };

/** One version as stored: ciphertext plus the attributes Azure reports. Times are unix seconds. */
export type SecretVersionRecord = {
  readonly version: string;
  /** base64 envelope (format byte, key id, nonce, ciphertext, tag). */
  readonly ciphertext: string;
  readonly keyId: string;
  readonly keyRef: string;
  readonly contentType: string | null;
  readonly tags: Tags | null;
  readonly enabled: boolean;
  readonly nbf: number | null;
  readonly exp: number | null;
  readonly created: number;
  readonly updated: number;
};

export type SecretVersionCreated = {
  readonly type: 'SecretVersionCreated';
  readonly data: SecretVersionRecord & { readonly vaultId: string; readonly name: string; readonly managed: boolean };
};
export type SecretVersionUpdated = {
  readonly type: 'SecretVersionUpdated';
  readonly data: {
    readonly version: string;
    readonly contentType: string | null;
    readonly tags: Tags | null;
    readonly enabled: boolean;
    readonly nbf: number | null;
    readonly exp: number | null;
    readonly updated: number;
  };
};
export type SecretDeleted = { readonly type: 'SecretDeleted'; readonly data: { readonly deletedDate: number; readonly scheduledPurgeDate: number } };
export type SecretRecovered = { readonly type: 'SecretRecovered'; readonly data: { readonly recoveredDate: number } };
export type SecretPurgeReason = 'request' | 'scheduled' | 'vault-purged';
export type SecretPurged = {
  readonly type: 'SecretPurged';
  readonly data: { readonly purgedDate: number; readonly reason: SecretPurgeReason; readonly dataKeys: readonly DataKeyHandle[] };
};
export type SecretRestored = {
  readonly type: 'SecretRestored';
  readonly data: {
    readonly vaultId: string;
    readonly name: string;
    readonly managed: boolean;
    readonly restoredDate: number;
    /** Oldest first; the last one is the latest version. */
    readonly versions: readonly SecretVersionRecord[];
  };
};

export type SecretEvent = SecretVersionCreated | SecretVersionUpdated | SecretDeleted | SecretRecovered | SecretPurged | SecretRestored;
export type SecretEventType = SecretEvent['type'];

export const secretStreamId = (vaultId: string, nameKey: string): string => `secret-${vaultId}-${nameKey}`;

const hex32 = (x: unknown): boolean => typeof x === 'string' && /^[0-9a-f]{32}$/.test(x);
const seconds = (x: unknown): boolean => Number.isInteger(x) && (x as number) >= 0;
const tagsOrNull = v.nullable(v.record);
const secondsOrNull = v.nullable(seconds);
const handle = (x: unknown): boolean => typeof x === 'object' && x !== null && v.nonEmpty((x as DataKeyHandle).keyId) && v.nonEmpty((x as DataKeyHandle).keyRef);

const versionShape = {
  version: hex32,
  ciphertext: v.nonEmpty,
  keyId: v.nonEmpty,
  keyRef: v.nonEmpty,
  contentType: v.nullable(v.string),
  tags: tagsOrNull,
  enabled: v.boolean,
  nbf: secondsOrNull,
  exp: secondsOrNull,
  created: seconds,
  updated: seconds,
};
const versionRecord = (x: unknown): boolean => v.object(versionShape)(x).length === 0;

/** The published copy of an event carries no ciphertext. */
const withoutCiphertext = (d: Record<string, unknown>): Record<string, unknown> => {
  const { ciphertext: _dropped, ...rest } = d;
  return rest;
};

export function registerSecretEvents(r: EventRegistry): EventRegistry {
  return r
    .define({
      type: 'SecretVersionCreated',
      schemaVersion: 1,
      validate: v.object({ ...versionShape, vaultId: v.nonEmpty, name: v.nonEmpty, managed: v.boolean }),
      publish: withoutCiphertext,
    })
    .define({
      type: 'SecretVersionUpdated',
      schemaVersion: 1,
      validate: v.object({ version: hex32, contentType: v.nullable(v.string), tags: tagsOrNull, enabled: v.boolean, nbf: secondsOrNull, exp: secondsOrNull, updated: seconds }),
    })
    .define({ type: 'SecretDeleted', schemaVersion: 1, validate: v.object({ deletedDate: seconds, scheduledPurgeDate: seconds }) })
    .define({ type: 'SecretRecovered', schemaVersion: 1, validate: v.object({ recoveredDate: seconds }) })
    .define({
      type: 'SecretPurged',
      schemaVersion: 1,
      validate: v.object({ purgedDate: seconds, reason: (x) => x === 'request' || x === 'scheduled' || x === 'vault-purged', dataKeys: v.arrayOf(handle) }),
    })
    .define({
      type: 'SecretRestored',
      schemaVersion: 1,
      validate: v.object({ vaultId: v.nonEmpty, name: v.nonEmpty, managed: v.boolean, restoredDate: seconds, versions: (x) => Array.isArray(x) && x.length > 0 && x.every(versionRecord) }),
      publish: (d) => ({ ...d, versions: (d.versions as Record<string, unknown>[]).map(withoutCiphertext) }),
    });
}
