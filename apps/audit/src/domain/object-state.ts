import { type ObjectKind, type ObjectRef } from './object-ref.js';

/**
 * Current state of a vault, secret, key or certificate, folded from the lifecycle events the
 * vault and crypto services publish. Only metadata is ever read from an event (names,
 * versions, attributes, tags, content type, key type): values, ciphertext and key material
 * are never copied, whatever the event carries.
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

/** A lifecycle event as the audit service observed it on a service's events topic. */
export type ObservedLifecycleEvent = {
  readonly source: string;
  readonly type: string;
  readonly subject: string;
  readonly tenant: string;
  readonly time: string;
  readonly data: Readonly<Record<string, unknown>>;
};

export type LifecycleChange = 'version' | 'attributes' | 'enabled' | 'disabled' | 'deleted' | 'recovered' | 'purged' | 'touched';

export type ClassifiedEvent = { readonly ref: ObjectRef; readonly change: LifecycleChange };

export const MAX_VERSIONS = 200;

const KIND_PREFIX: readonly [RegExp, ObjectKind][] = [
  [/^(Vault|ManagedHsm)/, 'vault'],
  [/^Secret/, 'secret'],
  [/^Certificate/, 'certificate'],
  [/^Key(?!Material)/, 'key'],
];

const NAME = /^[0-9A-Za-z-]{1,127}$/;

function changeOf(type: string): LifecycleChange {
  if (/Purged$/.test(type)) return 'purged';
  if (/Deleted$/.test(type)) return 'deleted';
  if (/Recovered$/.test(type)) return 'recovered';
  if (/Disabled$/.test(type)) return 'disabled';
  if (/Enabled$/.test(type)) return 'enabled';
  if (/(VersionCreated|VersionAdded|Created|Imported|Restored|Rotated|Set|Merged)$/.test(type)) return 'version';
  if (/(Updated|Changed)$/.test(type)) return 'attributes';
  return 'touched';
}

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 && v.length <= 1024 ? v : undefined);

/** Resolves a vault id (GUID) to its name: vault events name vaults by id after creation. */
export type VaultDirectory = (tenant: string, vaultId: string) => string | undefined;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Is this an event about a vault object at all (by its type)? */
export function isObjectLifecycleEvent(type: string): boolean {
  return KIND_PREFIX.some(([re]) => re.test(type));
}

/** A VaultCreated-like event binds a vault id to a name: what the directory learns from it. */
export function vaultDirectoryEntry(e: ObservedLifecycleEvent): { readonly vaultId: string; readonly name: string } | undefined {
  if (!/^(Vault|ManagedHsm)/.test(e.type)) return undefined;
  const vaultId = str(e.data['vaultId']);
  const name = str(e.data['name']) ?? /^vault-([0-9A-Za-z-]{1,127})$/.exec(e.subject)?.[1];
  return vaultId && name && NAME.test(name) ? { vaultId: vaultId.toLowerCase(), name: name.toLowerCase() } : undefined;
}

/**
 * Which object an event is about, and how it changes it; undefined for events about no vault
 * object. Names come from the event data (`vault`, `name`) or its stream id: the vault service
 * uses `vault-{name}` and `{secret|key|certificate}-{vaultId}-{name}`, the crypto service
 * `key-{tenant}/{vault}/{name}`; vault ids are resolved through `vaults`.
 */
export function classifyLifecycleEvent(e: ObservedLifecycleEvent, vaults: VaultDirectory = () => undefined): ClassifiedEvent | undefined {
  const kind = KIND_PREFIX.find(([re]) => re.test(e.type))?.[1];
  if (!kind) return undefined;
  const d = e.data;
  const fromPath = /vaults\/([0-9A-Za-z-]+)(?:\/(secrets|keys|certificates)\/([0-9A-Za-z-]+))?/.exec(e.subject) ?? /^key-[^/]+\/([0-9A-Za-z-]+)\/([0-9A-Za-z-]+)$/.exec(e.subject);
  const fromStream = /^(?:secret|key|certificate)-([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})-([0-9A-Za-z-]{1,127})$/.exec(e.subject);
  const vaultFromSubject = /^vault-([0-9A-Za-z-]{1,127})$/.exec(e.subject)?.[1];
  const vaultId = str(d['vaultId']) ?? fromStream?.[1];
  const vault =
    str(d['vault']) ??
    str(d['vaultName']) ??
    (kind === 'vault' ? (str(d['name']) ?? vaultFromSubject) : undefined) ??
    fromPath?.[1] ??
    (vaultId && UUID.test(vaultId) ? vaults(e.tenant, vaultId.toLowerCase()) : undefined);
  const pathName = fromPath ? (fromPath.length === 4 ? fromPath[3] : fromPath[2]) : undefined;
  const name = kind === 'vault' ? vault : (str(d['name']) ?? str(d[`${kind}Name`]) ?? str(d['objectName']) ?? fromStream?.[2] ?? pathName);
  if (!vault || !name || !NAME.test(vault) || !NAME.test(name)) return undefined;
  const version = str(d['version']) ?? str(d['versionId']);
  return { ref: { vault: vault.toLowerCase(), kind, name: name.toLowerCase(), ...(version ? { version } : {}) }, change: changeOf(e.type) };
}

const METADATA_FIELDS = ['vault', 'vaultName', 'vaultId', 'name', 'secretName', 'keyName', 'certificateName', 'objectName', 'collection', 'version', 'versionId', 'contentType', 'kty', 'keyType', 'deletedDate', 'scheduledPurgeDate', 'purgedDate', 'recoveredDate', 'restoredDate', 'recoveryLevel', 'enabled', 'created', 'updated', 'exp', 'nbf', 'expires', 'notBefore'] as const;
const ATTRIBUTE_FIELDS = ['enabled', 'created', 'updated', 'exp', 'nbf', 'expires', 'notBefore', 'recoveryLevel', 'recoverableDays'] as const;

