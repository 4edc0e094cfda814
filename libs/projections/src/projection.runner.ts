import type { Client as EsClient } from '@elastic/elasticsearch';
import type { Logger } from 'pino';
import { checkpointOf, START, type EventStore, type GlobalCheckpoint, type RecordedEvent } from '#libs/eventstore';
import { counter, createLogger } from '#libs/platform';
import { checkpointOrStart, loadCheckpoint, lockProjection, saveCheckpoint, type StoredCheckpoint } from './checkpoint.store.js';
import { bulkWrite, EsProjectionIndices } from './es-index.manager.js';
import { fromRecorded, handlesEvent, type EsProjection, type PgProjection, type Projection, type ProjectedEvent } from './projection.types.js';

export type ProjectionRunnerOptions = {
  /** Required for Elasticsearch projections. */
  readonly es?: EsClient;
  /** Events per batch (default 500). */
  readonly batchSize?: number;
  /** Wait between polls when caught up (default 200 ms). */
  readonly pollIntervalMs?: number;
  readonly maxBackoffMs?: number;
  /** Refresh policy of live Elasticsearch writes (default false: the index refresh interval). */
  readonly refresh?: boolean | 'wait_for';
  readonly logger?: Logger;
};

export type RebuildPhase = 'replay' | 'catch-up' | 'final' | 'done';

export type RebuildProgress = {
  readonly projection: string;
  readonly phase: RebuildPhase;
  /** Events read from the store so far. */
  readonly events: number;
  readonly eventsPerSecond: number;
  readonly elapsedMs: number;
  /** The index being built (Elasticsearch), null for PostgreSQL. */
  readonly index: string | null;
  readonly checkpoint: GlobalCheckpoint;
};

export type RebuildOptions = {
  readonly batchSize?: number;
  readonly onProgress?: (p: RebuildProgress) => void;
  /** Minimum time between two 'replay'/'catch-up' progress reports (default 1 s). */
  readonly progressIntervalMs?: number;
  /** Keep the previous index version after the alias moved (default false: delete it). */
  readonly keepOldIndex?: boolean;
  /** Concurrent bulk requests; only honoured for projections with independent documents (default 2 for those, else 1). */
  readonly concurrency?: number;
};

export type RebuildResult = {
  readonly projection: string;
  readonly previousIndex: string | null;
  readonly index: string | null;
  readonly deletedIndices: readonly string[];
  readonly events: number;
  readonly durationMs: number;
  readonly eventsPerSecond: number;
  readonly checkpoint: GlobalCheckpoint;
};

export class RebuildInProgressError extends Error {
  readonly code = 'RebuildInProgress';
  constructor(readonly projection: string) {
    super(`a rebuild of projection ${projection} is already running`);
    this.name = 'RebuildInProgressError';
  }
}

const projectedTotal = counter('keyledger_projection_events_total', 'Events fed to projections', ['projection']);
const projectionFailures = counter('keyledger_projection_failures_total', 'Failed projection batches (retried)', ['projection']);

/**
 * Feeds one projection from the event store in commit order (`EventStore.readAll`), with its
 * checkpoint in the schema's `checkpoints` table.
 *
 * - PostgreSQL projection: a batch is applied and the checkpoint saved in ONE transaction.
 * - Elasticsearch projection: the batch is bulk-indexed (deterministic `_id`s) into the index
 *   named by the checkpoint's `target`, and the checkpoint is saved only after every item
 *   succeeded; a failed item fails the batch, which is retried from the same checkpoint.
 *
 * Every batch runs under a per-projection transaction-scoped advisory lock, so several
 * instances never interleave and a rebuild can pause all of them for its final step.
 * `rebuild` builds a new index version side by side and moves the alias atomically.
 */
export class ProjectionRunner {
  readonly name: string;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly maxBackoffMs: number;
  private readonly logger: Logger;
  private readonly indices: EsProjectionIndices | undefined;
  private running = false;
  private loop: Promise<void> | undefined;
  private wake: (() => void) | undefined;

