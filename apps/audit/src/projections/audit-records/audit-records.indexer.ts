import type { Client as EsClient, estypes } from '@elastic/elasticsearch';
import type { Logger } from 'pino';
import type { AuditRecord } from '#libs/contracts';
import { errorType } from '#libs/projections';
import { counter, histogram, type Database, type Sql } from '#libs/platform';
import { toAuditDocument, type AuditDocument, type LedgerPosition } from '../../domain/audit-document.js';
import { UnsyncedProgress, type ShardMark, type ShardState } from './unsynced-progress.js';
import { AUDIT_MAPPING_VERSION, auditComponentTemplates, auditDynamicSettings, auditIndexPattern, auditIndexTemplate, type AuditTemplateOptions } from './audit-index.template.js';

export type AuditIndexerOptions = AuditTemplateOptions & {
  /** Ledger entries per indexing step at most: catch-up, rebuild, and the live loop while it has a backlog (default 1000). */
  readonly batchSize?: number;
  /**
   * Ledger entries per live step while the indexer keeps up (default 250, at most batchSize):
   * small bulks keep both Elasticsearch write threads busy with short requests, so a record
   * waits less for its step; a step that comes back full doubles the next one, up to batchSize.
   */
  readonly liveBatchSize?: number;
  /** Safety-net poll when no wake-up arrives (default 500 ms). */
  readonly pollIntervalMs?: number;
  /** After a wake-up, wait this long for more entries so bulk requests are not tiny (default 50 ms). */
  readonly lingerMs?: number;
  readonly maxBackoffMs?: number;
};

export type ReindexProgress = {
  readonly projection: 'records' | 'objects';
  readonly phase: 'replay' | 'final' | 'done';
  readonly done: number;
  readonly total: number;
  readonly perSecond: number;
  readonly elapsedMs: number;
  readonly target: string;
};

type Row = { chain: string; seq: string; record_id: string; appended_at: Date; record: string; hash: string; from_seq: string };

