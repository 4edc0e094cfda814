import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { currentContext, preparedName, type Database, type Row, type Sql } from '#libs/platform';
import { envelopeHeaders, serviceEventsTopic, TOPICS, type AuditRecord, type Envelope, type ObjectIdentity } from '#libs/contracts';
import { spineDdl } from './schema.sql.js';
import type { Event, EventRegistry } from '#libs/kernel';

export type EventMetadata = {
  readonly eventId: string;
  readonly correlationId: string;
  readonly causationId: string | null;
  /** Principal object id, or a service name for system actions. */
  readonly actor: string;
  readonly tenant: string;
  readonly time: string;
  readonly traceparent?: string | null;
};

export type RecordedEvent<E extends Event = Event> = E & {
  readonly streamId: string;
  readonly streamVersion: number;
  readonly schemaVersion: number;
  /** Global insert position (bigint as string). */
  readonly position: string;
  /** Writing transaction id (xid8 as string). */
  readonly transactionId: string;
  readonly metadata: EventMetadata;
};

export type EventStoreOptions = {
  /** Group commit of appends with an exact expected version (default true). */
  readonly groupCommit?: boolean;
  /** Most appends in one transaction (default 64). */
  readonly maxBatch?: number;
  /** Group-commit transactions in flight at once (default 2). */
  readonly maxInFlight?: number;
};

type PendingAppend = {
  readonly correlationId: string;
  readonly streamId: string;
  /** The version the stream must be at (0: it must not exist). */
  readonly current: number;
  readonly expected: number | 'no_stream';
  readonly events: readonly Event[];
  readonly defs: readonly { readonly schemaVersion: number }[];
  readonly options: AppendOptions<Event>;
  readonly resolve: (r: AppendResult<Event>) => void;
  readonly reject: (e: unknown) => void;
};

type BatchOutcome = { readonly result: AppendResult<Event> } | { readonly conflict: ConcurrencyError };

/** What an append writes, before its statement runs (positions to come). */
type AppendDraft = {
  readonly recorded: readonly RecordedEvent[];
  readonly messages: readonly OutboxMessage[];
  readonly work: InStatementWork | undefined;
};

/** COMMIT was sent but its outcome is unknown (the connection failed): nothing may be retried blindly. */
class BatchCommitError extends Error {
  readonly afterCommitSent = true;
  constructor(readonly inner: unknown) {
    super(inner instanceof Error ? inner.message : String(inner));
  }
}

function settle(job: PendingAppend, outcome: BatchOutcome): void {
  if ('result' in outcome) job.resolve(outcome.result);
  else job.reject(outcome.conflict);
}

/** `no_stream`: the stream must not exist yet; `any`: no check; a number: the exact current version. */
export type ExpectedVersion = number | 'no_stream' | 'any';

/** A position in commit order: (transaction id, position). */
export type GlobalCheckpoint = { readonly transactionId: string; readonly position: string };
export const START: GlobalCheckpoint = { transactionId: '0', position: '0' };

export type OutboxMessage = {
  readonly topic: string;
  readonly key: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly payload: object;
};

export type AppendOptions<E extends Event> = {
  /** Who, for whom, why: the rest of the metadata (ids, time) is filled in. */
  readonly metadata: { readonly actor: string; readonly tenant: string; readonly correlationId?: string; readonly causationId?: string | null; readonly time?: string };
  /** Publish the appended events to the service's events topic (default true). */
  readonly outbox?: boolean;
  /** More messages to publish in the same transaction. */
  readonly messages?: readonly OutboxMessage[];
  /** Audit records committed in the same transaction (published to the audit topic). */
  readonly audit?: readonly AuditRecord[];
  /** The vault object the events are about, for the publish mappings of contracts that name it (vault, collection, name). */
  readonly object?: ObjectIdentity;
  /** Runs inside the transaction after the events are written (read models kept in step). */
  readonly inTransaction?: (tx: Sql, recorded: readonly RecordedEvent<E>[]) => Promise<void>;
  /**
   * Read-model work carried by the append's own statement (one round trip less than
   * `inTransaction`, which still runs after it when given). Undefined from it: nothing to add.
   */
  readonly inStatement?: (recorded: readonly RecordedEvent<E>[]) => InStatementWork | undefined;
};

/**
 * SQL run by the append's statement, only when the append writes: common table expressions
 * that select FROM `s` (one row when the append writes, none otherwise), and an expression
 * the statement selects so that a CTE without side effects of its own (a notification) runs.
 */
export type InStatementWork = {
  /** Identifies the SQL (the store keeps one prepared statement per key): one key, one SQL. */
  readonly key: string;
  /** The CTEs (`name AS (...)`, comma-separated) and the expression, given the number of their first parameter. */
  readonly sql: (firstParameter: number) => { readonly ctes: string; readonly select: string };
  readonly values: readonly unknown[];
};

export type AppendResult<E extends Event> = { readonly nextExpectedVersion: number; readonly events: readonly RecordedEvent<E>[] };

export class ConcurrencyError extends Error {
  readonly code = 'ConcurrencyConflict';
  constructor(
    readonly streamId: string,
    readonly expected: ExpectedVersion,
    readonly actual: number | null,
  ) {
    super(`stream ${streamId}: expected version ${String(expected)}, found ${actual ?? 'no stream'}`);
    this.name = 'ConcurrencyError';
  }
}

