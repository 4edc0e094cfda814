import type { Client as EsClient, estypes } from '@elastic/elasticsearch';
import type { EsOperation, EsProjection } from './projection.types.js';

/** A bulk request had failed items; the checkpoint must not move past them. No document values in the message. */
export class EsBulkError extends Error {
  readonly code = 'ProjectionBulkFailed';
  constructor(
    readonly index: string,
    readonly failures: readonly { readonly id: string; readonly status: number; readonly type: string }[],
  ) {
    const first = failures[0];
    super(`bulk into ${index}: ${failures.length} failed item(s)${first ? `, first ${first.id}: ${first.status} ${first.type}` : ''}`);
    this.name = 'EsBulkError';
  }
}

const ALIAS_NAME = /^[a-z0-9][a-z0-9_.-]{0,200}$/;

/**
 * The versioned indices of one Elasticsearch projection: `<alias>-v<N>` created from an
 * index template (explicit mappings), the alias pointing at exactly one of them.
 */
export class EsProjectionIndices {
  readonly alias: string;

  constructor(
    readonly es: EsClient,
    readonly projection: EsProjection,
  ) {
    if (!ALIAS_NAME.test(projection.alias)) throw new Error(`invalid Elasticsearch alias "${projection.alias}"`);
    this.alias = projection.alias;
  }

  indexName(version: number): string {
    return `${this.alias}-v${version}`;
  }

  versionOf(index: string): number | null {
    const m = index.startsWith(`${this.alias}-v`) ? /^(\d+)$/.exec(index.slice(this.alias.length + 2)) : null;
    return m ? Number(m[1]) : null;
  }

  /** The index template every version is created from: settings and explicit mappings. */
  async putTemplate(): Promise<void> {
    await this.es.indices.putIndexTemplate({
      name: `${this.alias}-projection`,
      index_patterns: [`${this.alias}-v*`],
      priority: 500,
      template: { settings: this.projection.settings ?? {}, mappings: this.projection.mappings },
      _meta: { projection: this.projection.name, managed_by: 'keyledger-projections' },
    });
  }

  /** The index the alias points at, or null when there is no alias yet. */
  async current(): Promise<string | null> {
    const exists = await this.es.indices.existsAlias({ name: this.alias });
    if (!exists) return null;
    const res = await this.es.indices.getAlias({ name: this.alias });
    const indices = Object.keys(res);
    if (indices.length !== 1) throw new Error(`alias ${this.alias} points at ${indices.length} indices`);
    return indices[0];
  }

  /** Existing version numbers, ascending. */
  async versions(): Promise<number[]> {
    const res = await this.es.indices.get({ index: `${this.alias}-v*`, allow_no_indices: true, ignore_unavailable: true, expand_wildcards: 'open' });
    return Object.keys(res)
      .map((i) => this.versionOf(i))
      .filter((v): v is number => v !== null)
      .sort((a, b) => a - b);
  }

  async exists(index: string): Promise<boolean> {
    return this.es.indices.exists({ index });
  }

  /** Creates a version (explicit mappings as well as the template's), optionally behind the alias at once. */
  async create(version: number, options: { readonly withAlias?: boolean; readonly bulkLoad?: boolean } = {}): Promise<string> {
    const index = this.indexName(version);
    const settings: estypes.IndicesIndexSettings = { ...(this.projection.settings ?? {}), ...(options.bulkLoad ? { refresh_interval: '-1' } : {}) };
    try {
      await this.es.indices.create({
        index,
        settings,
        mappings: this.projection.mappings,
        ...(options.withAlias ? { aliases: { [this.alias]: {} } } : {}),
        wait_for_active_shards: 1,
      });
    } catch (err) {
      if (errorType(err) !== 'resource_already_exists_exception') throw err;
    }
    return index;
  }

  /** The current index, creating `<alias>-v1` behind the alias the very first time. */
  async ensure(): Promise<string> {
    const current = await this.current();
    if (current) return current;
    await this.putTemplate();
    const versions = await this.versions();
    const version = versions.length > 0 ? versions[versions.length - 1] + 1 : 1;
    await this.create(version, { withAlias: true });
    return (await this.current()) ?? this.indexName(version);
  }

  /** Moves the alias to `to` in one atomic updateAliases call (remove from all others + add). */
  async pointAliasAt(to: string): Promise<string[]> {
    const from = (await this.es.indices.existsAlias({ name: this.alias })) ? Object.keys(await this.es.indices.getAlias({ name: this.alias })) : [];
    if (from.length === 1 && from[0] === to) return from;
    const actions: estypes.IndicesUpdateAliasesAction[] = [
      ...from.filter((i) => i !== to).map((index) => ({ remove: { index, alias: this.alias } })),
      { add: { index: to, alias: this.alias } },
    ];
    await this.es.indices.updateAliases({ actions });
    return from;
  }

  /** Restores the projection's refresh interval after a bulk load and makes everything searchable. */
  async finishBulkLoad(index: string): Promise<void> {
    const refresh = this.projection.settings?.refresh_interval ?? this.projection.settings?.index?.refresh_interval ?? '1s';
    await this.es.indices.putSettings({ index, settings: { index: { refresh_interval: refresh } } });
    await this.es.indices.refresh({ index });
  }

  async delete(index: string): Promise<void> {
    try {
      await this.es.indices.delete({ index });
    } catch (err) {
      if (errorType(err) !== 'index_not_found_exception') throw err;
    }
  }
}

/** Sends operations in one bulk request; throws EsBulkError when any item failed (a delete of a missing doc is fine). */
export async function bulkWrite(es: EsClient, index: string, ops: readonly EsOperation[], refresh: boolean | 'wait_for' = false): Promise<void> {
  if (ops.length === 0) return;
  const operations: (estypes.BulkOperationContainer | object)[] = [];
  for (const o of ops) {
    switch (o.op) {
      case 'index':
        operations.push({ index: { _index: index, _id: o.id } }, o.document);
        break;
      case 'update':
        operations.push({ update: { _index: index, _id: o.id, retry_on_conflict: 3 } }, { doc: o.document, doc_as_upsert: true });
        break;
      case 'delete':
        operations.push({ delete: { _index: index, _id: o.id } });
        break;
      default:
        assertNeverOp(o);
    }
  }
  const res = await es.bulk({ operations, refresh });
  if (!res.errors) return;
  const failures: { id: string; status: number; type: string }[] = [];
  for (const item of res.items) {
    const [action, r] = Object.entries(item)[0] as [string, estypes.BulkResponseItem];
    if (r.status < 300) continue;
    if (action === 'delete' && r.status === 404) continue;
    failures.push({ id: r._id ?? '?', status: r.status, type: r.error?.type ?? 'unknown' });
  }
  if (failures.length > 0) throw new EsBulkError(index, failures);
}

function assertNeverOp(o: never): never {
  throw new Error(`unknown Elasticsearch operation ${JSON.stringify(o)}`);
}

export function errorType(err: unknown): string | undefined {
  const body = (err as { meta?: { body?: { error?: { type?: string } } } } | null)?.meta?.body;
  return body?.error?.type;
}
