import type { ObjectLifecycleEvent } from '#libs/contracts';
import { assertNever } from '#libs/kernel';
import type { ObjectKind, ObjectRef } from './object-ref.js';

/**
 * Current state of a vault, secret, key or certificate, folded from the lifecycle events the
 * vault and crypto services publish — their contracts (libs/contracts), read by type: each
 * contract names its object (vault, collection, name, version) and carries metadata only
 * (names, versions, attributes, tags, content type, key type), never values, ciphertext or
 * key material.
 */
export type ObjectStatus = 'active' | 'deleted' | 'purged';

export type ObjectState = {
  readonly tenant: string;
  readonly vault: string;
  readonly kind: ObjectKind;
  readonly name: string;
  readonly status: ObjectStatus;
  /** Versions in the order they appeared (at most MAX_VERSIONS, oldest dropped first). */
  readonly versions: readonly string[];
  readonly versionCount: number;
  readonly latestVersion?: string;
  readonly enabled?: boolean;
  readonly created?: string;
  readonly updated?: string;
  readonly expires?: string;
  readonly notBefore?: string;
  readonly recoveryLevel?: string;
  readonly contentType?: string;
  readonly keyType?: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly deletedAt?: string;
  readonly scheduledPurgeDate?: string;
  readonly purgedAt?: string;
  readonly lastEventType: string;
  readonly lastEventTime: string;
  readonly lastEventSource: string;
  readonly eventCount: number;
};

/** A lifecycle contract event as the audit service observed it on a service's events topic. */
export type ObservedLifecycleEvent = {
  readonly source: string;
  readonly subject: string;
  readonly tenant: string;
  readonly time: string;
  /** The contract message, at the current version of its type. */
  readonly message: ObjectLifecycleEvent;
};

/** `notice`: the event changes nothing but the object's last event (a near-expiry notification). */
export type LifecycleChange = 'version' | 'attributes' | 'deleted' | 'recovered' | 'purged' | 'notice';

/** The metadata an event sets on its object (times in unix seconds, as the contracts carry them). */
export type ObjectAttributes = {
  readonly enabled?: boolean;
  readonly created?: number;
  readonly updated?: number;
  readonly expires?: number | null;
  readonly notBefore?: number | null;
  readonly contentType?: string | null;
  readonly keyType?: string;
  readonly tags?: Readonly<Record<string, string>> | null;
};

/** What one event does to one object. */
export type ClassifiedEvent = {
  readonly ref: ObjectRef;
  readonly change: LifecycleChange;
  readonly attributes: ObjectAttributes;
  /** Versions the event lists (a restore brings back several; whole-key events name the versions they affect). */
  readonly versions: readonly string[];
  readonly deletedDate?: number;
  readonly scheduledPurgeDate?: number;
  readonly purgedDate?: number;
};

export const MAX_VERSIONS = 200;

const KIND_OF_COLLECTION = { secrets: 'secret', keys: 'key', certificates: 'certificate' } as const;

function refOf(d: { readonly vault: string; readonly collection: 'secrets' | 'keys' | 'certificates' | null; readonly name: string; readonly version: string | null }): ObjectRef {
  const kind: ObjectKind = d.collection === null ? 'vault' : KIND_OF_COLLECTION[d.collection];
  const vault = d.vault.toLowerCase();
  return { vault, kind, name: kind === 'vault' ? vault : d.name.toLowerCase(), ...(d.version ? { version: d.version } : {}) };
}