/**
 * The transaction's id is older than the one that wrote the stream's previous version, so
 * commit-order readers would see this version before the previous one. Nothing was written;
 * retry the whole transaction (appendToStream does so itself).
 */
export class CommitOrderConflictError extends ConcurrencyError {
  constructor(streamId: string, expected: ExpectedVersion, actual: number) {
    super(streamId, expected, actual);
    this.message = `stream ${streamId}: the transaction started writing before the writer of version ${actual} and must be retried`;
    this.name = 'CommitOrderConflictError';
  }
}

type EventRow = Row & {
  position: string;
  transaction_id: string;
  stream_id: string;
  stream_version: string;
  event_id: string;
  type: string;
  schema_version: number;
  data: Record<string, unknown>;
  metadata: EventMetadata;
};

/**
 * PostgreSQL event store for one service schema.
 *
 * Appends check the expected stream version under the stream row's lock and write the
 * events, their outbox rows and any audit records in one transaction. Readers follow
 * commit order: they only see rows whose writing transaction is older than every
 * transaction still in flight (`pg_snapshot_xmin`), ordered by (transaction id,
 * position), so a slow writer can never make a reader skip an event.
 */
export class EventStore {
  private queue: PendingAppend[] = [];
  private inFlight = 0;
  private readonly groupCommit: boolean;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;

