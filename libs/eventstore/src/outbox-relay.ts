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
    await this.listener?.end().catch(() => undefined);
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
      this.listener = undefined;
    });
    await client.connect();
    await client.query(`LISTEN ${this.db.schema}_outbox`);
    client.on('notification', () => this.wake?.());
    this.listener = client;
  }

  private async run(): Promise<void> {
    let backoff = 100;
    while (this.running) {
      try {
        const n = await this.publishBatch();
        backoff = 100;
        await this.maybeCleanup();
        if (n >= this.batchSize) continue;
        await this.idle(this.pollIntervalMs);
      } catch (err) {
        publishFailures.inc({ schema: this.db.schema });
        this.logger.warn({ err: errMsg(err), retryInMs: backoff }, 'outbox publish failed; rows kept for retry');
        await this.idle(backoff);
        backoff = Math.min(backoff * 2, this.maxBackoffMs);
      }
    }
  }

  private idle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.wake = () => {
        this.wake = undefined;
        done();
      };
    });
  }

  private async publishBatch(): Promise<number> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query<OutboxRow>(
        `SELECT id::text, topic, message_key, headers, payload, created_at FROM ${this.db.schema}.outbox
          WHERE sent_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`,
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