/** Which object a lifecycle contract event is about and how it changes it: by type, never by guessing. */
export function classifyLifecycleEvent(m: ObjectLifecycleEvent): ClassifiedEvent {
  const none: readonly string[] = [];
  switch (m.type) {
    case 'VaultCreated':
      return { ref: refOf(m.data), change: 'version', attributes: { created: m.data.created, tags: m.data.tags }, versions: none };
    case 'VaultUpdated':
      return { ref: refOf(m.data), change: 'attributes', attributes: { updated: m.data.updated, tags: m.data.tags }, versions: none };
    case 'VaultDeleted':
    case 'SecretDeleted':
      return { ref: refOf(m.data), change: 'deleted', attributes: {}, versions: none, deletedDate: m.data.deletedDate, scheduledPurgeDate: m.data.scheduledPurgeDate };
    case 'VaultRecovered':
    case 'SecretRecovered':
      return { ref: refOf(m.data), change: 'recovered', attributes: {}, versions: none };
    case 'VaultPurged':
    case 'SecretPurged':
      return { ref: refOf(m.data), change: 'purged', attributes: {}, versions: none, purgedDate: m.data.purgedDate };
    case 'SecretVersionCreated': {
      const d = m.data;
      return { ref: refOf(d), change: 'version', attributes: { enabled: d.enabled, created: d.created, updated: d.updated, expires: d.exp, notBefore: d.nbf, contentType: d.contentType, tags: d.tags }, versions: none };
    }
    case 'SecretVersionUpdated': {
      const d = m.data;
      return { ref: refOf(d), change: 'attributes', attributes: { enabled: d.enabled, updated: d.updated, expires: d.exp, notBefore: d.nbf, contentType: d.contentType, tags: d.tags }, versions: none };
    }
    case 'SecretRestored': {
      const latest = m.data.versions[m.data.versions.length - 1]!;
      return {
        ref: refOf(m.data),
        change: 'version',
        attributes: { enabled: latest.enabled, created: latest.created, updated: latest.updated, expires: latest.exp, notBefore: latest.nbf, contentType: latest.contentType, tags: latest.tags },
        versions: m.data.versions.map((v) => v.version),
      };
    }
    // The vault's key metadata (VaultKey…) and crypto's key material events (Key…) name the same
    // object (vault, 'keys', name, version): both fold into one key, versions counted once.
    case 'VaultKeyVersionCreated': {
      const d = m.data;
      return { ref: refOf(d), change: 'version', attributes: { enabled: d.enabled, created: d.created, updated: d.updated, expires: d.exp, notBefore: d.nbf, keyType: d.kty, tags: d.tags }, versions: none };
    }
    case 'VaultKeyVersionUpdated': {
      const d = m.data;
      return { ref: refOf(d), change: 'attributes', attributes: { enabled: d.enabled, updated: d.updated, expires: d.exp, notBefore: d.nbf, tags: d.tags }, versions: none };
    }
    case 'VaultKeyRotationPolicyUpdated':
      return { ref: refOf(m.data), change: 'attributes', attributes: { updated: m.data.rotationPolicy.updated }, versions: none };
    case 'VaultKeyRotated':
      return { ref: refOf(m.data), change: 'version', attributes: { updated: m.data.rotatedDate }, versions: none };
    case 'VaultKeyRestored': {
      const latest = m.data.versions[m.data.versions.length - 1]!;
      return {
        ref: refOf(m.data),
        change: 'version',
        attributes: { enabled: latest.enabled, created: latest.created, updated: latest.updated, expires: latest.exp, notBefore: latest.nbf, keyType: latest.kty, tags: latest.tags },
        versions: m.data.versions.map((v) => v.version),
      };
    }
    case 'VaultKeyDeleted':
      return { ref: refOf(m.data), change: 'deleted', attributes: {}, versions: none, deletedDate: m.data.deletedDate, scheduledPurgeDate: m.data.scheduledPurgeDate };
    case 'VaultKeyRecovered':
      return { ref: refOf(m.data), change: 'recovered', attributes: {}, versions: none };
    case 'VaultKeyPurged':
      return { ref: refOf(m.data), change: 'purged', attributes: {}, versions: none, purgedDate: m.data.purgedDate };
    case 'VaultKeyNearExpiry':
      // A notification about the latest version: recorded as the last event, the state is unchanged.
      return { ref: refOf({ ...m.data, version: null }), change: 'notice', attributes: {}, versions: none };
    case 'KeyCreated':
    case 'KeyVersionAdded':
    case 'KeyImported': {
      const d = m.data;
      return { ref: refOf(d), change: 'version', attributes: { enabled: d.enabled, created: d.created, expires: d.expires, notBefore: d.notBefore, keyType: d.kty }, versions: none };
    }
    case 'KeyRestored': {
      const d = m.data;
      return { ref: refOf(d), change: 'version', attributes: { enabled: d.enabled, created: d.created, updated: d.updated, expires: d.expires, notBefore: d.notBefore, keyType: d.kty }, versions: none };
    }
    case 'KeyUpdated': {
      const d = m.data;
      return { ref: refOf(d), change: 'attributes', attributes: { enabled: d.enabled, updated: d.updated, expires: d.expires, notBefore: d.notBefore }, versions: none };
    }
    case 'KeyDeleted':
      return { ref: refOf(m.data), change: 'deleted', attributes: {}, versions: m.data.versions, deletedDate: m.data.deleted };
    case 'KeyRecovered':
      return { ref: refOf(m.data), change: 'recovered', attributes: {}, versions: m.data.versions };
    case 'KeyDestroyed':
      return { ref: refOf(m.data), change: 'purged', attributes: {}, versions: m.data.versions, purgedDate: m.data.destroyed };
    default:
      return assertNever(m, 'lifecycle event');
  }
}

