import { CompressionTypes, type Kafka, type Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { counter, histogram, subscribeNotifications, type ChannelSubscription, type Database } from '#libs/platform';

/** `payload` as PostgreSQL prints the jsonb: sent to Kafka as it is, never parsed here. */
type OutboxRow = { id: string; transaction_id: string; topic: string; message_key: string; headers: Record<string, string>; payload: string; created_at: Date };

export type OutboxRelayOptions = {
  readonly batchSize?: number;
  /** Poll interval when no notification arrives (a safety net, NOTIFY is the fast path). */
  readonly pollIntervalMs?: number;
  readonly maxBackoffMs?: number;
  /** Sent rows older than this are deleted. */
  readonly retainSentMs?: number;
  /** Rows one retention cleanup step looks at, at most (default 5,000). */
  readonly cleanupChunk?: number;
  /**
   * After a batch that found rows (but fewer than a full batch), wait this long before the next
   * (default 10 ms): under load the rows of several commits go out in one batch — one read,
   * one Kafka acknowledgement, one watermark update — instead of one batch per notification.
   */
  readonly lingerMs?: number;
  /**
   * Compression of each published batch (default `none` here; services take OUTBOX_COMPRESSION,
   * `gzip` by default): the relay compresses, the broker and every consumer decompress, for
   * ~17x fewer bytes per audit record on the network and the broker's disk.
   */
  readonly compression?: 'none' | 'gzip';
};

const published = counter('keyledger_outbox_published_total', 'Outbox messages published to Kafka', ['schema']);
const publishFailures = counter('keyledger_outbox_publish_failures_total', 'Failed outbox publish attempts', ['schema']);
const lag = histogram('keyledger_outbox_lag_seconds', 'Time from outbox insert to Kafka acknowledgement', ['schema'], [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30]);

/**
 * The relays running in this process, by schema. A writer in the same process wakes them
 * directly once its commit is done (`localRelayWaker`) instead of by NOTIFY: PostgreSQL wakes
 * every backend that LISTENs in the database on each notifying commit, whichever its channel
 * (~170 µs of its CPU per commit with the six listeners a local deployment had before each
 * process shared one LISTEN connection: `subscribeNotifications`).
 */
const localRelays = new Map<string, Set<OutboxRelay>>();

/**
 * Wakes this process's running relays of `schema`, or undefined when none runs here (then only
 * a NOTIFY reaches a relay, in another process). Relays of other instances still find the rows
 * (by their own writers' wake-ups, a NOTIFY or their poll): each batch takes whatever is committed.
 */
export function localRelayWaker(schema: string): (() => void) | undefined {
  const relays = localRelays.get(schema);
  if (!relays || relays.size === 0) return undefined;
  return () => {
    for (const r of relays) r.committed();
  };
}

/** The relay's watermark row (one per schema). */
export const RELAY_POSITION = 'relay';
const POSITION = RELAY_POSITION;

/**
 * The watermark as a row constructor of two scalar sub-selects, so that the comparison
 * `(transaction_id, id) > (…, …)` is an index condition on `outbox_commit_order_idx`. A single
 * sub-select of a record (`COALESCE((SELECT (a, b) …), …)`) is only a filter: every batch then
 * walked the outbox from its first row, a cost that grew with the rows kept for retention
 * (1.7 s per batch at 500,000 rows, against ~1 ms as an index condition).
 */
function watermark(schema: string, nameParam: string): string {
  const position = `FROM ${schema}.outbox_relay_position p WHERE p.name = ${nameParam}`;
  return `(COALESCE((SELECT p.transaction_id ${position}), '0'::xid8), COALESCE((SELECT p.id ${position}), 0::bigint))`;
}

/**
 * The relay's batch: committed rows after the watermark, in commit order ($1 = batch size,
 * $2 = the watermark's name). ORDER BY the columns, not the ::text outputs ("100" would go out
 * before "99"). Exported for the plan test.
 */
export function relayBatchSql(schema: string): string {
  return `SELECT o.id::text, o.transaction_id::text, o.topic, o.message_key, o.headers, o.payload::text AS payload, o.created_at FROM ${schema}.outbox o
          WHERE o.transaction_id < pg_snapshot_xmin(pg_current_snapshot())
            AND (o.transaction_id, o.id) > ${watermark(schema, '$2')}
            AND o.sent_at IS NULL
          ORDER BY o.transaction_id, o.id LIMIT $1`;
}

/**
 * One step of the retention cleanup ($1 = retention in ms, $2 = the watermark's name, $3 = the
 * chunk size): the first rows in commit order up to the watermark (an index range on
 * `outbox_commit_order_idx`, from its start), deleting those older than the retention. It
 * returns how many rows it looked at and how many it deleted; the relay repeats it while a
 * full chunk deleted something. The work is the rows deleted plus at most one chunk, instead of
 * a sequential scan of everything kept for retention on every pass. (Rows marked sent by relays
 * of earlier releases sort before the watermark once the relay has published anything.)
 * Exported for the plan test.
 */
export function relayCleanupSql(schema: string): string {
  return `WITH chunk AS (
            SELECT o.id, o.created_at FROM ${schema}.outbox o
             WHERE (o.transaction_id, o.id) <= ${watermark(schema, '$2')}
             ORDER BY o.transaction_id, o.id LIMIT $3
          ), gone AS (
            DELETE FROM ${schema}.outbox o USING chunk c
             WHERE o.id = c.id AND c.created_at < now() - ($1::bigint * interval '1 millisecond')
            RETURNING 1
          )
          SELECT (SELECT count(*) FROM chunk)::int AS taken, (SELECT count(*) FROM gone)::int AS deleted`;
}

/**
 * Outbox rows not yet published: after the relay's watermark in commit order (and not marked
 * sent by a relay of an earlier release). For tests and operators.
 */
export async function unsentOutboxRows(db: Database): Promise<number> {
  const s = db.schema;
  const [row] = await db.query<{ n: string }>(
    `SELECT count(*)::text AS n FROM ${s}.outbox o
      WHERE o.sent_at IS NULL
        AND (o.transaction_id, o.id) > ${watermark(s, '$1')}`,
    [POSITION],
  );
  return Number(row?.n ?? 0);
}

/**
 * Publishes committed outbox rows to Kafka in commit order with an idempotent producer
 * (acks=all, key = stream id): one `sendBatch` per batch (one acknowledgement), then ONE
 * update of the relay's watermark — the (transaction id, id) of the last row sent — in the
 * transaction that holds the relay lock; rows themselves are never updated or locked. Only
 * rows of transactions older than every transaction still in flight are read
 * (`pg_snapshot_xmin`, as `EventStore.readAll`), so a row that commits late can never sort
 * before the watermark. Kafka down: rows wait and are retried with backoff. Crash after
 * publishing but before the watermark moved: rows are published again; consumers dedupe by
 * event id. Woken by LISTEN/NOTIFY on commit; polls as a fallback.
 */
export class OutboxRelay {
  private producer: Producer | undefined;
  private producerConnected = false;
  private subscription: ChannelSubscription | undefined;
  private running = false;
  private wake: (() => void) | undefined;
  /** A NOTIFY arrived since the last batch started: there may be rows the batch did not see. */
  private notified = false;
  private loop: Promise<void> | undefined;
  private lastCleanup = 0;
  /** The last cleanup step deleted a full chunk's worth: the next loop iteration takes another. */
  private cleanupMore = false;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly maxBackoffMs: number;
  private readonly retainSentMs: number;
  private readonly lingerMs: number;
  private readonly cleanupChunk: number;
  private readonly compression: CompressionTypes;

  constructor(
    private readonly db: Database,
    private readonly kafka: Kafka,
    private readonly logger: Logger,
    options: OutboxRelayOptions = {},
  ) {
    this.batchSize = options.batchSize ?? 500;
    this.pollIntervalMs = options.pollIntervalMs ?? 500;
    this.maxBackoffMs = options.maxBackoffMs ?? 5_000;
    this.retainSentMs = options.retainSentMs ?? 24 * 3600_000;
    this.lingerMs = options.lingerMs ?? 10;
    this.cleanupChunk = Math.max(1, options.cleanupChunk ?? 5_000);
    this.compression = options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: true, retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2_000 } });
    // The process's shared LISTEN connection: a lost one comes back by itself (the polls cover the gap).
    this.subscription = subscribeNotifications(this.db.url, `${this.db.schema}_outbox`, { notification: () => this.committed() }, { logger: this.logger });
    await this.subscription.ready;
    const here = localRelays.get(this.db.schema) ?? new Set<OutboxRelay>();
    here.add(this);
    localRelays.set(this.db.schema, here);
    this.loop = this.run();
  }

  /** Rows were committed (a writer in this process says so): what a NOTIFY on the schema's channel does. */
  committed(): void {
    this.notified = true;
    this.wake?.();
  }

  async stop(): Promise<void> {
    localRelays.get(this.db.schema)?.delete(this);
    this.running = false;
    this.wake?.();
    await this.loop;
    const subscription = this.subscription;
    this.subscription = undefined;
    await subscription?.close();
    if (this.producerConnected) await this.producer?.disconnect().catch(() => undefined);
    this.producerConnected = false;
  }

  /** Publishes everything currently committed; returns the number of rows sent. For tests and shutdown. */
  async drain(): Promise<number> {
    let total = 0;
    for (;;) {
      const n = await this.publishBatch();
      total += n;
      if (n < this.batchSize) return total;
    }
  }

  private async run(): Promise<void> {
    let backoff = 100;
    while (this.running) {
      try {
        this.notified = false;
        const n = await this.publishBatch();
        backoff = 100;
        // One cleanup step per iteration, between batches: publishing never waits for a whole pass.
        await this.maybeCleanup();
        if (n >= this.batchSize || this.cleanupMore) continue;
        if (n > 0 && this.lingerMs > 0) {
          // Busy: let the next commits gather instead of waking for each one's notification.
          await this.idle(this.lingerMs, false);
          continue;
        }
        await this.idle(this.pollIntervalMs, true);
      } catch (err) {
        publishFailures.inc({ schema: this.db.schema });
        this.logger.warn({ err: errMsg(err), retryInMs: backoff }, 'outbox publish failed; rows kept for retry');
        await this.idle(backoff, false);
        backoff = Math.min(backoff * 2, this.maxBackoffMs);
      }
    }
  }

  /** Waits `ms`; stop() always ends the wait early, a notification only when `onNotify` (not during error backoff). */
  private idle(ms: number, onNotify: boolean): Promise<void> {
    if (!this.running || (onNotify && this.notified)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        if (this.wake === wake) this.wake = undefined;
        resolve();
      };
      const wake = (): void => {
        if (onNotify || !this.running) done();
      };
      const timer = setTimeout(done, ms);
      this.wake = wake;
    });
  }

  private async publishBatch(): Promise<number> {
    return this.db.transaction(async (tx) => {
      // One active publisher per schema. Relays side by side (SKIP LOCKED) would let one
      // publish a stream's later rows while another still holds its earlier ones, breaking
      // per-key order; a relay that died mid-batch keeps the lock until its transaction is
      // gone, after which its rows are published again, still in order.
      // The watermark's commit need not wait for its WAL flush: should PostgreSQL lose it in a
      // crash, the rows after the older watermark are published again (consumers dedupe).
      const [lock] = await tx.query<{ acquired: boolean }>("SELECT pg_try_advisory_xact_lock(hashtext($1)) AS acquired, set_config('synchronous_commit', 'off', true)", [
        `outbox-relay:${this.db.schema}`,
      ]);
      if (!lock?.acquired) return 0;
      const s = this.db.schema;
      const rows = await tx.query<OutboxRow>(relayBatchSql(s), [this.batchSize, POSITION]);
      if (rows.length === 0) return 0;
      const producer = await this.connectedProducer();
      const byTopic = new Map<string, { key: string; value: string; headers: Record<string, string> }[]>();
      for (const r of rows) {
        const list = byTopic.get(r.topic) ?? [];
        list.push({ key: r.message_key, value: r.payload, headers: r.headers });
        byTopic.set(r.topic, list);
      }
      await producer.sendBatch({ acks: -1, timeout: 10_000, compression: this.compression, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
      const last = rows[rows.length - 1] as OutboxRow;
      await tx.query(
        `INSERT INTO ${s}.outbox_relay_position (name, transaction_id, id) VALUES ($1, $2::xid8, $3)
         ON CONFLICT (name) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, id = EXCLUDED.id, updated_at = now()`,
        [POSITION, last.transaction_id, last.id],
      );
      const now = Date.now();
      for (const r of rows) lag.observe({ schema: this.db.schema }, (now - r.created_at.getTime()) / 1000);
      published.inc({ schema: this.db.schema }, rows.length);
      return rows.length;
    });
  }

  private async connectedProducer(): Promise<Producer> {
    if (!this.producer) throw new Error('relay not started');
    if (!this.producerConnected) {
      await this.producer.connect();
      this.producerConnected = true;
    }
    return this.producer;
  }

  /** Every minute, a retention pass: chunks of the rows the watermark has passed, one per call, until one deletes nothing. */
  private async maybeCleanup(): Promise<void> {
    if (!this.cleanupMore) {
      const now = Date.now();
      if (now - this.lastCleanup < 60_000) return;
      this.lastCleanup = now;
    }
    this.cleanupMore = false;
    const [step] = await this.db.query<{ taken: number; deleted: number }>(relayCleanupSql(this.db.schema), [this.retainSentMs, POSITION, this.cleanupChunk]);
    this.cleanupMore = (step?.taken ?? 0) >= this.cleanupChunk && (step?.deleted ?? 0) > 0;
  }
}

function errMsg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