  constructor(
    readonly db: Database,
    readonly registry: EventRegistry,
    readonly source: string,
    readonly eventsTopic: string = serviceEventsTopic(source),
    options: EventStoreOptions = {},
  ) {
    this.groupCommit = options.groupCommit ?? true;
    this.maxBatch = Math.max(1, options.maxBatch ?? 64);
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 2);
  }

  get schema(): string {
    return this.db.schema;
  }

  async init(): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`spine:${this.schema}`]);
      await tx.query(spineDdl(this.schema));
    });
  }

  /**
   * Appends `events` to `streamId` if its version is `expected`, with their outbox rows, the
   * audit records and the read-model updates of `options`, in one transaction.
   *
   * Group commit: appends with an exact expected version that arrive while others are being
   * committed go together into the next transaction (at most `maxBatch`, `maxInFlight`
   * transactions at once), each one ONE prepared statement (version check under the stream
   * row's lock, commit-order check, events, outbox rows) plus its `inTransaction` work: one
   * WAL flush for the lot. Each append still decides on its own stream version: a version
   * conflict writes nothing and fails that append only (ConcurrencyError), and should the
   * transaction fail for any other reason before COMMIT (an `inTransaction` error, a
   * deadlock), every append of the batch is committed again on its own, so one append's
   * failure stays its own. Resolves once the transaction has committed.
   */
  async appendToStream<E extends Event>(streamId: string, expected: ExpectedVersion, events: readonly E[], options: AppendOptions<E>): Promise<AppendResult<E>> {
    for (let attempt = 1; ; attempt++) {
      try {
        if (this.groupCommit && expected !== 'any' && events.length > 0 && streamId.length > 0) return await this.enqueue(streamId, expected, events, options);
        return await this.db.transaction((tx) => this.appendInTransaction(tx, streamId, expected, events, options));
      } catch (err) {
        // Nothing was committed; a fresh transaction gets a fresh (larger) transaction id.
        if (err instanceof CommitOrderConflictError && attempt < 5) continue;
        throw err;
      }
    }
  }

  /** The same as appendToStream, inside a transaction the caller owns. */
  async appendInTransaction<E extends Event>(tx: Sql, streamId: string, expected: ExpectedVersion, events: readonly E[], options: AppendOptions<E>): Promise<AppendResult<E>> {
    if (streamId.length === 0) throw new Error('stream id must not be empty');
    // Validate everything before touching the database: a bad event writes nothing.
    const defs = events.map((e) => this.registry.check(e.type, e.data));
    const current = await this.lockStream(tx, streamId, expected, events.length);
    const ctx = currentContext();
    const base = options.metadata;
    const time = base.time ?? new Date().toISOString();
    const correlationId = base.correlationId ?? ctx?.correlationId ?? randomUUID();
    const recorded: RecordedEvent<E>[] = [];
    if (events.length > 0) {
      const ids: string[] = [];
      const versions: number[] = [];
      const types: string[] = [];
      const schemaVersions: number[] = [];
      const datas: string[] = [];
      const metas: string[] = [];
      const metadataList: EventMetadata[] = [];
      events.forEach((e, i) => {
        const metadata: EventMetadata = {
          eventId: randomUUID(),
          correlationId,
          causationId: base.causationId ?? null,
          actor: base.actor,
          tenant: base.tenant,
          time,
        };
        metadataList.push(metadata);
        ids.push(metadata.eventId);
        versions.push(current + i + 1);
        types.push(e.type);
        schemaVersions.push(defs[i].schemaVersion);
        datas.push(JSON.stringify(e.data));
        metas.push(JSON.stringify(metadata));
      });
      const rows = await tx.query<{ position: string; transaction_id: string }>(
        `INSERT INTO ${this.schema}.events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
         SELECT $1, v, id, t, sv, d::jsonb, m::jsonb
           FROM unnest($2::bigint[], $3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[]) AS u(v, id, t, sv, d, m)
          WHERE NOT EXISTS (
            SELECT 1 FROM ${this.schema}.events p
             WHERE p.stream_id = $1 AND p.stream_version = $8 AND p.transaction_id > pg_current_xact_id())
         RETURNING position::text, transaction_id::text`,
        [streamId, versions, ids, types, schemaVersions, datas, metas, current],
      );
      // Readers order by transaction id. A transaction whose id was assigned before the
      // previous version's writer took the stream (earlier writes in the same transaction, a
      // lost stream-creation race) would sort before that version: refuse, so it is retried.
      if (rows.length === 0) throw new CommitOrderConflictError(streamId, expected, current);
      events.forEach((e, i) => {
        recorded.push({
          ...e,
          streamId,
          streamVersion: versions[i],
          schemaVersion: schemaVersions[i],
          position: rows[i].position,
          transactionId: rows[i].transaction_id,
          metadata: metadataList[i],
        });
      });
    }
    const messages: OutboxMessage[] = [];
    if (options.outbox !== false) messages.push(...recorded.map((r) => this.toMessage(r, options.object)));
    if (options.messages) messages.push(...options.messages);
    if (options.audit) messages.push(...options.audit.map((a) => auditMessage(a, this.source)));
    await insertOutbox(tx, this.schema, messages);
    const work = options.inStatement?.(recorded);
    if (work) {
      const { ctes, select } = work.sql(1);
      await tx.query(`WITH s AS (SELECT 1), ${ctes} SELECT ${select} AS done`, work.values);
    }
    if (options.inTransaction) await options.inTransaction(tx, recorded);
    return { nextExpectedVersion: current + events.length, events: recorded };
  }

  /**
   * Several appends at version `any`, published nowhere (no outbox rows, no audit records, no
   * read-model work), inside a transaction the caller owns: TWO statements whatever their
   * number — one upsert of the streams' rows (taking their locks in stream-id order, each
   * version advanced by its appends' events), one insert of every event — where
   * `appendInTransaction` takes three per append. The effect is that of appending each in turn
   * with `appendInTransaction(tx, streamId, 'any', events, { metadata, outbox: false })`: a
   * stream named twice gets consecutive versions in the given order. Every event is validated
   * before anything is written; the commit-order check is the same (CommitOrderConflictError
   * when a stream's previous version was written by a later transaction). For consumers that
   * record what they observe (the audit service's lifecycle events), a group at a time.
   */
  async appendEachAnyInTransaction<E extends Event>(
    tx: Sql,
    appends: readonly { readonly streamId: string; readonly events: readonly E[]; readonly metadata: AppendOptions<E>['metadata'] }[],
  ): Promise<readonly AppendResult<E>[]> {
    const defs = appends.map((a) => {
      if (a.streamId.length === 0) throw new Error('stream id must not be empty');
      if (a.events.length === 0) throw new Error('an append needs at least one event');
      return a.events.map((e) => this.registry.check(e.type, e.data));
    });
    if (appends.length === 0) return [];
    const counts = new Map<string, number>();
    for (const a of appends) counts.set(a.streamId, (counts.get(a.streamId) ?? 0) + a.events.length);
    const ids = [...counts.keys()].sort();
    const heads = await tx.query<{ stream_id: string; version: string }>(
      `INSERT INTO ${this.schema}.streams AS st (stream_id, version, last_xid)
       SELECT id, n, pg_current_xact_id() FROM unnest($1::text[], $2::bigint[]) WITH ORDINALITY AS u(id, n, o) ORDER BY o
       ON CONFLICT (stream_id) DO UPDATE SET version = st.version + EXCLUDED.version, updated_at = now(), last_xid = pg_current_xact_id()
       RETURNING stream_id, version::text`,
      [ids, ids.map((id) => counts.get(id))],
    );
    // The version each stream had before this call: its new version less what this call adds.
    const next = new Map<string, number>();
    for (const h of heads) next.set(h.stream_id, Number(h.version) - (counts.get(h.stream_id) ?? 0));
    const ctx = currentContext();
    const columns = { streams: [] as string[], versions: [] as number[], ids: [] as string[], types: [] as string[], schemaVersions: [] as number[], datas: [] as string[], metas: [] as string[] };
    const drafts = appends.map((a, k) => {
      const time = a.metadata.time ?? new Date().toISOString();
      const correlationId = a.metadata.correlationId ?? ctx?.correlationId ?? randomUUID();
      const before = next.get(a.streamId) ?? 0;
      next.set(a.streamId, before + a.events.length);
      return a.events.map((e, i) => {
        const metadata: EventMetadata = { eventId: randomUUID(), correlationId, causationId: a.metadata.causationId ?? null, actor: a.metadata.actor, tenant: a.metadata.tenant, time };
        const schemaVersion = defs[k][i].schemaVersion;
        columns.streams.push(a.streamId);
        columns.versions.push(before + i + 1);
        columns.ids.push(metadata.eventId);
        columns.types.push(e.type);
        columns.schemaVersions.push(schemaVersion);
        columns.datas.push(JSON.stringify(e.data));
        columns.metas.push(JSON.stringify(metadata));
        return { event: e, streamVersion: before + i + 1, schemaVersion, metadata };
      });
    });
    const rows = await tx.query<{ event_id: string; position: string; transaction_id: string }>(
      `INSERT INTO ${this.schema}.events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
       SELECT sid, v, id, t, sv, d::jsonb, m::jsonb
         FROM unnest($1::text[], $2::bigint[], $3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[]) WITH ORDINALITY AS u(sid, v, id, t, sv, d, m, o)
        WHERE NOT EXISTS (
          SELECT 1 FROM ${this.schema}.events p
           WHERE p.stream_id = u.sid AND p.stream_version = u.v - 1 AND p.transaction_id > pg_current_xact_id())
        -- Positions in the given order (an anti-join may emit rows in any order): a stream's
        -- versions must ascend with their positions, which readers follow.
        ORDER BY u.o
       RETURNING event_id::text, position::text, transaction_id::text`,
      [columns.streams, columns.versions, columns.ids, columns.types, columns.schemaVersions, columns.datas, columns.metas],
    );
    if (rows.length !== columns.ids.length) {
      // Some stream's previous version was written by a transaction that sorts after this one
      // (see appendInTransaction): the caller's transaction must be rolled back and retried.
      const written = new Set(rows.map((r) => r.event_id));
      const k = columns.ids.findIndex((id) => !written.has(id));
      throw new CommitOrderConflictError(columns.streams[k], 'any', columns.versions[k] - 1);
    }
    const at = new Map(rows.map((r) => [r.event_id, r]));
    return drafts.map((list, k) => {
      const streamId = appends[k].streamId;
      const events = list.map((d): RecordedEvent<E> => {
        const row = at.get(d.metadata.eventId) as { position: string; transaction_id: string };
        return { ...d.event, streamId, streamVersion: d.streamVersion, schemaVersion: d.schemaVersion, position: row.position, transactionId: row.transaction_id, metadata: d.metadata };
      });
      return { nextExpectedVersion: events[events.length - 1].streamVersion, events };
    });
  }

  private enqueue<E extends Event>(streamId: string, expected: number | 'no_stream', events: readonly E[], options: AppendOptions<E>): Promise<AppendResult<E>> {
    // Validate everything before queueing: a bad event writes nothing and delays no one.
    let defs: { schemaVersion: number }[];
    try {
      defs = events.map((e) => this.registry.check(e.type, e.data));
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<AppendResult<E>>((resolve, reject) => {
      this.queue.push({
        // The caller's context, not the flusher's (which runs in whichever request started it).
        correlationId: options.metadata.correlationId ?? currentContext()?.correlationId ?? randomUUID(),
        streamId,
        current: expected === 'no_stream' ? 0 : expected,
        expected,
        events,
        defs,
        options: options as AppendOptions<Event>,
        resolve: resolve as (r: AppendResult<Event>) => void,
        reject,
      });
      if (this.inFlight < this.maxInFlight) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.inFlight++;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.length <= this.maxBatch ? this.queue : this.queue.slice(0, this.maxBatch);
        this.queue = batch === this.queue ? [] : this.queue.slice(this.maxBatch);
        await this.commitBatch(batch);
      }
    } finally {
      this.inFlight--;
    }
  }

  /** One transaction for a batch of appends; each append's outcome is its own. */
  private async commitBatch(batch: readonly PendingAppend[]): Promise<void> {
    // Streams locked in one order by every batch: two batches do not deadlock on each other.
    const jobs = batch.length === 1 ? batch : [...batch].sort((a, b) => (a.streamId < b.streamId ? -1 : a.streamId > b.streamId ? 1 : 0));
    let outcomes: BatchOutcome[];
    try {
      outcomes = await this.inOneTransaction(jobs);
    } catch (err) {
      if (jobs.length === 1 || (err as { afterCommitSent?: boolean }).afterCommitSent) {
        // Alone, or the outcome of COMMIT is unknown: the callers learn it as it is.
        for (const j of jobs) j.reject(err instanceof BatchCommitError ? err.inner : err);
        return;
      }
      // Nothing was written: each append alone, so that one append's failure is not its batch-mates'.
      for (const j of jobs) {
        try {
          for (const o of await this.inOneTransaction([j])) settle(j, o);
        } catch (e) {
          j.reject(e instanceof BatchCommitError ? e.inner : e);
        }
      }
      return;
    }
    outcomes.forEach((o, i) => settle(jobs[i] as PendingAppend, o));
  }

  private async inOneTransaction(jobs: readonly PendingAppend[]): Promise<BatchOutcome[]> {
    const { client, release } = await this.db.checkout();
    let broken = false;
    let commitSent = false;
    const count = (): void => this.db.counted();
    const tx: Sql = {
      query: async <R extends Row = Row>(text: string, params: readonly unknown[] = [], prepare?: string) => {
        count();
        return (await client.query<R>(prepare === undefined ? { text, values: params as unknown[] } : { name: prepare, text, values: params as unknown[] })).rows;
      },
    };
    const drafts = jobs.map((j) => this.draft(j));
    // Appends without read-model work in their statement, one per stream, share ONE statement
    // (each still decides on its own stream version); the others follow one statement each.
    const seen = new Set<string>();
    const shared: number[] = [];
    const alone: number[] = [];
    drafts.forEach((d, i) => {
      const job = jobs[i] as PendingAppend;
      if (d.work === undefined && !seen.has(job.streamId)) {
        seen.add(job.streamId);
        shared.push(i);
      } else alone.push(i);
    });
    const together = shared.length >= 2;
    // One statement and no work of its own in the transaction (one append, or appends sharing one
    // statement): that statement is a transaction by itself (autocommit; atomic, durable when it
    // returns, its notifications sent at its commit), two round trips less than BEGIN … COMMIT.
    const only = jobs.length === 1 ? (jobs[0] as PendingAppend) : undefined;
    const single = only ? !only.options.inTransaction : together && alone.length === 0 && jobs.every((j) => !j.options.inTransaction);
    if (single) {
      try {
        if (only) return [await this.appendOne(client, tx, only, drafts[0] as AppendDraft)];
        return await this.appendMany(client, tx, jobs, drafts, shared);
      } catch (err) {
        // PostgreSQL's own refusal leaves the connection usable and, for an autocommit statement,
        // nothing written (the caller may retry the appends one by one); anything else may not have.
        broken = (err as { severity?: unknown }).severity === undefined;
        if (!broken && jobs.length > 1) throw err;
        throw new BatchCommitError(err);
      } finally {
        release(broken);
      }
    }
    try {
      count();
      await client.query('BEGIN');
      const outcomes: BatchOutcome[] = new Array<BatchOutcome>(jobs.length);
      if (together) {
        const many = await this.appendMany(client, tx, jobs, drafts, shared);
        for (const i of shared) outcomes[i] = many[i] as BatchOutcome;
      }
      for (const i of together ? alone : drafts.map((_, k) => k)) outcomes[i] = await this.appendOne(client, tx, jobs[i] as PendingAppend, drafts[i] as AppendDraft);
      count();
      commitSent = true;
      await client.query('COMMIT');
      return outcomes;
    } catch (err) {
      try {
        await client.query('ROLLBACK');
      } catch {
        broken = true;
      }
      throw commitSent ? new BatchCommitError(err) : err;
    } finally {
      release(broken);
    }
  }

  /** What an append writes: its events (positions to come), outbox rows and read-model work. */
  private draft(job: PendingAppend): AppendDraft {
    const { streamId, events, options } = job;
    const current = job.current;
    const base = options.metadata;
    const time = base.time ?? new Date().toISOString();
    const correlationId = job.correlationId;
    const recorded = events.map((e, i) => {
      const def = job.defs[i] as { readonly schemaVersion: number };
      const metadata: EventMetadata = { eventId: randomUUID(), correlationId, causationId: base.causationId ?? null, actor: base.actor, tenant: base.tenant, time };
      return { ...e, streamId, streamVersion: current + i + 1, schemaVersion: def.schemaVersion, position: '', transactionId: '', metadata } as RecordedEvent;
    });
    const messages: OutboxMessage[] = [];
    if (options.outbox !== false) for (const r of recorded) messages.push(this.toMessage(r, options.object));
    if (options.messages) messages.push(...options.messages);
    if (options.audit) for (const a of options.audit) messages.push(auditMessage(a, this.source));
    return { recorded, messages, work: options.inStatement?.(recorded as RecordedEvent<never>[]) };
  }

  /** The outcome of an append its statement did not write: a version conflict, or one in commit order (retried). */
  private notWritten(job: PendingAppend, actual: string | null): BatchOutcome {
    const actualVersion = actual === null ? null : Number(actual);
    // Seen at the expected version, yet not written: the stream's last writer sorts after this
    // transaction in commit order, or committed after this statement's snapshot. Retried.
    if ((actualVersion ?? 0) === job.current) return { conflict: new CommitOrderConflictError(job.streamId, job.expected, job.current) };
    return { conflict: new ConcurrencyError(job.streamId, job.expected, actualVersion) };
  }

  /** One append inside a batch transaction: one prepared statement, then its read-model work. */
  private async appendOne(client: pg.PoolClient, tx: Sql, job: PendingAppend, draft: AppendDraft): Promise<BatchOutcome> {
    const { streamId, events, options } = job;
    const { recorded, messages, work } = draft;
    const current = job.current;
    const statement = this.statement(current === 0 ? 'create' : 'next', work);
    this.db.counted();
    const res = await client.query<{ version: string | null; position: string | null; transaction_id: string | null; actual: string | null }>({
      name: statement.name,
      text: statement.text,
      values: [
        streamId,
        current + events.length,
        current,
        recorded.map((r) => r.streamVersion),
        recorded.map((r) => r.metadata.eventId),
        recorded.map((r) => r.type),
        recorded.map((r) => r.schemaVersion),
        recorded.map((r) => JSON.stringify(r.data)),
        recorded.map((r) => JSON.stringify(r.metadata)),
        messages.map((m) => m.topic),
        messages.map((m) => m.key),
        messages.map((m) => JSON.stringify(m.headers)),
        messages.map((m) => JSON.stringify(m.payload)),
        `${this.schema}_outbox`,
        ...(work ? work.values : []),
      ],
    });
    const written = res.rows.filter((r) => r.version !== null);
    if (written.length === 0) return this.notWritten(job, res.rows[0]?.actual ?? null);
    const byVersion = new Map(written.map((r) => [Number(r.version), r]));
    const events2 = recorded.map((r) => {
      const row = byVersion.get(r.streamVersion);
      return { ...r, position: row?.position ?? '', transactionId: row?.transaction_id ?? '' };
    });
    if (options.inTransaction) await options.inTransaction(tx, events2 as RecordedEvent<never>[]);
    return { result: { nextExpectedVersion: current + events.length, events: events2 } };
  }

  /**
   * Several appends to distinct streams, none with read-model work in its statement, in ONE
   * prepared statement: each is written only if its own stream is at its expected version (and
   * its last writer sorts before this transaction in commit order), exactly as `appendOne`
   * decides it; then the `inTransaction` work of those written. Outcomes by index into `jobs`.
   */
  private async appendMany(client: pg.PoolClient, tx: Sql, jobs: readonly PendingAppend[], drafts: readonly AppendDraft[], which: readonly number[]): Promise<BatchOutcome[]> {
    const streamIds: string[] = [];
    const nexts: number[] = [];
    const currents: number[] = [];
    const eAppend: number[] = [];
    const eVersion: number[] = [];
    const eId: string[] = [];
    const eType: string[] = [];
    const eSchema: number[] = [];
    const eData: string[] = [];
    const eMeta: string[] = [];
    const mAppend: number[] = [];
    const mTopic: string[] = [];
    const mKey: string[] = [];
    const mHeaders: string[] = [];
    const mPayload: string[] = [];
    which.forEach((i, k) => {
      const job = jobs[i] as PendingAppend;
      const { recorded, messages } = drafts[i] as AppendDraft;
      streamIds.push(job.streamId);
      nexts.push(job.current + job.events.length);
      currents.push(job.current);
      for (const r of recorded) {
        eAppend.push(k + 1);
        eVersion.push(r.streamVersion);
        eId.push(r.metadata.eventId);
        eType.push(r.type);
        eSchema.push(r.schemaVersion);
        eData.push(JSON.stringify(r.data));
        eMeta.push(JSON.stringify(r.metadata));
      }
      for (const m of messages) {
        mAppend.push(k + 1);
        mTopic.push(m.topic);
        mKey.push(m.key);
        mHeaders.push(JSON.stringify(m.headers));
        mPayload.push(JSON.stringify(m.payload));
      }
    });
    const statement = this.manyStatement();
    this.db.counted();
    const res = await client.query<{ stream_id: string; version: string | null; position: string | null; transaction_id: string | null; actual: string | null }>({
      name: statement.name,
      text: statement.text,
      values: [streamIds, nexts, currents, eAppend, eVersion, eId, eType, eSchema, eData, eMeta, mAppend, mTopic, mKey, mHeaders, mPayload, `${this.schema}_outbox`],
    });
    const rowsByStream = new Map<string, (typeof res.rows)[number][]>();
    for (const r of res.rows) {
      const list = rowsByStream.get(r.stream_id);
      if (list) list.push(r);
      else rowsByStream.set(r.stream_id, [r]);
    }
    const outcomes: BatchOutcome[] = new Array<BatchOutcome>(jobs.length);
    for (const i of which) {
      const job = jobs[i] as PendingAppend;
      const rows = rowsByStream.get(job.streamId) ?? [];
      const written = rows.filter((r) => r.version !== null);
      if (written.length === 0) {
        outcomes[i] = this.notWritten(job, rows[0]?.actual ?? null);
        continue;
      }
      const byVersion = new Map(written.map((r) => [Number(r.version), r]));
      const events = (drafts[i] as AppendDraft).recorded.map((r) => {
        const row = byVersion.get(r.streamVersion);
        return { ...r, position: row?.position ?? '', transactionId: row?.transaction_id ?? '' };
      });
      if (job.options.inTransaction) await job.options.inTransaction(tx, events as RecordedEvent<never>[]);
      outcomes[i] = { result: { nextExpectedVersion: job.current + job.events.length, events } };
    }
    return outcomes;
  }

  private manyPrepared: { readonly name: string; readonly text: string } | undefined;

  /** The statement of `appendMany`: the streams' checks and versions, then events and outbox rows of the appends written. */
  private manyStatement(): { readonly name: string; readonly text: string } {
    if (this.manyPrepared) return this.manyPrepared;
    const S = this.schema;
    // a: the appends (stream, next version, expected version; 0: create), in the batch's order.
    // c, n: the streams created or moved on (each only if at its expected version, and for an
    // existing stream only if its last writer sorts before this transaction in commit order).
    // w: the appends written; e, o: their events and outbox rows, in the appends' order.
    const text = `WITH a AS (
        SELECT u.stream_id, u.next, u.cur, u.idx
          FROM unnest($1::text[], $2::bigint[], $3::bigint[]) WITH ORDINALITY AS u(stream_id, next, cur, idx)),
      c AS (
        INSERT INTO ${S}.streams (stream_id, version, last_xid)
        SELECT a.stream_id, a.next, pg_current_xact_id() FROM a WHERE a.cur = 0 ORDER BY a.idx
        ON CONFLICT (stream_id) DO NOTHING RETURNING stream_id),
      n AS (
        UPDATE ${S}.streams st SET version = a.next, updated_at = now(), last_xid = pg_current_xact_id()
          FROM a
         WHERE a.cur > 0 AND st.stream_id = a.stream_id AND st.version = a.cur AND (st.last_xid IS NULL OR st.last_xid <= pg_current_xact_id())
        RETURNING st.stream_id),
      w AS (
        SELECT a.idx, a.stream_id FROM a WHERE a.stream_id IN (SELECT c.stream_id FROM c UNION ALL SELECT n.stream_id FROM n)),
      e AS (
        INSERT INTO ${S}.events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
        SELECT w.stream_id, u.v, u.id, u.t, u.sv, u.d::jsonb, u.m::jsonb
          FROM unnest($4::int[], $5::bigint[], $6::uuid[], $7::text[], $8::int[], $9::text[], $10::text[]) WITH ORDINALITY AS u(ai, v, id, t, sv, d, m, ord)
          JOIN w ON w.idx = u.ai
         ORDER BY u.ord
        RETURNING stream_id, stream_version, position, transaction_id),
      o AS (
        INSERT INTO ${S}.outbox (topic, message_key, headers, payload)
        SELECT u.t, u.k, u.h::jsonb, u.p::jsonb
          FROM unnest($11::int[], $12::text[], $13::text[], $14::text[], $15::text[]) WITH ORDINALITY AS u(ai, t, k, h, p, ord)
          JOIN w ON w.idx = u.ai
         ORDER BY u.ord
        RETURNING 1)
      SELECT e.stream_id, e.stream_version::text AS version, e.position::text AS position, e.transaction_id::text AS transaction_id, NULL::text AS actual,
             (SELECT count(*) FROM o) AS outboxed, (SELECT 1 FROM pg_notify($16, '') AS x) AS notified
        FROM e
      UNION ALL
      SELECT a.stream_id, NULL, NULL, NULL, (SELECT st.version::text FROM ${S}.streams st WHERE st.stream_id = a.stream_id), 0, NULL
        FROM a WHERE NOT EXISTS (SELECT 1 FROM w WHERE w.idx = a.idx)`;
    this.manyPrepared = { name: preparedName(text), text };
    return this.manyPrepared;
  }

  /** The append statements of this schema, by kind and in-statement work (prepared once per connection, by name). */
  private readonly prepared = new Map<string, { readonly name: string; readonly text: string }>();

  private statement(kind: 'create' | 'next', work: InStatementWork | undefined): { readonly name: string; readonly text: string } {
    const id = work ? `${kind}:${work.key}` : kind;
    let st = this.prepared.get(id);
    if (st) return st;
    const S = this.schema;
    // The append's own parameters are $1…$14; the work's follow.
    const extra = work?.sql(15);
    const rest = `,
      e AS (
        INSERT INTO ${S}.events (stream_id, stream_version, event_id, type, schema_version, data, metadata)
        SELECT $1, u.v, u.id, u.t, u.sv, u.d::jsonb, u.m::jsonb
          FROM s, unnest($4::bigint[], $5::uuid[], $6::text[], $7::int[], $8::text[], $9::text[]) AS u(v, id, t, sv, d, m)
        RETURNING stream_version, position, transaction_id),
      o AS (
        INSERT INTO ${S}.outbox (topic, message_key, headers, payload)
        SELECT u.t, u.k, u.h::jsonb, u.p::jsonb
          FROM s, unnest($10::text[], $11::text[], $12::text[], $13::text[]) AS u(t, k, h, p)
        RETURNING 1)${extra ? `,
      ${extra.ctes}` : ''}
      SELECT e.stream_version::text AS version, e.position::text AS position, e.transaction_id::text AS transaction_id, NULL::text AS actual,
             (SELECT count(*) FROM o) AS outboxed, (SELECT 1 FROM pg_notify($14, '') AS n) AS notified${extra ? `, ${extra.select} AS projected` : ''}
        FROM e
      UNION ALL
      SELECT NULL, NULL, NULL, (SELECT st.version::text FROM ${S}.streams st WHERE st.stream_id = $1), 0, NULL${extra ? ', NULL' : ''}
       WHERE NOT EXISTS (SELECT 1 FROM s)`;
    const text =
      kind === 'create'
        ? // A new stream: created unless it exists.
          `WITH s AS (
          INSERT INTO ${S}.streams (stream_id, version, last_xid) SELECT $1, $2, pg_current_xact_id() WHERE $3::bigint = 0
          ON CONFLICT (stream_id) DO NOTHING RETURNING version)${rest}`
        : // The next version: only if the stream is at the expected one, and its last writer sorts
          // before this transaction in commit order (rechecked on the locked, latest row).
          `WITH s AS (
          UPDATE ${S}.streams SET version = $2, updated_at = now(), last_xid = pg_current_xact_id()
           WHERE stream_id = $1 AND version = $3 AND (last_xid IS NULL OR last_xid <= pg_current_xact_id())
          RETURNING version)${rest}`;
    // Named by its text: PostgreSQL keeps 63 bytes of a statement's name, too few for a schema's name and a key.
    st = { name: preparedName(text), text };
    this.prepared.set(id, st);
    return st;
  }

  private async lockStream(tx: Sql, streamId: string, expected: ExpectedVersion, count: number): Promise<number> {
    const rows = await tx.query<{ version: string }>(`SELECT version::text FROM ${this.schema}.streams WHERE stream_id = $1 FOR UPDATE`, [streamId]);
    const actual = rows[0] ? Number(rows[0].version) : null;
    if (expected === 'no_stream' && actual !== null) throw new ConcurrencyError(streamId, expected, actual);
    if (typeof expected === 'number' && (actual ?? 0) !== expected) throw new ConcurrencyError(streamId, expected, actual);
    const current = actual ?? 0;
    if (count === 0) return current;
    if (actual === null) {
      const inserted = await tx.query(`INSERT INTO ${this.schema}.streams (stream_id, version, last_xid) VALUES ($1, $2, pg_current_xact_id()) ON CONFLICT (stream_id) DO NOTHING RETURNING 1`, [streamId, count]);
      // A concurrent writer created the stream between our read and insert (and committed:
      // had it rolled back, our insert would have gone through). Without a version check the
      // stream now simply exists: lock it and append after the other writer's events.
      if (inserted.length === 0) {
        if (expected === 'any') return this.lockStream(tx, streamId, expected, count);
        throw new ConcurrencyError(streamId, expected, null);
      }
    } else {
      await tx.query(`UPDATE ${this.schema}.streams SET version = $2, updated_at = now(), last_xid = pg_current_xact_id() WHERE stream_id = $1`, [streamId, current + count]);
    }
    return current;
  }

  toEnvelope(r: RecordedEvent): Envelope {
    return {
      id: r.metadata.eventId,
      type: r.type,
      schemaVersion: r.schemaVersion,
      source: this.source,
      subject: r.streamId,
      time: r.metadata.time,
      correlationId: r.metadata.correlationId,
      causationId: r.metadata.causationId,
      tenant: r.metadata.tenant,
      traceparent: r.metadata.traceparent ?? null,
      streamVersion: r.streamVersion,
      data: r.data,
    };
  }

  /** The published copy: the event's contract (validated) or, without one, the mapped private data. */
  private toMessage(r: RecordedEvent, object: ObjectIdentity | undefined): OutboxMessage {
    const published = this.registry.published(r.type, r.schemaVersion, r.data as Record<string, unknown>, {
      streamId: r.streamId,
      tenant: r.metadata.tenant,
      ...(object ? { object } : {}),
    });
    const env: Envelope = { ...this.toEnvelope(r), type: published.type, schemaVersion: published.schemaVersion, data: published.data };
    return { topic: this.eventsTopic, key: r.streamId, headers: envelopeHeaders(env), payload: env };
  }

  async readStream<E extends Event = Event>(streamId: string, fromVersion = 1): Promise<RecordedEvent<E>[]> {
    const rows = await this.db.query<EventRow>(
      `SELECT position::text, transaction_id::text, stream_id, stream_version::text, event_id::text, type, schema_version, data, metadata
         FROM ${this.schema}.events e WHERE e.stream_id = $1 AND e.stream_version >= $2
        ORDER BY e.stream_version`, // qualified: a bare name would sort by the ::text output column
      [streamId, fromVersion],
    );
    return rows.map((r) => this.fromRow<E>(r));
  }

  /** Current version of a stream, 0 when it does not exist. */
  async streamVersion(streamId: string, sql: Sql = this.db): Promise<number> {
    const rows = await sql.query<{ version: string }>(`SELECT version::text FROM ${this.schema}.streams WHERE stream_id = $1`, [streamId]);
    return rows[0] ? Number(rows[0].version) : 0;
  }

  /**
   * Events after `after` in commit order, at most `limit`. Only transactions that are
   * older than every in-flight transaction are visible, so the next call can never
   * return an event that sorts before one already returned.
   * (ORDER BY names the table columns: the bare names would sort by the ::text outputs,
   * "10" before "9", and could skip events across pages.)
   */
  async readAll<E extends Event = Event>(after: GlobalCheckpoint = START, limit = 1000): Promise<RecordedEvent<E>[]> {
    const rows = await this.db.query<EventRow>(
      `SELECT position::text, transaction_id::text, stream_id, stream_version::text, event_id::text, type, schema_version, data, metadata
         FROM ${this.schema}.events e
        WHERE e.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
          AND (e.transaction_id, e.position) > ($1::xid8, $2::bigint)
        ORDER BY e.transaction_id, e.position
        LIMIT $3`,
      [after.transactionId, after.position, limit],
    );
    return rows.map((r) => this.fromRow<E>(r));
  }

  private fromRow<E extends Event>(r: EventRow): RecordedEvent<E> {
    const current = this.registry.toCurrent(r.type, r.schema_version, r.data, r.event_id);
    return {
      type: current.type,
      data: current.data,
      streamId: r.stream_id,
      streamVersion: Number(r.stream_version),
      schemaVersion: current.schemaVersion,
      position: r.position,
      transactionId: r.transaction_id,
      metadata: r.metadata,
    } as unknown as RecordedEvent<E>;
  }
}