const scalar = (v: unknown): boolean => typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v === null;

/**
 * The metadata of a lifecycle event's data that the object state needs, and nothing else:
 * whatever else an event carries (ciphertext, wrapped keys, policies) is dropped before the
 * audit service stores or indexes anything.
 */
export function lifecycleMetadata(data: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of METADATA_FIELDS) if (data[k] !== undefined && scalar(data[k])) out[k] = typeof data[k] === 'string' ? (data[k] as string).slice(0, 1024) : data[k];
  const attrs = data['attributes'];
  if (typeof attrs === 'object' && attrs !== null && !Array.isArray(attrs)) {
    const a: Record<string, unknown> = {};
    for (const k of ATTRIBUTE_FIELDS) {
      const val = (attrs as Record<string, unknown>)[k];
      if (val !== undefined && scalar(val)) a[k] = val;
    }
    out['attributes'] = a;
  }
  const tags = tagsOf(data['tags']);
  if (tags) out['tags'] = tags;
  // A restore carries every version: keep their ids only.
  const versions = data['versions'];
  if (Array.isArray(versions)) {
    out['versions'] = versions
      .map((v) => (typeof v === 'string' ? v : typeof v === 'object' && v !== null ? (v as Record<string, unknown>)['version'] : undefined))
      .filter((v): v is string => typeof v === 'string' && v.length <= 64)
      .slice(0, MAX_VERSIONS);
  }
  return out;
}

/** Azure attributes come as epoch seconds; events may also carry ISO strings. */
function time(v: unknown): string | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return new Date(v < 1e12 ? v * 1000 : v).toISOString();
  if (typeof v === 'string' && !Number.isNaN(Date.parse(v))) return new Date(v).toISOString();
  return undefined;
}

function tagsOf(v: unknown): Record<string, string> | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v).slice(0, 50)) if (typeof val === 'string') out[k.slice(0, 256)] = val.slice(0, 256);
  return out;
}

/** Folds one classified event into the object's state (undefined state: first sight). */
export function evolveObjectState(state: ObjectState | undefined, e: ObservedLifecycleEvent, c: ClassifiedEvent): ObjectState {
  const d = e.data;
  const attrs = (typeof d['attributes'] === 'object' && d['attributes'] !== null ? d['attributes'] : d) as Record<string, unknown>;
  const base: ObjectState = state ?? {
    tenant: e.tenant,
    vault: c.ref.vault,
    kind: c.ref.kind,
    name: c.ref.name,
    status: 'active',
    versions: [],
    versionCount: 0,
    lastEventType: e.type,
    lastEventTime: e.time,
    lastEventSource: e.source,
    eventCount: 0,
  };
  let next: ObjectState = { ...base, lastEventType: e.type, lastEventTime: e.time, lastEventSource: e.source, eventCount: base.eventCount + 1 };
  const version = c.ref.version;
  const restored = Array.isArray(d['versions']) ? (d['versions'] as unknown[]).filter((v): v is string => typeof v === 'string') : [];
  for (const v of [...restored, ...(version ? [version] : [])]) {
    if (next.versions.includes(v)) continue;
    next = { ...next, versions: [...next.versions, v].slice(-MAX_VERSIONS), versionCount: next.versionCount + 1 };
  }
  if (c.change === 'version' && (version ?? restored[restored.length - 1])) next = { ...next, latestVersion: (version ?? restored[restored.length - 1])! };
  if (c.change !== 'deleted' && c.change !== 'purged' && c.change !== 'touched') {
    const enabled = typeof attrs['enabled'] === 'boolean' ? attrs['enabled'] : undefined;
    const updates: Partial<Record<keyof ObjectState, unknown>> = {
      enabled: c.change === 'enabled' ? true : c.change === 'disabled' ? false : enabled,
      created: time(attrs['created']) ?? (c.change === 'version' && !base.created ? e.time : undefined),
      updated: time(attrs['updated']) ?? e.time,
      expires: time(attrs['exp'] ?? attrs['expires']),
      notBefore: time(attrs['nbf'] ?? attrs['notBefore']),
      recoveryLevel: str(attrs['recoveryLevel']),
      contentType: str(d['contentType']),
      keyType: str(d['kty']) ?? str(d['keyType']),
      tags: tagsOf(d['tags']),
    };
    for (const [k, v] of Object.entries(updates)) if (v !== undefined) next = { ...next, [k]: v };
  }
  switch (c.change) {
    case 'deleted':
      next = { ...next, status: 'deleted', deletedAt: time(d['deletedDate']) ?? e.time, ...(time(d['scheduledPurgeDate']) ? { scheduledPurgeDate: time(d['scheduledPurgeDate'])! } : {}) };
      break;
    case 'recovered':
      next = withoutDeletion({ ...next, status: 'active' });
      break;
    case 'purged':
      next = { ...next, status: 'purged', purgedAt: time(d['purgedDate']) ?? e.time };
      break;
    case 'version':
      if (base.status !== 'active') next = withoutDeletion({ ...next, status: 'active' });
      break;
    case 'attributes':
    case 'enabled':
    case 'disabled':
    case 'touched':
      break;
  }
  return next;
}

function withoutDeletion(s: ObjectState): ObjectState {
  const { deletedAt: _d, scheduledPurgeDate: _s, purgedAt: _p, ...rest } = s;
  return rest;
}
