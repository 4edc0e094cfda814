import { Database } from '#libs/platform';
import { type Event, type EventRegistry } from '#libs/kernel';
import { EventStore, spineDdl, type AppendResult, type ExpectedVersion } from '#libs/eventstore';
import { stackEnv } from './stack.connections.js';
import { uniqueName } from './unique.names.js';

export type TestDb = {
  readonly db: Database;
  readonly schema: string;
  /** An event store on this schema; `eventsTopic` defaults to a name unique to the schema. */
  eventStore(registry: EventRegistry, options?: { readonly source?: string; readonly eventsTopic?: string }): EventStore;
  /** Drops the schema and closes the pool. Call it in afterAll. */
  drop(): Promise<void>;
};

/**
 * A throwaway schema (`<prefix>_<random>`) with the spine tables (events, streams, outbox,
 * inbox, checkpoints), on the local stack's PostgreSQL.
 */
export async function testDb(schemaPrefix = 't_spine', options: { readonly poolMax?: number } = {}): Promise<TestDb> {
  const schema = uniqueName(schemaPrefix);
  const db = await Database.connect(stackEnv().databaseUrl, schema, { max: options.poolMax ?? 20, applicationName: `keyledger-test-${schema}` });
  await db.query(spineDdl(schema));
  let dropped = false;
  return {
    db,
    schema,
    eventStore: (registry, o = {}) => new EventStore(db, registry, o.source ?? 'test', o.eventsTopic ?? `keyledger.${schema}.events.v1`),
    drop: async () => {
      if (dropped) return;
      dropped = true;
      try {
        await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      } finally {
        await db.close();
      }
    },
  };
}

export type GivenOptions = {
  readonly tenant?: string;
  readonly actor?: string;
  readonly expectedVersion?: ExpectedVersion;
  /** Publish the events through the outbox (default false: test state is not news). */
  readonly outbox?: boolean;
};

/**
 * Starts a stream from events, through the event store itself (validated, versioned, with
 * metadata) rather than by inserting rows: the state a test sets up is one the system could
 * have produced.
 */
export async function givenStream<E extends Event>(store: EventStore, streamId: string, events: readonly E[], options: GivenOptions = {}): Promise<AppendResult<E>> {
  return store.appendToStream(streamId, options.expectedVersion ?? 'any', events, {
    metadata: { actor: options.actor ?? 'test', tenant: options.tenant ?? 'test-tenant' },
    outbox: options.outbox ?? false,
  });
}
