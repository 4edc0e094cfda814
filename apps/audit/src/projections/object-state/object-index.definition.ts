import type { estypes } from '@elastic/elasticsearch';
import type { EsProjection } from '#libs/projections';
import { objectRefKey, type ObjectKind } from '../../domain/object-ref.js';
import type { ObjectState } from '../../domain/object-state.js';

/** The search document of one vault object: lifecycle state plus usage. */
export type ObjectDocument = {
  readonly '@timestamp': string;
  readonly tenant: string;
  readonly vault: string;
  readonly kind: ObjectKind;
  readonly name: string;
  readonly ref: string;
  readonly status?: string;
  readonly versions?: readonly string[];
  readonly version_count?: number;
  readonly latest_version?: string;
  readonly attributes?: { readonly enabled?: boolean; readonly created?: string; readonly updated?: string; readonly expires?: string; readonly not_before?: string; readonly recovery_level?: string };
  readonly content_type?: string;
  readonly key_type?: string;
  readonly tags?: Readonly<Record<string, string>>;
  readonly deleted_at?: string;
  readonly scheduled_purge_date?: string;
  readonly purged_at?: string;
  readonly last_event?: { readonly type: string; readonly time: string; readonly source: string };
  readonly event_count?: number;
  readonly usage: { readonly count: number; readonly failures: number; readonly last_used_at?: string; readonly last_operation?: string; readonly last_caller?: string; readonly by_operation?: Readonly<Record<string, number>> };
};

export type UsageRow = { use_count: string; failure_count: string; last_used_at: Date | null; last_operation: string | null; last_caller: string | null; by_operation: Record<string, number> };

export const objectDocId = (tenant: string, vault: string, kind: string, name: string): string => `${tenant}:${vault}/${kind}/${name}`;

export function toObjectDocument(key: { tenant: string; vault: string; kind: ObjectKind; name: string }, state: ObjectState | undefined, usage: UsageRow | undefined): ObjectDocument {
  const times = [state?.lastEventTime, usage?.last_used_at?.toISOString()].filter((t): t is string => Boolean(t)).sort();
  const s = state;
  return {
    '@timestamp': times[times.length - 1] ?? new Date(0).toISOString(),
    tenant: key.tenant,
    vault: key.vault,
    kind: key.kind,
    name: key.name,
    ref: objectRefKey({ vault: key.vault, kind: key.kind, name: key.name }),
    ...(s
      ? {
          status: s.status,
          versions: s.versions,
          version_count: s.versionCount,
          ...(s.latestVersion ? { latest_version: s.latestVersion } : {}),
          attributes: {
            ...(s.enabled !== undefined ? { enabled: s.enabled } : {}),
            ...(s.created ? { created: s.created } : {}),
            ...(s.updated ? { updated: s.updated } : {}),
            ...(s.expires ? { expires: s.expires } : {}),
            ...(s.notBefore ? { not_before: s.notBefore } : {}),
            ...(s.recoveryLevel ? { recovery_level: s.recoveryLevel } : {}),
          },
          ...(s.contentType ? { content_type: s.contentType } : {}),
          ...(s.keyType ? { key_type: s.keyType } : {}),
          ...(s.tags ? { tags: s.tags } : {}),
          ...(s.deletedAt ? { deleted_at: s.deletedAt } : {}),
          ...(s.scheduledPurgeDate ? { scheduled_purge_date: s.scheduledPurgeDate } : {}),
          ...(s.purgedAt ? { purged_at: s.purgedAt } : {}),
          last_event: { type: s.lastEventType, time: s.lastEventTime, source: s.lastEventSource },
          event_count: s.eventCount,
        }
      : {}),
    usage: {
      count: Number(usage?.use_count ?? 0),
      failures: Number(usage?.failure_count ?? 0),
      ...(usage?.last_used_at ? { last_used_at: usage.last_used_at.toISOString() } : {}),
      ...(usage?.last_operation ? { last_operation: usage.last_operation } : {}),
      ...(usage?.last_caller ? { last_caller: usage.last_caller } : {}),
      ...(usage?.by_operation && Object.keys(usage.by_operation).length > 0 ? { by_operation: usage.by_operation } : {}),
    },
  };
}

const kw: estypes.MappingProperty = { type: 'keyword', ignore_above: 1024 };

export const OBJECT_MAPPINGS: estypes.MappingTypeMapping = {
  dynamic: false,
  properties: {
    '@timestamp': { type: 'date' },
    tenant: kw,
    vault: kw,
    kind: kw,
    name: kw,
    ref: kw,
    status: kw,
    versions: kw,
    version_count: { type: 'integer' },
    latest_version: kw,
    attributes: {
      properties: {
        enabled: { type: 'boolean' },
        created: { type: 'date' },
        updated: { type: 'date' },
        expires: { type: 'date' },
        not_before: { type: 'date' },
        recovery_level: kw,
      },
    },
    content_type: kw,
    key_type: kw,
    tags: { type: 'flattened' },
    deleted_at: { type: 'date' },
    scheduled_purge_date: { type: 'date' },
    purged_at: { type: 'date' },
    last_event: { properties: { type: kw, time: { type: 'date' }, source: kw } },
    event_count: { type: 'long' },
    usage: {
      properties: {
        count: { type: 'long' },
        failures: { type: 'long' },
        last_used_at: { type: 'date' },
        last_operation: kw,
        last_caller: kw,
        by_operation: { type: 'flattened' },
      },
    },
  },
};

/** The versioned index (`<alias>-v<N>`) definition for libs/projections' EsProjectionIndices. */
export function objectIndexProjection(alias: string, refreshInterval: string, replicas: number): EsProjection {
  return {
    kind: 'elasticsearch',
    name: 'objects',
    alias,
    mappings: OBJECT_MAPPINGS,
    settings: { number_of_shards: 1, number_of_replicas: replicas, refresh_interval: refreshInterval },
    // Documents are computed from PostgreSQL state by ObjectIndexer, not from single events.
    toOperations: () => [],
  };
}