export const checkpointOf = (e: { transactionId: string; position: string }): GlobalCheckpoint => ({ transactionId: e.transactionId, position: e.position });

export function auditMessage(record: AuditRecord, source: string): OutboxMessage {
  const env: Envelope<AuditRecord> = {
    id: record.id,
    type: 'AuditRecord',
    schemaVersion: record.schemaVersion,
    source,
    subject: `${record.tenant}`,
    time: record.time,
    correlationId: record.correlationId,
    causationId: null,
    tenant: record.tenant,
    traceparent: null,
    data: record,
  };
  return { topic: TOPICS.auditRecords, key: record.tenant, headers: envelopeHeaders(env), payload: env };
}

/** Writes outbox rows (one statement) and wakes the relay when the transaction commits. */
export async function insertOutbox(tx: Sql, schema: string, messages: readonly OutboxMessage[]): Promise<void> {
  if (messages.length === 0) return;
  await tx.query(
    `INSERT INTO ${schema}.outbox (topic, message_key, headers, payload)
     SELECT t, k, h::jsonb, p::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(t, k, h, p)`,
    [messages.map((m) => m.topic), messages.map((m) => m.key), messages.map((m) => JSON.stringify(m.headers)), messages.map((m) => JSON.stringify(m.payload))],
  );
  await tx.query(`SELECT pg_notify($1, '')`, [`${schema}_outbox`]);
}