const PROJECTION = 'records';
const indexed = counter('keyledger_audit_indexed_total', 'Audit records written to Elasticsearch', ['alias']);
const rejected = counter('keyledger_audit_index_rejections_total', 'Audit records Elasticsearch refused (mapping errors)', ['alias']);
const bulkSeconds = histogram('keyledger_audit_index_bulk_seconds', 'One indexing step: Elasticsearch bulk requests (concurrent) of up to AUDIT_INDEX_BATCH records', ['alias'], [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
const indexLag = histogram('keyledger_audit_index_lag_seconds', 'Ledger append to Elasticsearch bulk acknowledgement', ['alias'], [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30]);

/** The smallest live batch the indexer shrinks to after failures. */
const MIN_LIVE_BATCH = 25;
/** With an async translog: how often (at most) the indexer asks which acknowledged operations are synced. */
const SYNC_CHECK_MS = 250;

export class EsUnavailableError extends Error {
  constructor(cause: unknown) {
    super(`Elasticsearch unavailable: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'EsUnavailableError';
  }
}

/**
 * The Elasticsearch projection of the ledger. Audit records go into monthly indices
 * `<alias>-v<generation>-YYYY.MM` (month of the ledger append), created from a composable
 * index template and joined to `<alias>` when the generation is live; `_id` = record id, so a
 * replay overwrites instead of duplicating. Progress is kept per chain (`search_progress`):
 * entries of a chain become visible in seq order (appends hold the chain's head lock), so
 * "everything after seq N" never skips an entry. Elasticsearch down: the ledger keeps
 * appending, the indexer retries with backoff and catches up from its progress.
 *
 * A rebuild (`keyledger audit reindex`) fills generation N+1 side by side, then — holding the
 * lock the live indexer takes for every batch — catches up the last entries and moves the
 * alias from generation N's indices to N+1's in one `updateAliases` call.
 */
export class AuditRecordsIndexer {
  readonly alias: string;
  private running = false;
  private loop: Promise<void> | undefined;
  private wakeUp: (() => void) | undefined;
  private woken = false;
  private readonly known = new Set<string>();
  private templatesReady = false;
  private readonly batchSize: number;
  private readonly liveBatchSize: number;
  /** Progress of live steps waiting for Elasticsearch's translog sync (async durability only). */
  private readonly unsynced = new UnsyncedProgress();
  private lastSyncCheck = 0;

  constructor(
    private readonly db: Database,
    private readonly es: EsClient,
    private readonly options: AuditIndexerOptions,
    private readonly logger: Logger,
  ) {
    this.alias = options.alias;
    this.batchSize = options.batchSize ?? 1_000;
    this.liveBatchSize = Math.min(this.batchSize, options.liveBatchSize ?? 250);
  }

  private get schema(): string {
    return this.db.schema;
  }

  target(generation: number): string {
    return `${this.alias}-v${generation}`;
  }

  /** `<target>-YYYY.MM` of the ledger time. */
  indexFor(target: string, appendedAt: Date): string {
    return `${target}-${appendedAt.getUTCFullYear()}.${String(appendedAt.getUTCMonth() + 1).padStart(2, '0')}`;
  }

  async ensureTemplates(): Promise<void> {
    if (this.templatesReady) return;
    for (const c of auditComponentTemplates(this.options)) await this.es.cluster.putComponentTemplate({ name: c.name, template: c.template });
    await this.es.indices.putIndexTemplate(auditIndexTemplate(this.options));
    // Indices made from an earlier template (this month's, say) take the dynamic settings too.
    await this.es.indices.putSettings({ index: auditIndexPattern(this.alias), settings: auditDynamicSettings(this.options), allow_no_indices: true, expand_wildcards: 'open' });
    // Mappings cannot change in place: an index keeps the one it was created with.
    const older = await this.indicesOlderThanMapping();
    if (older.length > 0) {
      this.logger.info({ indices: older, mappingVersion: AUDIT_MAPPING_VERSION }, 'audit indices created from an earlier mapping keep it (searches span both); the next month and `keyledger audit reindex` use the current one');
    }
    this.templatesReady = true;
  }

  /** Indices of the alias's pattern created from an earlier mapping version (see AUDIT_MAPPING_VERSION). */
  async indicesOlderThanMapping(): Promise<string[]> {
    const mappings = await this.es.indices.getMapping({ index: auditIndexPattern(this.alias), allow_no_indices: true, expand_wildcards: 'open' });
    return Object.entries(mappings)
      .filter(([, m]) => Number(m.mappings._meta?.['mapping_version'] ?? 1) < AUDIT_MAPPING_VERSION)
      .map(([index]) => index)
      .sort();
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake();
    await this.loop;
  }

  /** New ledger entries were committed (in this process): index them now. */
  wake(): void {
    this.woken = true;
    this.wakeUp?.();
  }

  /**
   * The live loop, pipelined: while one step's bulk requests are in flight, the next step
   * reads the entries after them (an in-memory cursor) and sends its own, so Elasticsearch is
   * never idle under load; at most two steps are in flight. Progress still moves strictly in
   * order — each step commits only after the one before it did — and on any failure the cursor
   * is dropped and indexing resumes from the committed progress (replays are harmless).
   */
  private async run(): Promise<void> {
    let failures = 0;
    // Entries per live step: liveBatchSize while the indexer keeps up; doubled (up to batchSize)
    // after a full step, so a backlog is caught up in larger bulks; halved after a failure. A
    // batch Elasticsearch cannot take within the request timeout (a node just restarted, a
    // loaded machine) would otherwise time out and be retried whole, for ever.
    let limit = this.liveBatchSize;
    let cursor = new Map<string, number>();
    let previous: Promise<void> | undefined;
    while (this.running) {
      try {
        await this.ensureTemplates();
        const prev = previous;
        let dispatched!: (n: number) => void;
        let failedEarly!: (err: unknown) => void;
        const read = new Promise<number>((resolve, reject) => {
          dispatched = resolve;
          failedEarly = reject;
        });
        const committed = this.db.transaction(async (tx) => {
          const gen = await this.lockLive(tx, true);
          return this.step(tx, this.target(gen), true, {
            cursor,
            limit,
            deferProgress: this.asyncTranslog,
            onRead: (n, next) => {
              for (const [chain, seq] of next) cursor.set(chain, Math.max(cursor.get(chain) ?? 0, seq));
              dispatched(n);
            },
            // Progress in order: only after the step before this one committed.
            beforeProgress: async () => {
              if (prev) await prev;
            },
          });
        });
        committed.then(dispatched, failedEarly);
        previous = committed.then(() => undefined);
        previous.catch(() => undefined);
        const n = await read;
        if (n === 0) {
          // An empty step never reaches beforeProgress, so it does not wait for the step before
          // it: wait here, or a failed bulk of that step would go unnoticed while the cursor
          // already counts its entries as sent, and the next step would skip them for good.
          if (prev) await prev;
          await previous;
          previous = undefined;
          failures = 0;
          if (this.unsynced.size > 0) await this.writeSyncedProgress();
          await this.idle(this.unsynced.size > 0 ? SYNC_CHECK_MS : (this.options.pollIntervalMs ?? 500));
          continue;
        }
        const full = n >= limit;
        if (!full) {
          // Not a full batch: give the next one time to fill while this one is being indexed.
          await this.idle(this.options.pollIntervalMs ?? 500);
          await new Promise((r) => setTimeout(r, this.options.lingerMs ?? 50));
        }
        if (prev) {
          await prev;
          failures = 0;
          // Two steps in a row went through. A backlog: larger steps (up to batchSize); keeping
          // up: small ones (liveBatchSize; a limit halved by failures grows back step by step).
          limit = full || limit < this.liveBatchSize ? Math.min(full ? this.batchSize : this.liveBatchSize, limit * 2) : this.liveBatchSize;
        }
      } catch (err) {
        await previous?.catch(() => undefined);
        previous = undefined;
        cursor = new Map();
        this.unsynced.clear();
        failures++;
        limit = Math.max(Math.min(this.batchSize, MIN_LIVE_BATCH), Math.floor(limit / 2));
        const delay = Math.min(this.options.maxBackoffMs ?? 5_000, 100 * 2 ** Math.min(failures - 1, 10));
        this.logger.warn({ err: err instanceof Error ? err.message : String(err), retryInMs: delay, failures }, 'audit indexing failed; the ledger keeps the records, retrying');
        await this.idle(delay);
      }
    }
    await previous?.catch(() => undefined);
  }

  private idle(ms: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const self = this;
      function done(): void {
        clearTimeout(timer);
        self.wakeUp = undefined;
        self.woken = false;
        resolve();
      }
      this.wakeUp = done;
    });
  }

  async generation(sql: Sql = this.db): Promise<number> {
    await sql.query(`INSERT INTO ${this.schema}.search_generations (projection, generation) VALUES ($1, 1) ON CONFLICT (projection) DO NOTHING`, [PROJECTION]);
    const rows = await sql.query<{ generation: number }>(`SELECT generation FROM ${this.schema}.search_generations WHERE projection = $1`, [PROJECTION]);
    return rows[0]!.generation;
  }

  /**
   * Takes the live indexer's shared lock (a rebuild holds it exclusively while it moves the
   * alias) and reads the live generation, in one statement. `asyncCommit`: the transaction's
   * commit does not wait for its WAL flush — a progress update PostgreSQL loses in a crash
   * only makes the indexer index those records again (same `_id`s).
   */
  private async lockLive(tx: Sql, asyncCommit: boolean): Promise<number> {
    const [row] = await tx.query<{ generation: number | null }>(
      `SELECT pg_advisory_xact_lock_shared(hashtext($1)) AS locked, set_config('synchronous_commit', $3, true) AS commit_mode,
              (SELECT generation FROM ${this.schema}.search_generations WHERE projection = $2) AS generation`,
      [`audit-index:${this.schema}:${PROJECTION}`, PROJECTION, asyncCommit ? 'off' : 'on'],
    );
    return row?.generation ?? (await this.generation(tx));
  }

  /** Indexes the next batch into the live generation; returns how many entries it took. */
  async stepLive(): Promise<number> {
    return this.db.transaction(async (tx) => {
      const gen = await this.lockLive(tx, false);
      return this.step(tx, this.target(gen), true);
    });
  }

  /** Everything committed so far is in the live generation (tests, shutdown). */
  async catchUp(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.stepLive();
      total += n;
      if (n === 0) return total;
    }
  }

  private async step(
    sql: Sql,
    target: string,
    live: boolean,
    pipeline: {
      cursor?: ReadonlyMap<string, number>;
      limit?: number;
      onRead?: (n: number, next: ReadonlyMap<string, number>) => void;
      beforeProgress?: () => Promise<void>;
      /** Keep this step's progress until Elasticsearch synced its operations (async translog, live loop). */
      deferProgress?: boolean;
    } = {},
  ): Promise<number> {
    const s = this.schema;
    const cursor = [...(pipeline.cursor ?? new Map<string, number>())];
    // Every chain with entries, from its progress (none yet: 0) or the in-memory cursor.
    const rows = await sql.query<Row>(
      `SELECT e.chain, e.seq::text, e.record_id, e.appended_at, e.record, e.hash, s.from_seq::text AS from_seq
         FROM (SELECT h.chain, h.seq AS head, GREATEST(coalesce(p.seq, 0), coalesce(c.seq, 0)) AS from_seq
                 FROM ${s}.chain_heads h
                 LEFT JOIN ${s}.search_progress p ON p.target = $1 AND p.chain = h.chain
                 LEFT JOIN unnest($3::text[], $4::bigint[]) AS c(chain, seq) ON c.chain = h.chain
                WHERE h.seq > 0) s
         CROSS JOIN LATERAL (
           SELECT chain, seq, record_id, appended_at, record, hash FROM ${s}.ledger_entries e
            WHERE e.chain = s.chain AND e.seq > s.from_seq ORDER BY e.seq LIMIT $2) e
        WHERE s.head > s.from_seq
        ORDER BY e.seq - s.from_seq, e.chain
        LIMIT $2`,
      [target, pipeline.limit ?? this.batchSize, cursor.map(([c]) => c), cursor.map(([, n]) => n)],
    );
    if (rows.length === 0) return 0;
    // Round-robin over chains (rank within the chain first): every chain advances by a prefix.
    const next = new Map<string, number>();
    const take = [...rows].sort((a, b) => (a.chain === b.chain ? Number(a.seq) - Number(b.seq) : a.chain < b.chain ? -1 : 1));
    for (const r of take) {
      const expected = next.get(r.chain) ?? Number(r.from_seq) + 1;
      // Entries of a chain commit in seq order, so a gap here means rows were deleted from the ledger.
      if (Number(r.seq) !== expected) this.logger.error({ chain: r.chain, missingFromSeq: expected, nextSeq: Number(r.seq) }, 'ledger gap: entries are missing (run keyledger audit verify)');
      next.set(r.chain, Number(r.seq) + 1);
    }
    pipeline.onRead?.(rows.length, new Map([...next].map(([c, n]) => [c, n - 1])));
    const lines: string[] = [];
    const indices = new Set<string>();
    for (const r of take) {
      const index = this.indexFor(target, r.appended_at);
      indices.add(index);
      lines.push(...bulkIndexLines(index, { recordId: r.record_id, record: r.record, chain: r.chain, seq: Number(r.seq), hash: r.hash, appendedAt: r.appended_at.toISOString() }));
    }
    for (const index of indices) await this.ensureIndex(index, live);
    // Two bulk requests in flight: the single shard indexes them on two threads. Progress moves
    // only after both succeeded, so their order does not matter (ids make replays harmless).
    const half = Math.ceil(lines.length / 4) * 2;
    const parts = lines.length > 400 ? [lines.slice(0, half), lines.slice(half)] : [lines];
    let responses: estypes.BulkResponse[];
    const bulkStarted = performance.now();
    try {
      responses = await Promise.all(parts.map((part) => this.es.transport.request<estypes.BulkResponse>({ method: 'POST', path: '/_bulk', bulkBody: `${part.join('\n')}\n` })));
    } catch (err) {
      throw new EsUnavailableError(err);
    }
    bulkSeconds.observe({ alias: this.alias }, (performance.now() - bulkStarted) / 1000);
    if (responses.some((r) => r.errors)) {
      const retry: string[] = [];
      for (const item of responses.flatMap((r) => r.items)) {
        const r = item.index;
        if (!r || r.status < 300) continue;
        if (r.status === 429 || r.status >= 500) retry.push(r._id ?? '?');
        else {
          rejected.inc({ alias: this.alias });
          this.logger.error({ recordId: r._id, status: r.status, errorType: r.error?.type }, 'Elasticsearch refused an audit record; kept in the ledger, listed in search_rejections');
          await sql.query(
            `INSERT INTO ${s}.search_rejections (target, record_id, status, error_type) VALUES ($1, $2, $3, $4) ON CONFLICT (target, record_id) DO UPDATE SET status = EXCLUDED.status, error_type = EXCLUDED.error_type, at = now()`,
            [target, r._id ?? '?', r.status, r.error?.type ?? 'unknown'],
          );
        }
      }
      if (retry.length > 0) throw new EsUnavailableError(new Error(`${retry.length} item(s) refused with 429/5xx`));
    }
    await pipeline.beforeProgress?.();
    const progress = new Map([...next].map(([chain, n]) => [chain, n - 1]));
    if (pipeline.deferProgress) {
      this.unsynced.add(target, progress, shardMarks(responses));
      await this.writeProgress(sql, target, await this.syncedProgress(target, false));
    } else {
      // Outside the live loop (catch-up, rebuild) an async translog is synced before progress moves.
      if (this.asyncTranslog) await this.es.indices.flush({ index: [...indices] });
      await this.writeProgress(sql, target, progress);
    }
    indexed.inc({ alias: this.alias }, take.length);
    const now = Date.now();
    for (const r of take) indexLag.observe({ alias: this.alias }, (now - r.appended_at.getTime()) / 1000);
    return rows.length;
  }

  private get asyncTranslog(): boolean {
    return this.options.translogDurability === 'async';
  }

  private async writeProgress(sql: Sql, target: string, progress: ReadonlyMap<string, number>): Promise<void> {
    if (progress.size === 0) return;
    const chains = [...progress.keys()];
    const seqs = [...progress.values()];
    await sql.query(
      `INSERT INTO ${this.schema}.search_progress AS p (target, chain, seq) SELECT $1, u.chain, u.seq FROM unnest($2::text[], $3::bigint[]) AS u(chain, seq)
       ON CONFLICT (target, chain) DO UPDATE SET seq = GREATEST(p.seq, EXCLUDED.seq)`,
      [target, chains, seqs],
    );
  }

  /** The progress of the waiting steps Elasticsearch has synced meanwhile (asks at most every SYNC_CHECK_MS unless `force`). */
  private async syncedProgress(target: string, force: boolean): Promise<Map<string, number>> {
    if (this.unsynced.size === 0 || (!force && Date.now() - this.lastSyncCheck < SYNC_CHECK_MS)) return new Map();
    this.lastSyncCheck = Date.now();
    return this.unsynced.takeSynced(target, await this.shardStates(this.unsynced.indices()));
  }

  /** Idle, with steps still waiting for the sync: writes the progress of those now synced. */
  private async writeSyncedProgress(): Promise<void> {
    await this.db.transaction(async (tx) => {
      const target = this.target(await this.lockLive(tx, true));
      await this.writeProgress(tx, target, await this.syncedProgress(target, true));
    });
  }

  /** Primary term and persisted checkpoint of each index's (single) shard. */
  private async shardStates(indices: readonly string[]): Promise<Map<string, ShardState>> {
    const res = await this.es.indices.stats({ index: [...indices], metric: 'docs', level: 'shards' });
    const out = new Map<string, ShardState>();
    for (const [index, stats] of Object.entries(res.indices ?? {})) {
      const primary = Object.values(stats.shards ?? {})
        .flat()
        .find((sh) => sh.routing?.primary);
      const term = primary?.retention_leases?.primary_term;
      const persisted = primary?.seq_no?.local_checkpoint;
      if (term !== undefined && persisted !== undefined) out.set(index, { term: Number(term), persisted: Number(persisted) });
    }
    return out;
  }

  private async ensureIndex(index: string, withAlias: boolean): Promise<void> {
    const key = `${index}|${withAlias}`;
    if (this.known.has(key)) return;
    try {
      await this.es.indices.create({ index, ...(withAlias ? { aliases: { [this.alias]: {} } } : {}), wait_for_active_shards: 1 });
    } catch (err) {
      if (errorType(err) !== 'resource_already_exists_exception') throw new EsUnavailableError(err);
      if (withAlias) await this.es.indices.putAlias({ index, name: this.alias });
    }
    this.known.add(key);
  }

  /** Indices of one generation. */
  async indicesOf(target: string): Promise<string[]> {
    const res = await this.es.indices.get({ index: `${target}-*`, allow_no_indices: true, ignore_unavailable: true, expand_wildcards: 'open' });
    return Object.keys(res).filter((i) => i.startsWith(`${target}-`));
  }

  /**
   * Rebuilds the index from the ledger into a new generation and moves the alias to it
   * atomically; the old generation is deleted afterwards.
   */
  async rebuild(onProgress?: (p: ReindexProgress) => void): Promise<{ target: string; previous: string; records: number; durationMs: number }> {
    await this.ensureTemplates();
    const started = performance.now();
    const live = await this.generation();
    const existing = Object.keys(await this.es.indices.get({ index: `${this.alias}-v*`, allow_no_indices: true, ignore_unavailable: true, expand_wildcards: 'open' }));
    const gens = existing.map((i) => /-v(\d+)-\d{4}\.\d{2}$/.exec(i)?.[1]).filter((g): g is string => g !== undefined).map(Number);
    const gen = Math.max(live, ...gens) + 1;
    const target = this.target(gen);
    const previous = this.target(live);
    for (const i of await this.indicesOf(target)) await this.es.indices.delete({ index: i });
    await this.db.query(`DELETE FROM ${this.schema}.search_progress WHERE target = $1`, [target]);
    const totalRows = await this.db.query<{ total: string }>(`SELECT coalesce(sum(seq), 0)::text AS total FROM ${this.schema}.chain_heads`);
    const total = Number(totalRows[0]?.total ?? 0);
    let done = 0;
    let lastReport = 0;
    const report = (phase: ReindexProgress['phase'], force = false): void => {
      const now = performance.now();
      if (!onProgress || (!force && now - lastReport < 500)) return;
      lastReport = now;
      const elapsedMs = Math.round(now - started);
      onProgress({ projection: 'records', phase, done, total: Math.max(total, done), perSecond: elapsedMs > 0 ? Math.round((done * 1000) / elapsedMs) : 0, elapsedMs, target });
    };
    report('replay', true);
    for (;;) {
      const n = await this.db.transaction((tx) => this.step(tx, target, false));
      done += n;
      report('replay');
      if (n === 0) break;
    }
    report('final', true);
    await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`audit-index:${this.schema}:${PROJECTION}`]);
      for (;;) {
        const n = await this.step(tx, target, false);
        done += n;
        if (n === 0) break;
      }
      const fresh = await this.indicesOf(target);
      const old = await this.indicesOf(previous);
      if (fresh.length > 0) await this.es.indices.refresh({ index: fresh });
      const actions: estypes.IndicesUpdateAliasesAction[] = [...old.map((index) => ({ remove: { index, alias: this.alias } })), ...fresh.map((index) => ({ add: { index, alias: this.alias } }))];
      if (actions.length > 0) await this.es.indices.updateAliases({ actions });
      await tx.query(`UPDATE ${this.schema}.search_generations SET generation = $2, updated_at = now() WHERE projection = $1`, [PROJECTION, gen]);
    });
    for (const key of [...this.known]) if (key.startsWith(`${target}-`)) this.known.delete(key);
    for (const i of await this.indicesOf(previous)) await this.es.indices.delete({ index: i }).catch(() => undefined);
    await this.db.query(`DELETE FROM ${this.schema}.search_progress WHERE target = $1`, [previous]);
    const durationMs = Math.round(performance.now() - started);
    done = Math.max(done, 0);
    report('done', true);
    this.logger.info({ target, previous, records: done, durationMs }, 'audit index rebuilt; alias moved');
    return { target, previous, records: done, durationMs };
  }

  /** The record id the index holds for (chain, seq) — names a record that is gone from the ledger. */
  async recordIdAt(chain: string, seq: number): Promise<string | undefined> {
    const res = await this.es.search<AuditDocument>({
      index: this.alias,
      size: 1,
      query: { bool: { filter: [{ term: { 'keyledger.chain': chain } }, { term: { 'keyledger.seq': seq } }] } },
      _source: ['event.id'],
    });
    return res.hits.hits[0]?._source?.event.id;
  }
}

/** A ledger entry as the indexer reads it: the record as the ledger stores it (canonical JSON) and its position. */
export type LedgerEntryForIndex = LedgerPosition & { readonly recordId: string; readonly record: string };

/**
 * The two NDJSON lines of one ledger entry in a bulk request: the action, then the document —
 * the ECS fields serialised, and the record under `azure` spliced in as the ledger stores it
 * (canonical JSON of the very object parsed from it: the same bytes JSON.stringify would give,
 * without the work). `build`: the document builder (another build's, to compare templates).
 */
export function bulkIndexLines(index: string, e: LedgerEntryForIndex, build: (record: AuditRecord, at: LedgerPosition) => AuditDocument = toAuditDocument): [string, string] {
  const { azure: _azure, ...ecs } = build(JSON.parse(e.record) as AuditRecord, e);
  return [`{"index":{"_index":${JSON.stringify(index)},"_id":${JSON.stringify(e.recordId)}}}`, `${JSON.stringify(ecs).slice(0, -1)},"azure":${e.record}}`];
}

/** Per index, the primary term and the highest sequence number the bulk answers gave. */
function shardMarks(responses: readonly estypes.BulkResponse[]): Map<string, ShardMark> {
  const marks = new Map<string, ShardMark>();
  for (const response of responses) {
    for (const item of response.items) {
      const r = item.index;
      if (!r || r.status >= 300 || r._seq_no === undefined || r._seq_no === null || r._primary_term === undefined || r._primary_term === null) continue;
      const m = marks.get(r._index);
      marks.set(r._index, { term: Math.max(m?.term ?? 0, r._primary_term), seqNo: Math.max(m?.seqNo ?? -1, r._seq_no) });
    }
  }
  return marks;
}
