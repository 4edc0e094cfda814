import { v, type EventRegistry, type PublishContext } from '#libs/kernel';
import { SecretDeletedV2, SecretPurgedV2, SecretRecoveredV2, SecretRestoredV2, SecretVersionCreatedV2, SecretVersionUpdatedV2 } from '#libs/contracts';
import type { Tags } from './secret.rules.js';

/**
 * Events of one secret (stream `secret-{vaultId}-{lower-case name}`), past tense, frozen
 * once published (a new shape gets a new schema version and an upcaster).
 *
 * Values are never in an event: `ciphertext` is the AES-256-GCM envelope of the value under
 * the secret's data key, bound to (tenant, vault, "secrets", name, version) as AAD. The
 * published (Kafka) copy is the event's contract (libs/contracts, v2): no ciphertext, no
 * data-key handle, and the secret named by vault, collection and name.
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

/**
 * The object a secret event is about, as the appending code named it (AppendOptions.object):
 * the published contracts name vault, collection and secret explicitly.
 */
function secretIdentity(ctx: PublishContext, type: string): { vault: string; collection: 'secrets'; name: string } {
  const o = ctx.object;
  if (!o || o.collection !== 'secrets') throw new Error(`${type} appended without its secret identity (AppendOptions.object)`);
  return { vault: o.vault, collection: 'secrets', name: o.name };
}

/** The published attributes of one version: never the ciphertext nor its data-key handle. */
const versionAttributes = (d: Record<string, unknown>) => ({ contentType: d.contentType, tags: d.tags, enabled: d.enabled, nbf: d.nbf, exp: d.exp });

export function registerSecretEvents(r: EventRegistry): EventRegistry {
  return r
    .define({
      type: 'SecretVersionCreated',
      schemaVersion: 1,
      validate: v.object({ ...versionShape, vaultId: v.nonEmpty, name: v.nonEmpty, managed: v.boolean }),
      contract: SecretVersionCreatedV2,
      publish: (d, ctx) => ({ ...secretIdentity(ctx, 'SecretVersionCreated'), version: d.version, managed: d.managed, ...versionAttributes(d), created: d.created, updated: d.updated }),
    })
    .define({
      type: 'SecretVersionUpdated',
      schemaVersion: 1,
      validate: v.object({ version: hex32, contentType: v.nullable(v.string), tags: tagsOrNull, enabled: v.boolean, nbf: secondsOrNull, exp: secondsOrNull, updated: seconds }),
      contract: SecretVersionUpdatedV2,
      publish: (d, ctx) => ({ ...secretIdentity(ctx, 'SecretVersionUpdated'), version: d.version, ...versionAttributes(d), updated: d.updated }),
    })
    .define({
      type: 'SecretDeleted',
      schemaVersion: 1,
      validate: v.object({ deletedDate: seconds, scheduledPurgeDate: seconds }),
      contract: SecretDeletedV2,
      publish: (d, ctx) => ({ ...secretIdentity(ctx, 'SecretDeleted'), version: null, deletedDate: d.deletedDate, scheduledPurgeDate: d.scheduledPurgeDate }),
    })
    .define({
      type: 'SecretRecovered',
      schemaVersion: 1,
      validate: v.object({ recoveredDate: seconds }),
      contract: SecretRecoveredV2,
      publish: (d, ctx) => ({ ...secretIdentity(ctx, 'SecretRecovered'), version: null, recoveredDate: d.recoveredDate }),
    })
    .define({
      type: 'SecretPurged',
      schemaVersion: 1,
      validate: v.object({ purgedDate: seconds, reason: (x) => x === 'request' || x === 'scheduled' || x === 'vault-purged', dataKeys: v.arrayOf(handle) }),
      contract: SecretPurgedV2,
      publish: (d, ctx) => ({ ...secretIdentity(ctx, 'SecretPurged'), version: null, purgedDate: d.purgedDate, reason: d.reason }),
    })
    .define({
      type: 'SecretRestored',
      schemaVersion: 1,
      validate: v.object({ vaultId: v.nonEmpty, name: v.nonEmpty, managed: v.boolean, restoredDate: seconds, versions: (x) => Array.isArray(x) && x.length > 0 && x.every(versionRecord) }),
      contract: SecretRestoredV2,
      publish: (d, ctx) => {
        const versions = (d.versions as Record<string, unknown>[]).map((x) => ({ version: x.version, ...versionAttributes(x), created: x.created, updated: x.updated }));
        return { ...secretIdentity(ctx, 'SecretRestored'), version: versions[versions.length - 1]?.version, managed: d.managed, restoredDate: d.restoredDate, versions };
      },
    });
}