  constructor(
    readonly store: EventStore,
    readonly projection: Projection,
    private readonly options: ProjectionRunnerOptions = {},
  ) {
    this.name = projection.name;
    this.batchSize = options.batchSize ?? 500;
    this.pollIntervalMs = options.pollIntervalMs ?? 200;
    this.maxBackoffMs = options.maxBackoffMs ?? 5_000;
    this.logger = (options.logger ?? createLogger('projections')).child({ projection: projection.name });
    if (projection.kind === 'elasticsearch') {
      if (!options.es) throw new Error(`projection ${projection.name} needs an Elasticsearch client`);
      this.indices = new EsProjectionIndices(options.es, projection);
    }
  }

  private get schema(): string {
    return this.store.schema;
  }

  /** Creates the read model's tables (PostgreSQL) or the template, first index and alias (Elasticsearch). */
  async init(): Promise<void> {
    if (this.projection.kind === 'postgres') {
      await this.projection.init?.(this.store.db);
      return;
    }
    const indices = this.esIndices();
    await indices.putTemplate();
    if ((await this.checkpoint())?.target) await this.reconcileAlias();
    else await indices.ensure();
  }

  async checkpoint(): Promise<StoredCheckpoint | null> {
    return loadCheckpoint(this.store.db, this.schema, this.name);
  }

  /** One batch; returns how many events it read (0 when caught up). */
  async step(): Promise<number> {
    return this.projection.kind === 'postgres' ? this.stepPg(this.projection) : this.stepEs(this.projection);
  }

  /**
   * Runs batches until no visible event is left; returns how many were read.
   *
   * Commit-order reads only see transactions older than every transaction still in flight
   * anywhere in the PostgreSQL cluster, so "nothing left" can mean "held back a moment".
   * With `until` (e.g. the checkpoint of an append the caller just made), waits until the
   * projection has passed it: read-your-writes for a read model.
   */
  async catchUp(options: { readonly until?: GlobalCheckpoint; readonly timeoutMs?: number } = {}): Promise<number> {
    const deadline = Date.now() + (options.timeoutMs ?? 30_000);
    let total = 0;
    for (;;) {
      const n = await this.step();
      total += n;
      if (n > 0) continue;
      if (!options.until) return total;
      const at = (await this.checkpoint())?.checkpoint ?? START;
      if (compareCheckpoints(at, options.until) >= 0) return total;
      if (Date.now() > deadline) throw new Error(`projection ${this.name} did not reach ${options.until.transactionId}/${options.until.position} in time (at ${at.transactionId}/${at.position})`);
      await new Promise((r) => setTimeout(r, Math.min(this.pollIntervalMs, 50)));
    }
  }

  /** Keeps the projection up to date in the background, retrying failed batches with backoff. */
  async start(): Promise<void> {
    if (this.running) return;
    await this.init();
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    this.loop = undefined;
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (this.running) {
      try {
        const n = await this.step();
        failures = 0;
        if (n >= this.batchSize) continue;
        await this.idle(this.pollIntervalMs);
      } catch (err) {
        failures++;
        projectionFailures.inc({ projection: this.name });
        const delay = Math.min(this.maxBackoffMs, 100 * 2 ** Math.min(failures - 1, 16));
        this.logger.warn({ ...safeError(err), retryInMs: delay }, 'projection batch failed; retrying from the same checkpoint');
        await this.idle(delay);
      }
    }
  }

