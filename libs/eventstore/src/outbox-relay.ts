import type { Kafka, Producer } from 'kafkajs';
import pg from 'pg';
import type { Logger } from 'pino';
import { counter, histogram, type Database } from '#libs/platform';

type OutboxRow = { id: string; topic: string; message_key: string; headers: Record<string, string>; payload: object; created_at: Date };

export type OutboxRelayOptions = {
  readonly batchSize?: number;
  /** Poll interval when no notification arrives (a safety net, NOTIFY is the fast path). */
  readonly pollIntervalMs?: number;
  readonly maxBackoffMs?: number;
  /** Sent rows older than this are deleted. */
  readonly retainSentMs?: number;
};

const published = counter('keyledger_outbox_published_total', 'Outbox messages published to Kafka', ['schema']);
const publishFailures = counter('keyledger_outbox_publish_failures_total', 'Failed outbox publish attempts', ['schema']);
const lag = histogram('keyledger_outbox_lag_seconds', 'Time from outbox insert to Kafka acknowledgement', ['schema'], [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30]);

/**
 * Publishes committed outbox rows to Kafka in id order with an idempotent producer
 * (acks=all, key = stream id), then marks them sent in the same transaction that locked
 * them. Kafka down: rows wait and are retried with backoff. Crash after publishing but
 * before marking: rows are published again; consumers dedupe by event id.
 * Woken by LISTEN/NOTIFY on commit; polls as a fallback.
 */
export class OutboxRelay {
  private producer: Producer | undefined;
  private producerConnected = false;
  private listener: pg.Client | undefined;
  private running = false;
  private wake: (() => void) | undefined;
  /** A NOTIFY arrived since the last batch started: there may be rows the batch did not see. */
  private notified = false;
  private lastListenAttempt = 0;
  private loop: Promise<void> | undefined;
  private lastCleanup = 0;
  private readonly batchSize: number;
  private readonly pollIntervalMs: number;
  private readonly maxBackoffMs: number;
  private readonly retainSentMs: number;

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
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.producer = this.kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: true, retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2_000 } });
    await this.listen().catch((err: unknown) => this.logger.warn({ err: errMsg(err) }, 'outbox LISTEN unavailable, polling only'));
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
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

  private async listen(): Promise<void> {
    const client = new pg.Client({ connectionString: this.db.url });
    client.on('error', () => {
      if (this.listener === client) this.listener = undefined;
      client.end().catch(() => undefined);
    });
    await client.connect();
    await client.query(`LISTEN ${this.db.schema}_outbox`);
    client.on('notification', () => {
      // Remembered even while a batch is in flight, so the commit it announces is not left to the poll.
      this.notified = true;
      this.wake?.();
    });
    this.listener = client;
  }

  private async run(): Promise<void> {
    let backoff = 100;
    while (this.running) {
      try {
        await this.relisten();
        this.notified = false;
        const n = await this.publishBatch();
        backoff = 100;
        await this.maybeCleanup();
        if (n >= this.batchSize) continue;
        await this.idle(this.pollIntervalMs, true);
      } catch (err) {
        publishFailures.inc({ schema: this.db.schema });
        this.logger.warn({ err: errMsg(err), retryInMs: backoff }, 'outbox publish failed; rows kept for retry');
        await this.idle(backoff, false);
        backoff = Math.min(backoff * 2, this.maxBackoffMs);
      }
    }
  }

  /** The LISTEN connection died (database restart): listen again, at most every 5 s. */
  private async relisten(): Promise<void> {
    if (this.listener || Date.now() - this.lastListenAttempt < 5_000) return;
    this.lastListenAttempt = Date.now();
    await this.listen().catch(() => undefined); // the batch that follows picks up anything missed meanwhile
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
      const [lock] = await tx.query<{ acquired: boolean }>('SELECT pg_try_advisory_xact_lock(hashtext($1)) AS acquired', [`outbox-relay:${this.db.schema}`]);
      if (!lock?.acquired) return 0;
      const rows = await tx.query<OutboxRow>(
        // ORDER BY o.id, not the ::text output column: "100" would go out before "99".
        `SELECT o.id::text, o.topic, o.message_key, o.headers, o.payload, o.created_at FROM ${this.db.schema}.outbox o
          WHERE o.sent_at IS NULL ORDER BY o.id LIMIT $1 FOR UPDATE`,
        [this.batchSize],
      );
      if (rows.length === 0) return 0;
      const producer = await this.connectedProducer();
      const byTopic = new Map<string, { key: string; value: string; headers: Record<string, string> }[]>();
      for (const r of rows) {
        const list = byTopic.get(r.topic) ?? [];
        list.push({ key: r.message_key, value: JSON.stringify(r.payload), headers: r.headers });
        byTopic.set(r.topic, list);
      }
      await producer.sendBatch({ acks: -1, timeout: 10_000, topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })) });
      await tx.query(`UPDATE ${this.db.schema}.outbox SET sent_at = clock_timestamp() WHERE id = ANY($1::bigint[])`, [rows.map((r) => r.id)]);
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

  private async maybeCleanup(): Promise<void> {
    const now = Date.now();
    if (now - this.lastCleanup < 60_000) return;
    this.lastCleanup = now;
    await this.db.query(`DELETE FROM ${this.db.schema}.outbox WHERE sent_at IS NOT NULL AND sent_at < now() - ($1::bigint * interval '1 millisecond')`, [this.retainSentMs]);
  }
}

function errMsg(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
