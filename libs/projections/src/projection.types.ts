import type { estypes } from '@elastic/elasticsearch';
import type { Event } from '#libs/kernel';
import type { RecordedEvent } from '#libs/eventstore';
import type { Sql } from '#libs/platform';

/**
 * What a projection sees of an event, whether it was read from the event store (commit
 * order, with position) or taken from Kafka (an envelope).
 */
export type ProjectedEvent<E extends Event = Event> = E & {
  readonly eventId: string;
  readonly streamId: string;
  readonly streamVersion: number;
  readonly schemaVersion: number;
  readonly tenant: string;
  readonly time: string;
  readonly correlationId: string;
  /** Global position and writing transaction: present when read from the event store. */
  readonly position?: string;
  readonly transactionId?: string;
};

/** A read model in PostgreSQL: each batch is applied in the transaction that saves the checkpoint. */
export type PgProjection<E extends Event = Event> = {
  readonly kind: 'postgres';
  /** Unique per schema: names the checkpoint. */
  readonly name: string;
  /** Event types it cares about (default: all). Others still advance the checkpoint. */
  readonly handles?: readonly string[];
  /** Creates its tables (idempotent). */
  init?(sql: Sql): Promise<void>;
  /** Applies events in order, in the caller's transaction. */
  handle(events: readonly ProjectedEvent<E>[], tx: Sql): Promise<void>;
  /** Empties the read model; needed by `rebuild`. */
  reset?(tx: Sql): Promise<void>;
};

/** One document change; `_id`s must be deterministic (event id or stream id) so replays are idempotent. */
export type EsOperation =
  | { readonly op: 'index'; readonly id: string; readonly document: object }
  /** Merges fields into the document, creating it when missing (no scripts). */
  | { readonly op: 'update'; readonly id: string; readonly document: object }
  | { readonly op: 'delete'; readonly id: string };

/** Search documents in Elasticsearch, in a versioned index `<alias>-v<N>` behind `<alias>`. */
export type EsProjection<E extends Event = Event> = {
  readonly kind: 'elasticsearch';
  readonly name: string;
  /** Readers query this alias; it always points at one complete index version. */
  readonly alias: string;
  readonly handles?: readonly string[];
  readonly mappings: estypes.MappingTypeMapping;
  readonly settings?: estypes.IndicesIndexSettings;
  /**
   * True when no document is touched by more than one event (e.g. `_id` = event id): bulk
   * requests may then run concurrently during a rebuild. Default false: strictly in order.
   */
  readonly independentDocuments?: boolean;
  toOperations(events: readonly ProjectedEvent<E>[]): readonly EsOperation[];
};

export type Projection = PgProjection | EsProjection;

export function fromRecorded<E extends Event>(r: RecordedEvent<E>): ProjectedEvent<E> {
  return {
    ...(r as E),
    type: r.type,
    data: r.data,
    eventId: r.metadata.eventId,
    streamId: r.streamId,
    streamVersion: r.streamVersion,
    schemaVersion: r.schemaVersion,
    tenant: r.metadata.tenant,
    time: r.metadata.time,
    correlationId: r.metadata.correlationId,
    position: r.position,
    transactionId: r.transactionId,
  };
}

export function handlesEvent(p: Projection, type: string): boolean {
  return p.handles === undefined || p.handles.includes(type);
}
