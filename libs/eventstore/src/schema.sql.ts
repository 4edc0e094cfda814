import { assertSchemaName } from '#libs/platform';

/**
 * The spine's tables in one service schema. Idempotent (IF NOT EXISTS): every service
 * applies it at boot before its own migrations.
 *
 * - events: append-only; `transaction_id` is the writer's xid8, so readers can follow
 *   commit order (see EventStore.readAll).
 * - streams: one row per stream holding its version and the id of the transaction that wrote
 *   it (`last_xid`); the row lock serialises writers of a stream and makes the expected-version
 *   and commit-order checks exact.
 * - outbox: rows to publish to Kafka, written in the same transaction as the events;
 *   outbox_relay_position: the relay's sent watermark in commit order (rows are never
 *   updated; `sent_at` is only set by relays of earlier releases).
 * - inbox: event ids already handled by a consumer (exactly-once effect).
 * - checkpoints: projection positions.
 */
export function spineDdl(schema: string): string {
  const s = assertSchemaName(schema);
  return `
CREATE SCHEMA IF NOT EXISTS ${s};
CREATE TABLE IF NOT EXISTS ${s}.events (
  position        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
  stream_id       text        NOT NULL,
  stream_version  bigint      NOT NULL,
  event_id        uuid        NOT NULL,
  type            text        NOT NULL,
  schema_version  integer     NOT NULL,
  data            jsonb       NOT NULL,
  metadata        jsonb       NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version),
  CONSTRAINT events_event_id_key UNIQUE (event_id)
);
CREATE INDEX IF NOT EXISTS events_commit_order_idx ON ${s}.events (transaction_id, position);
CREATE TABLE IF NOT EXISTS ${s}.streams (
  stream_id   text        PRIMARY KEY,
  version     bigint      NOT NULL,
  updated_at  timestamptz NOT NULL DEFAULT now()
);
-- The writer of a stream's current version (commit-order check of appends, one row to read).
ALTER TABLE ${s}.streams ADD COLUMN IF NOT EXISTS last_xid xid8;
CREATE TABLE IF NOT EXISTS ${s}.outbox (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
  topic           text        NOT NULL,
  message_key     text        NOT NULL,
  headers         jsonb       NOT NULL,
  payload         jsonb       NOT NULL,
  created_at      timestamptz NOT NULL DEFAULT clock_timestamp(),
  sent_at         timestamptz
);
-- Rows are no longer marked sent (the relay keeps a watermark), so an index of the unsent ones
-- held every row: a second copy of the primary key, maintained (and WAL-logged) on every insert
-- for no query (the relay reads and cleans up through outbox_commit_order_idx).
DROP INDEX IF EXISTS ${s}.outbox_unsent_idx;
CREATE INDEX IF NOT EXISTS outbox_commit_order_idx ON ${s}.outbox (transaction_id, id);
-- How far the relay has published, in commit order: one row, one UPDATE per batch.
CREATE TABLE IF NOT EXISTS ${s}.outbox_relay_position (
  name            text        PRIMARY KEY,
  transaction_id  xid8        NOT NULL,
  id              bigint      NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS ${s}.inbox (
  consumer     text        NOT NULL,
  event_id     text        NOT NULL,
  handled_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (consumer, event_id)
);
CREATE TABLE IF NOT EXISTS ${s}.checkpoints (
  name            text        PRIMARY KEY,
  transaction_id  xid8        NOT NULL,
  position        bigint      NOT NULL,
  target          text,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
`;
}