/** Contract times are unix seconds. */
function time(v: number | null | undefined): string | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? new Date(v * 1000).toISOString() : undefined;
}

function tagsOf(v: Readonly<Record<string, string>> | null | undefined): Record<string, string> | undefined {
  if (!v) return undefined;
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v).slice(0, 50)) out[k.slice(0, 256)] = val.slice(0, 256);
  return out;
}

/** Folds one classified event into the object's state (undefined state: first sight). */
export function evolveObjectState(state: ObjectState | undefined, e: ObservedLifecycleEvent, c: ClassifiedEvent): ObjectState {
  const type = e.message.type;
  const base: ObjectState = state ?? {
    tenant: e.tenant,
    vault: c.ref.vault,
    kind: c.ref.kind,
    name: c.ref.name,
    status: 'active',
    versions: [],
    versionCount: 0,
    lastEventType: type,
    lastEventTime: e.time,
    lastEventSource: e.source,
    eventCount: 0,
  };
  let next: ObjectState = { ...base, lastEventType: type, lastEventTime: e.time, lastEventSource: e.source, eventCount: base.eventCount + 1 };
  const version = c.ref.version;
  for (const v of [...c.versions, ...(version ? [version] : [])]) {
    if (next.versions.includes(v)) continue;
    next = { ...next, versions: [...next.versions, v].slice(-MAX_VERSIONS), versionCount: next.versionCount + 1 };
  }
  const latest = version ?? c.versions[c.versions.length - 1];
  if (c.change === 'version' && latest) next = { ...next, latestVersion: latest };
  if (c.change === 'version' || c.change === 'attributes' || c.change === 'recovered') {
    const a = c.attributes;
    const updates: Partial<Record<keyof ObjectState, unknown>> = {
      enabled: a.enabled,
      created: time(a.created) ?? (c.change === 'version' && !base.created ? e.time : undefined),
      updated: time(a.updated) ?? e.time,
      expires: time(a.expires),
      notBefore: time(a.notBefore),
      contentType: a.contentType ?? undefined,
      keyType: a.keyType,
      tags: tagsOf(a.tags),
    };
    for (const [k, v] of Object.entries(updates)) if (v !== undefined) next = { ...next, [k]: v };
  }
  switch (c.change) {
    case 'deleted':
      next = { ...next, status: 'deleted', deletedAt: time(c.deletedDate) ?? e.time, ...(time(c.scheduledPurgeDate) ? { scheduledPurgeDate: time(c.scheduledPurgeDate)! } : {}) };
      break;
    case 'recovered':
      next = withoutDeletion({ ...next, status: 'active' });
      break;
    case 'purged':
      next = { ...next, status: 'purged', purgedAt: time(c.purgedDate) ?? e.time };
      break;
    case 'version':
      if (base.status !== 'active') next = withoutDeletion({ ...next, status: 'active' });
      break;
    case 'attributes':
    case 'notice':
      break;
    default:
      assertNever(c.change, 'lifecycle change');
  }
  return next;
}

function withoutDeletion(s: ObjectState): ObjectState {
  const { deletedAt: _d, scheduledPurgeDate: _s, purgedAt: _p, ...rest } = s;
  return rest;
}
