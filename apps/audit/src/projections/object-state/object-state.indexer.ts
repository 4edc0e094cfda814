import type { Client as EsClient } from '@elastic/elasticsearch';
import type { Logger } from 'pino';
import { bulkWrite, EsProjectionIndices, type EsOperation } from '#libs/projections';
import type { Database, Sql } from '#libs/platform';
import type { ObjectKind } from '../../domain/object-ref.js';
import type { ObjectState } from '../../domain/object-state.js';
import type { ReindexProgress } from '../audit-records/audit-records.indexer.js';
import { objectDocId, objectIndexProjection, toObjectDocument, type UsageRow } from './object-index.definition.js';

type Key = { tenant: string; vault: string; kind: ObjectKind; name: string };
type DocRow = Key & { state: ObjectState | null } & Partial<UsageRow> & { has_usage: boolean };

/**
 * Writes the current-state documents of vault objects into `<alias>` (a versioned index
 * `<alias>-v<N>` managed by libs/projections' EsProjectionIndices). Whatever changes an
 * object (a lifecycle event, a use) queues its key in `object_index_queue` in the same
 * transaction; this indexer takes queued keys, computes each whole document from
 * PostgreSQL (state + usage) and indexes it — no scripts, so it works on the embedded node.
 * A failed bulk rolls the dequeue back: the keys come again.
 */
export class ObjectStateIndexer {
  readonly indices: EsProjectionIndices;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;

  constructor(
    private readonly db: Database,
    private readonly es: EsClient,
    options: { readonly alias: string; readonly refreshInterval: string; readonly replicas: number },
    private readonly logger: Logger,
    private readonly batchSize = 500,
  ) {
    this.indices = new EsProjectionIndices(es, objectIndexProjection(options.alias, options.refreshInterval, options.replicas));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wakeUp?.();
    await this.loop;
  }

  wake(): void {
    this.wakeUp?.();
  }

  private async run(): Promise<void> {
    let failures = 0;
    let ensured = false;
    while (this.running) {
      try {
        if (!ensured) {
          await this.indices.ensure();
          ensured = true;
        }
        const n = await this.step();
        failures = 0;
        if (n >= this.batchSize) continue;
        await this.idle(1_000);
      } catch (err) {
        failures++;
        const delay = Math.min(5_000, 100 * 2 ** Math.min(failures - 1, 10));
        this.logger.warn({ err: err instanceof Error ? err.message : String(err), retryInMs: delay }, 'object index update failed; retrying');
        await this.idle(delay);
      }
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.wakeUp = undefined;
        resolve();
      }
      this.wakeUp = done;
    });
  }

  /** Indexes the documents of up to batchSize queued objects; returns how many queue rows it took. */
  async step(): Promise<number> {
    const s = this.db.schema;
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`audit-objects-index:${s}`]);
      const taken = await tx.query<Key>(
        `DELETE FROM ${s}.object_index_queue WHERE id IN (SELECT id FROM ${s}.object_index_queue ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED)
         RETURNING tenant, vault, kind, name`,
        [this.batchSize],
      );
      if (taken.length === 0) return 0;
      const keys = new Map<string, Key>();
      for (const k of taken) keys.set(objectDocId(k.tenant, k.vault, k.kind, k.name), k);
      await bulkWrite(this.es, this.indices.alias, await this.operations(tx, [...keys.values()]));
      return taken.length;
    });
  }

  private async operations(sql: Sql, keys: readonly Key[]): Promise<EsOperation[]> {
    const rows = await this.load(sql, keys);
    const found = new Map(rows.map((r) => [objectDocId(r.tenant, r.vault, r.kind, r.name), r]));
    return keys.map((k): EsOperation => {
      const id = objectDocId(k.tenant, k.vault, k.kind, k.name);
      const r = found.get(id);
      if (!r || (!r.state && !r.has_usage)) return { op: 'delete', id };
      return { op: 'index', id, document: toObjectDocument(k, r.state ?? undefined, r.has_usage ? (r as UsageRow) : undefined) };
    });
  }

  private async load(sql: Sql, keys: readonly Key[]): Promise<DocRow[]> {
    const s = this.db.schema;
    return sql.query<DocRow>(
      `SELECT k.tenant, k.vault, k.kind, k.name, st.state, (u.tenant IS NOT NULL) AS has_usage,
              u.use_count::text, u.failure_count::text, u.last_used_at, u.last_operation, u.last_caller, u.by_operation
         FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(tenant, vault, kind, name)
         LEFT JOIN ${s}.object_state st USING (tenant, vault, kind, name)
         LEFT JOIN ${s}.object_usage u USING (tenant, vault, kind, name)`,
      [keys.map((k) => k.tenant), keys.map((k) => k.vault), keys.map((k) => k.kind), keys.map((k) => k.name)],
    );
  }

  /**
   * Rebuilds the index from PostgreSQL into a new version beside the live one and moves the
   * alias atomically (the live indexer is paused by the shared lock meanwhile; its queue is
   * emptied since every document is fresh).
   */
  async rebuild(onProgress?: (p: ReindexProgress) => void): Promise<{ target: string; previous: string | null; documents: number }> {
    const s = this.db.schema;
    const started = performance.now();
    await this.indices.putTemplate();
    const previous = await this.indices.current();
    const versions = await this.indices.versions();
    const live = previous ? (this.indices.versionOf(previous) ?? 0) : 0;
    for (const v of versions) if (v > live) await this.indices.delete(this.indices.indexName(v));
    const target = await this.indices.create(Math.max(live, ...versions) + 1, { bulkLoad: true });
    let documents = 0;
    await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`audit-objects-index:${s}`]);
      const all = await tx.query<Key>(`SELECT tenant, vault, kind, name FROM ${s}.object_state UNION SELECT tenant, vault, kind, name FROM ${s}.object_usage`);
      for (let i = 0; i < all.length; i += this.batchSize) {
        const ops = await this.operations(tx, all.slice(i, i + this.batchSize));
        await bulkWrite(this.es, target, ops);
        documents += ops.filter((o) => o.op === 'index').length;
        const elapsedMs = Math.round(performance.now() - started);
        onProgress?.({ projection: 'objects', phase: 'replay', done: Math.min(i + this.batchSize, all.length), total: all.length, perSecond: elapsedMs > 0 ? Math.round((documents * 1000) / elapsedMs) : 0, elapsedMs, target });
      }
      await tx.query(`DELETE FROM ${s}.object_index_queue`);
      await this.indices.finishBulkLoad(target);
      await this.indices.pointAliasAt(target);
    });
    if (previous && previous !== target) await this.indices.delete(previous);
    const elapsedMs = Math.round(performance.now() - started);
    onProgress?.({ projection: 'objects', phase: 'done', done: documents, total: documents, perSecond: elapsedMs > 0 ? Math.round((documents * 1000) / elapsedMs) : 0, elapsedMs, target });
    return { target, previous, documents };
  }
}