  private idle(ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wake === done) this.wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake = done;
    });
  }

  private async stepPg(p: PgProjection): Promise<number> {
    return this.store.db.transaction(async (tx) => {
      await lockProjection(tx, this.schema, this.name);
      const stored = await loadCheckpoint(tx, this.schema, this.name);
      const events = await this.store.readAll(checkpointOrStart(stored), this.batchSize);
      if (events.length === 0) return 0;
      const relevant = this.relevant(events);
      if (relevant.length > 0) await p.handle(relevant, tx);
      await saveCheckpoint(tx, this.schema, this.name, checkpointOf(events[events.length - 1]), null);
      projectedTotal.inc({ projection: this.name }, events.length);
      return events.length;
    });
  }

  private async stepEs(p: EsProjection): Promise<number> {
    const es = this.esClient();
    return this.store.db.transaction(async (tx) => {
      await lockProjection(tx, this.schema, this.name);
      const stored = await loadCheckpoint(tx, this.schema, this.name);
      const target = stored?.target ?? (await this.esIndices().ensure());
      const events = await this.store.readAll(checkpointOrStart(stored), this.batchSize);
      if (events.length === 0) {
        if (!stored) await saveCheckpoint(tx, this.schema, this.name, START, target);
        return 0;
      }
      const relevant = this.relevant(events);
      if (relevant.length > 0) await bulkWrite(es, target, p.toOperations(relevant), this.options.refresh ?? false);
      await saveCheckpoint(tx, this.schema, this.name, checkpointOf(events[events.length - 1]), target);
      projectedTotal.inc({ projection: this.name }, events.length);
      return events.length;
    });
  }

  /**
   * After a crash between saving the checkpoint of a rebuild and committing (the alias
   * moved, the checkpoint did not, or the other way round), the checkpoint's target is
   * the truth: it is the index that is complete and kept current.
   */
  async reconcileAlias(): Promise<void> {
    const indices = this.esIndices();
    const stored = await this.checkpoint();
    if (!stored?.target) return;
    const current = await indices.current();
    if (current === stored.target || !(await indices.exists(stored.target))) return;
    this.logger.warn({ alias: indices.alias, from: current, to: stored.target }, 'alias disagrees with the checkpoint; pointing it at the checkpoint target');
    await indices.pointAliasAt(stored.target);
  }

  /**
   * Rebuilds from the first event.
   *
   * Elasticsearch: creates `<alias>-v<N+1>` beside the live index, replays every event into
   * it (refresh off, bulk), catches up to the head, then — holding the projection lock, which
   * pauses the live runners — catches up the last events, refreshes, saves the live
   * checkpoint as (rebuild position, new index) and moves the alias with one
   * `updateAliases` call. The alias never points at a half-built index. The old version is
   * deleted unless `keepOldIndex`.
   *
   * PostgreSQL: reset and replay in one transaction; readers see the old read model until
   * it commits. That transaction holds a transaction id for the whole replay, which holds
   * back every commit-order reader of the cluster meanwhile: fine for small read models;
   * large ones want a side-by-side table instead.
   */
  async rebuild(options: RebuildOptions = {}): Promise<RebuildResult> {
    return this.withRebuildLock(() => (this.projection.kind === 'postgres' ? this.rebuildPg(this.projection, options) : this.rebuildEs(this.projection, options)));
  }

  private async rebuildEs(p: EsProjection, options: RebuildOptions): Promise<RebuildResult> {
    const indices = this.esIndices();
    const started = performance.now();
    const batchSize = options.batchSize ?? 2_000;
    const concurrency = p.independentDocuments ? Math.max(1, options.concurrency ?? 2) : 1;
    await indices.putTemplate();
    const stored = await this.checkpoint();
    const current = await indices.current();
    const previous = stored?.target ?? current;
    const versions = await indices.versions();
    const liveVersion = Math.max(previous ? (indices.versionOf(previous) ?? 0) : 0, current ? (indices.versionOf(current) ?? 0) : 0);
    // Leftovers of an interrupted rebuild (never aliased, newer than the live version).
    for (const v of versions) if (v > liveVersion) await indices.delete(indices.indexName(v));
    const version = liveVersion + 1;
    const index = await indices.create(version, { bulkLoad: true });
    this.logger.info({ index, previous, concurrency }, 'rebuild started');

    let events = 0;
    let phase: RebuildPhase = 'replay';
    let lastReport = 0;
    const report = (cp: GlobalCheckpoint, force = false): void => {
      if (!options.onProgress) return;
      const now = performance.now();
      if (!force && now - lastReport < (options.progressIntervalMs ?? 1_000)) return;
      lastReport = now;
      const elapsedMs = now - started;
      options.onProgress({ projection: this.name, phase, events, eventsPerSecond: elapsedMs > 0 ? Math.round((events * 1000) / elapsedMs) : 0, elapsedMs: Math.round(elapsedMs), index, checkpoint: cp });
    };
    const onBatch = (n: number, cp: GlobalCheckpoint, short: boolean): void => {
      events += n;
      report(cp);
      if (short && phase === 'replay') {
        phase = 'catch-up';
        report(cp, true);
      }
    };

    let cp = await this.replayInto(p, index, START, batchSize, concurrency, onBatch);
    phase = 'final';
    report(cp, true);
    let previousAliased: string[] = [];
    try {
      await this.store.db.transaction(async (tx) => {
        await lockProjection(tx, this.schema, this.name);
        cp = await this.replayInto(p, index, cp, batchSize, 1, onBatch);
        await indices.finishBulkLoad(index);
        await saveCheckpoint(tx, this.schema, this.name, cp, index);
        previousAliased = await indices.pointAliasAt(index);
        // The transaction commits next; should the commit fail, the alias goes back below.
      });
    } catch (err) {
      if (previousAliased.length === 1 && previousAliased[0] !== index) {
        await indices.pointAliasAt(previousAliased[0]).catch(() => undefined);
      }
      throw err;
    }
    const stale = [...new Set([...(previous ? [previous] : []), ...previousAliased])].filter((i) => i !== index);
    if (!options.keepOldIndex) for (const i of stale) await indices.delete(i);
    phase = 'done';
    report(cp, true);
    const durationMs = Math.round(performance.now() - started);
    this.logger.info({ index, previous, events, durationMs }, 'rebuild finished; alias moved');
    return {
      projection: this.name,
      previousIndex: previous,
      index,
      deletedIndices: options.keepOldIndex ? [] : stale,
      events,
      durationMs,
      eventsPerSecond: durationMs > 0 ? Math.round((events * 1000) / durationMs) : events,
      checkpoint: cp,
    };
  }

  /**
   * Replays events after `from` into `index` until a read finds nothing new. The next read
   * is prefetched while the current bulk runs; with concurrency > 1 several bulks fly at once
   * (only for independent documents).
   */
  private async replayInto(p: EsProjection, index: string, from: GlobalCheckpoint, batchSize: number, concurrency: number, onBatch: (n: number, cp: GlobalCheckpoint, short: boolean) => void): Promise<GlobalCheckpoint> {
    const es = this.esClient();
    let cp = from;
    const inflight = new Set<Promise<void>>();
    let failure: unknown;
    const prefetch = (after: GlobalCheckpoint): Promise<RecordedEvent[]> => {
      const next = this.store.readAll(after, batchSize);
      next.catch(() => undefined); // handled when awaited
      return next;
    };
    let next = prefetch(cp);
    for (;;) {
      const events = await next;
      if (events.length === 0) break;
      cp = checkpointOf(events[events.length - 1]);
      next = prefetch(cp);
      const relevant = this.relevant(events);
      const ops = relevant.length > 0 ? p.toOperations(relevant) : [];
      const write = withRetry(() => bulkWrite(es, index, ops), 5);
      if (concurrency <= 1) {
        await write;
      } else {
        const tracked = write.then(
          () => {
            inflight.delete(tracked);
          },
          (err: unknown) => {
            inflight.delete(tracked);
            failure ??= err;
          },
        );
        inflight.add(tracked);
        if (inflight.size >= concurrency) await Promise.race(inflight);
        if (failure !== undefined) break;
      }
      onBatch(events.length, cp, events.length < batchSize);
    }
    await Promise.all(inflight);
    if (failure !== undefined) throw failure instanceof Error ? failure : new Error(String(failure));
    return cp;
  }

  private async rebuildPg(p: PgProjection, options: RebuildOptions): Promise<RebuildResult> {
    if (!p.reset) throw new Error(`projection ${p.name} cannot be rebuilt: it has no reset()`);
    const reset = p.reset.bind(p);
    const started = performance.now();
    const batchSize = options.batchSize ?? 1_000;
    let events = 0;
    let lastReport = 0;
    const cp = await this.store.db.transaction(async (tx) => {
      await lockProjection(tx, this.schema, this.name);
      await reset(tx);
      let at: GlobalCheckpoint = START;
      for (;;) {
        const batch = await this.store.readAll(at, batchSize);
        if (batch.length === 0) break;
        const relevant = this.relevant(batch);
        if (relevant.length > 0) await p.handle(relevant, tx);
        at = checkpointOf(batch[batch.length - 1]);
        events += batch.length;
        const now = performance.now();
        if (options.onProgress && now - lastReport >= (options.progressIntervalMs ?? 1_000)) {
          lastReport = now;
          options.onProgress({ projection: this.name, phase: 'replay', events, eventsPerSecond: Math.round((events * 1000) / Math.max(1, now - started)), elapsedMs: Math.round(now - started), index: null, checkpoint: at });
        }
      }
      await saveCheckpoint(tx, this.schema, this.name, at, null);
      return at;
    });
    const durationMs = Math.round(performance.now() - started);
    const result: RebuildResult = { projection: this.name, previousIndex: null, index: null, deletedIndices: [], events, durationMs, eventsPerSecond: durationMs > 0 ? Math.round((events * 1000) / durationMs) : events, checkpoint: cp };
    options.onProgress?.({ projection: this.name, phase: 'done', events, eventsPerSecond: result.eventsPerSecond, elapsedMs: durationMs, index: null, checkpoint: cp });
    return result;
  }

  /** One rebuild per projection at a time, across processes (session advisory lock on a dedicated connection). */
  private async withRebuildLock<T>(fn: () => Promise<T>): Promise<T> {
    const { client, release } = await this.store.db.checkout();
    const key = `projection-rebuild:${this.schema}:${this.name}`;
    try {
      const rows = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock(hashtext($1)) AS locked', [key]);
      if (!rows.rows[0]?.locked) throw new RebuildInProgressError(this.name);
      try {
        return await fn();
      } finally {
        await client.query('SELECT pg_advisory_unlock(hashtext($1))', [key]);
      }
    } finally {
      release();
    }
  }

  private relevant(events: readonly RecordedEvent[]): ProjectedEvent[] {
    const out: ProjectedEvent[] = [];
    for (const e of events) if (handlesEvent(this.projection, e.type)) out.push(fromRecorded(e));
    return out;
  }

  private esIndices(): EsProjectionIndices {
    if (!this.indices) throw new Error(`projection ${this.name} is not an Elasticsearch projection`);
    return this.indices;
  }

  private esClient(): EsClient {
    if (!this.options.es) throw new Error(`projection ${this.name} needs an Elasticsearch client`);
    return this.options.es;
  }
}

async function withRetry<T>(fn: () => Promise<T>, attempts: number): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (err) {
      if (i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, 100 * 2 ** (i - 1)));
    }
  }
}

/** Orders two positions in commit order: negative when a is before b. */
export function compareCheckpoints(a: GlobalCheckpoint, b: GlobalCheckpoint): number {
  const [at, bt, ap, bp] = [BigInt(a.transactionId), BigInt(b.transactionId), BigInt(a.position), BigInt(b.position)];
  if (at !== bt) return at < bt ? -1 : 1;
  return ap === bp ? 0 : ap < bp ? -1 : 1;
}

/** Error class, code and (for our own typed errors, which never carry values) the message. */
export function safeError(err: unknown): { errorClass: string; code?: string; error?: string } {
  if (!(err instanceof Error)) return { errorClass: typeof err };
  const code = (err as { code?: unknown }).code;
  const own = ['EsBulkError', 'UpcastError', 'UnknownEventTypeError', 'EventValidationError', 'RebuildInProgressError'].includes(err.name);
  return { errorClass: err.constructor.name, ...(typeof code === 'string' ? { code } : {}), ...(own ? { error: err.message } : {}) };
}
