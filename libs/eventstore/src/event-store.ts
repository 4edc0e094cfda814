import { randomUUID } from 'node:crypto';
import { currentContext, type Database, type Row, type Sql } from '#libs/platform';
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
  constructor(
    readonly db: Database,
    readonly registry: EventRegistry,
    readonly source: string,
    readonly eventsTopic: string = serviceEventsTopic(source),
  ) {}

  get schema(): string {
    return this.db.schema;
  }

  async init(): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`spine:${this.schema}`]);
      await tx.query(spineDdl(this.schema));
    });
  }

  async appendToStream<E extends Event>(streamId: string, expected: ExpectedVersion, events: readonly E[], options: AppendOptions<E>): Promise<AppendResult<E>> {
    for (let attempt = 1; ; attempt++) {
      try {
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
    if (options.inTransaction) await options.inTransaction(tx, recorded);
    return { nextExpectedVersion: current + events.length, events: recorded };
  }

  private async lockStream(tx: Sql, streamId: string, expected: ExpectedVersion, count: number): Promise<number> {
    const rows = await tx.query<{ version: string }>(`SELECT version::text FROM ${this.schema}.streams WHERE stream_id = $1 FOR UPDATE`, [streamId]);
    const actual = rows[0] ? Number(rows[0].version) : null;
    if (expected === 'no_stream' && actual !== null) throw new ConcurrencyError(streamId, expected, actual);
    if (typeof expected === 'number' && (actual ?? 0) !== expected) throw new ConcurrencyError(streamId, expected, actual);
    const current = actual ?? 0;
    if (count === 0) return current;
    if (actual === null) {
      const inserted = await tx.query(`INSERT INTO ${this.schema}.streams (stream_id, version) VALUES ($1, $2) ON CONFLICT (stream_id) DO NOTHING RETURNING 1`, [streamId, count]);
      // A concurrent writer created the stream between our read and insert (and committed:
      // had it rolled back, our insert would have gone through). Without a version check the
      // stream now simply exists: lock it and append after the other writer's events.
      if (inserted.length === 0) {
        if (expected === 'any') return this.lockStream(tx, streamId, expected, count);
        throw new ConcurrencyError(streamId, expected, null);
      }
    } else {
      await tx.query(`UPDATE ${this.schema}.streams SET version = $2, updated_at = now() WHERE stream_id = $1`, [streamId, current + count]);
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
