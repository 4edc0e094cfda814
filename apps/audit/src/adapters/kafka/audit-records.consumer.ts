import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { deadLetterTopic, parseEnvelope, type AuditRecord } from '#libs/contracts';
import { backoffDelay, ConsumerSupervisor, DLQ_HEADERS, startWithDeadLetterProducer, ensureTopics, isTransientInfrastructureError, retryPolicy, type ConsumerStatus, type RetryPolicy, type SupervisionOptions } from '#libs/messaging';
import { counter, histogram, type Database, type Sql } from '#libs/platform';
import { auditRecordProblems, redactRecord } from '../../domain/redaction.js';

/**
 * Appends a batch of records in the consumer's transaction, skipping those already in the
 * ledger (idempotent by record id: the consumer keeps no inbox of its own), and returns what
 * it appended.
 */
export type AuditBatchHandler = (records: readonly AuditRecord[], tx: Sql) => Promise<readonly { readonly recordId: string }[]>;

export type AuditRecordsConsumerOptions = {
  readonly kafka: Kafka;
  readonly db: Database;
  readonly topic: string;
  readonly group: string;
  /** Name in the dead-letter headers (default: the group). */
  readonly consumerName?: string;
  readonly handler: AuditBatchHandler;
  /** Called after a batch committed (wake the indexer, the checkpointer, tails). */
  readonly afterCommit?: (records: readonly AuditRecord[]) => void;
  /** Records per transaction, at most. */
  readonly maxBatch: number;
  /**
   * Fetches wait until this many bytes are ready or `fetchWaitMs` passed (default 1 MiB and
   * 50 ms): under load each transaction takes a larger batch (every per-transaction cost —
   * round trips, the commit's WAL flush, the chain heads' update, the broker's fetch — is
   * shared by more records); idle, a record waits at most `fetchWaitMs` longer.
   */
  readonly fetchMinBytes?: number;
  readonly fetchWaitMs?: number;
  /** Where a group without committed offsets starts (default: the beginning). */
  readonly fromBeginning?: boolean;
  readonly retry?: Partial<RetryPolicy>;
  /** Restart backoff and stall watchdog of the Kafka consumer (libs/messaging ConsumerSupervisor). */
  readonly supervision?: SupervisionOptions;
  readonly logger: Logger;
};

export type AuditConsumerStats = { received: number; appended: number; duplicates: number; deadLettered: number; redacted: number; batches: number };

const batchSeconds = histogram('keyledger_audit_ledger_batch_seconds', 'One ledger transaction (chain append + usage), by size', ['size'], [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
const sizeBucket = (n: number): string => (n <= 10 ? '1-10' : n <= 100 ? '11-100' : n <= 500 ? '101-500' : '501+');
const consumed = counter('keyledger_audit_records_consumed_total', 'Audit records taken from Kafka by the ledger, by outcome', ['outcome']);

class HandlerFailure extends Error {
  constructor(readonly original: unknown) {
    super('ledger append failed');
    this.name = 'HandlerFailure';
  }
}

type Parsed = { readonly message: KafkaMessage; readonly record?: AuditRecord; readonly problem?: string };

/**
 * The ledger's consumer of the audit topic: libs/messaging's InboxConsumer pattern (same
 * dead-letter topic and headers, same retry policy) applied to a whole Kafka batch per
 * PostgreSQL transaction instead of one message per transaction — the ledger must sustain
 * thousands of records a second on one partition (one chain per tenant keeps a tenant's
 * records on one partition), and a per-message transaction plus offset commit tops out well
 * below that. No inbox rows: the ledger itself is the record of what was handled (its record
 * id is unique and its append skips records already present), so an inbox row per record
 * would only repeat that, at the price of a row, an index entry and their WAL per record.
 *
 * Per chunk (≤ maxBatch messages): parse and check each envelope (bad ones go to the
 * dead-letter topic at once); in one transaction hand the records to the handler, which
 * appends those not yet in the ledger; commit; then commit the Kafka offset past the chunk. A
 * crash anywhere before the offset commit redelivers the chunk and the ledger's idempotent
 * append turns it into a no-op — each record lands once.
 * Database trouble is retried without limit; a handler failure is retried, then the chunk is
 * split into single records so one poison record is dead-lettered and the rest land.
 *
 * The kafkajs consumer runs under libs/messaging's ConsumerSupervisor, like every inbox
 * consumer: a broker stop/restart (or anything else that ends it, including the crashes
 * kafkajs itself does not restart) is followed by a logged, counted restart with backoff, and
 * `health()` reports the ledger degraded until the consumer has rejoined its group.
 */
export class AuditRecordsConsumer {
  readonly stats: AuditConsumerStats = { received: 0, appended: 0, duplicates: 0, deadLettered: 0, redacted: 0, batches: 0 };
  readonly deadLetterTopic: string;
  private readonly consumerName: string;
  private readonly retry: RetryPolicy;
  private readonly supervisor: ConsumerSupervisor;
  private producer: Producer | undefined;
  private running = false;

  constructor(private readonly o: AuditRecordsConsumerOptions) {
    this.consumerName = o.consumerName ?? o.group;
    this.deadLetterTopic = deadLetterTopic(o.topic, o.group);
    this.retry = retryPolicy(o.retry);
    this.supervisor = new ConsumerSupervisor({
      ...o.supervision,
      kafka: o.kafka,
      name: this.consumerName,
      logger: o.logger.child({ consumer: this.consumerName }),
      config: {
        groupId: o.group,
        allowAutoTopicCreation: false,
        sessionTimeout: 30_000,
        minBytes: o.fetchMinBytes ?? 1024 * 1024,
        maxWaitTimeInMs: o.fetchWaitMs ?? 50,
        maxBytesPerPartition: 4 * 1024 * 1024,
        retry: { retries: 10 },
      },
      topics: [o.topic],
      fromBeginning: o.fromBeginning ?? true,
      run: (consumer) => ({ autoCommit: false, eachBatchAutoResolve: false, eachBatch: (p) => this.eachBatch(p, consumer) }),
    });
  }

  async start(): Promise<void> {
    if (this.running) return;
    const { kafka } = this.o;
    const admin = kafka.admin();
    await admin.connect();
    try {
      await ensureTopics(admin, [this.o.topic, this.deadLetterTopic]);
    } finally {
      await admin.disconnect();
    }
    this.running = true;
    try {
      await startWithDeadLetterProducer(kafka, this.supervisor, (p) => {
        this.producer = p;
      });
    } catch (err) {
      this.running = false;
      throw err;
    }
    this.o.logger.info({ topic: this.o.topic, group: this.o.group }, 'ledger consumer started');
  }

  /** Started and not stopped (the Kafka connection itself may be down meanwhile: see `health()`). */
  get isRunning(): boolean {
    return this.running;
  }

  /** The supervised kafkajs consumer: state, restarts, last failure. */
  get status(): ConsumerStatus {
    return this.supervisor.status;
  }

  /** For /health: what the ledger appended; throws (degraded) while the consumer is disconnected and being restarted. */
  health(): string {
    if (!this.running) throw new Error('ledger consumer not running');
    return `${this.supervisor.health()}; ${this.stats.appended} appended, ${this.stats.duplicates} duplicates since start`;
  }

  async ready(): Promise<void> {
    await this.supervisor.ready();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.supervisor.stop();
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = undefined;
  }

  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload, consumer: Consumer): Promise<void> {
    const alive = (): boolean => isRunning() && !isStale() && this.running;
    let handled: string | undefined;
    let committed: string | undefined;
    let lastCommitAt = Date.now();
    // The ledger's idempotent append makes redelivery harmless, so the offset is committed once per fetched batch
    // (and every second within a long one) rather than after every transaction.
    const commit = async (): Promise<void> => {
      if (handled === undefined || handled === committed) return;
      const offset = handled;
      await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(offset) + 1n).toString() }]);
      committed = offset;
      lastCommitAt = Date.now();
    };
    try {
      for (let i = 0; i < batch.messages.length; i += this.o.maxBatch) {
        if (!alive()) return;
        const chunk = batch.messages.slice(i, i + this.o.maxBatch);
        const done = await this.processChunk(batch.topic, batch.partition, chunk, heartbeat, alive);
        if (!done) return; // stopping: the rest stays uncommitted and comes back
        handled = chunk[chunk.length - 1]!.offset;
        resolveOffset(handled);
        if (Date.now() - lastCommitAt >= 1_000) await commit();
        await heartbeat();
      }
    } finally {
      if (this.running) await commit().catch(() => undefined);
    }
  }

  private async processChunk(topic: string, partition: number, chunk: readonly KafkaMessage[], heartbeat: () => Promise<void>, alive: () => boolean): Promise<boolean> {
    this.stats.received += chunk.length;
    const parsed = chunk.map((m) => this.parse(m));
    for (const p of parsed) if (p.problem) await this.deadLetter(topic, partition, p.message, p.problem, 0, 'invalid-record');
    const good = parsed.filter((p): p is Parsed & { record: AuditRecord } => p.record !== undefined);
    if (good.length === 0) return true;
    let failures = 0;
    let infra = 0;
    for (;;) {
      try {
        await this.commitRecords(good.map((g) => g.record));
        return true;
      } catch (err) {
        const cause = err instanceof HandlerFailure ? err.original : err;
        if (!(err instanceof HandlerFailure) || isTransientInfrastructureError(cause)) {
          infra++;
          const delay = backoffDelay({ ...this.retry, maxMs: Math.max(this.retry.maxMs, 5_000) }, infra);
          this.o.logger.warn({ partition, records: good.length, errorClass: errorClass(cause), code: codeOf(cause), retryInMs: delay }, 'ledger transaction failed; retrying');
          if (!(await this.pause(delay, heartbeat, alive))) return false;
          continue;
        }
        failures++;
        if (failures < this.retry.attempts) {
          const delay = backoffDelay(this.retry, failures);
          this.o.logger.warn({ partition, records: good.length, errorClass: errorClass(cause), code: codeOf(cause), attempt: failures, retryInMs: delay }, 'ledger append failed; retrying');
          if (!(await this.pause(delay, heartbeat, alive))) return false;
          continue;
        }
        if (good.length === 1) {
          await this.deadLetter(topic, partition, good[0]!.message, errorClass(cause), failures, 'handler-failed', good[0]!.record.id);
          return true;
        }
        // Isolate the poison record: one transaction per record, each with its own retries.
        for (const g of good) {
          if (!(await this.processChunk(topic, partition, [g.message], heartbeat, alive))) return false;
          this.stats.received--;
        }
        return true;
      }
    }
  }

  private async commitRecords(records: readonly AuditRecord[]): Promise<void> {
    const started = performance.now();
    const appended = await this.o.db.transaction(async (tx) => {
      try {
        return await this.o.handler(records, tx);
      } catch (err) {
        throw new HandlerFailure(err);
      }
    });
    let fresh = records;
    if (appended.length !== records.length) {
      const ids = new Set(appended.map((e) => e.recordId));
      fresh = records.filter((r) => ids.delete(r.id));
    }
    batchSeconds.observe({ size: sizeBucket(records.length) }, (performance.now() - started) / 1000);
    this.stats.batches++;
    this.stats.appended += fresh.length;
    this.stats.duplicates += records.length - fresh.length;
    consumed.inc({ outcome: 'appended' }, fresh.length);
    if (records.length > fresh.length) consumed.inc({ outcome: 'duplicate' }, records.length - fresh.length);
    if (fresh.length > 0) this.o.afterCommit?.(fresh);
  }

  private parse(message: KafkaMessage): Parsed {
    let data: unknown;
    try {
      data = parseEnvelope(message.value).data;
    } catch {
      return { message, problem: 'invalid-envelope' };
    }
    const problems = auditRecordProblems(data);
    if (problems.length > 0) {
      this.o.logger.error({ offset: message.offset, problems }, 'not an audit record v1; dead-lettered');
      return { message, problem: 'invalid-record' };
    }
    const { record, redacted } = redactRecord(data as AuditRecord);
    if (redacted.length > 0) {
      this.stats.redacted++;
      consumed.inc({ outcome: 'redacted' });
      this.o.logger.error({ recordId: record.id, source: record.source, fields: redacted }, 'audit record carried sensitive fields; their values were redacted before chaining');
    }
    return { message, record };
  }

  private async pause(ms: number, heartbeat: () => Promise<void>, alive: () => boolean): Promise<boolean> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (!alive()) return false;
      await new Promise((r) => setTimeout(r, Math.min(500, Math.max(0, until - Date.now()))));
      await heartbeat();
    }
    return alive();
  }

  private async deadLetter(topic: string, partition: number, message: KafkaMessage, errClass: string, attempts: number, reason: string, recordId?: string): Promise<void> {
    const producer = this.producer;
    if (!producer) throw new Error('consumer not started');
    const headers: IHeaders = {
      ...(message.headers ?? {}),
      [DLQ_HEADERS.originalTopic]: topic,
      [DLQ_HEADERS.originalPartition]: String(partition),
      [DLQ_HEADERS.originalOffset]: message.offset,
      [DLQ_HEADERS.errorClass]: errClass,
      [DLQ_HEADERS.attempts]: String(attempts),
      [DLQ_HEADERS.consumer]: this.consumerName,
      [DLQ_HEADERS.time]: new Date().toISOString(),
    };
    await producer.send({ topic: this.deadLetterTopic, acks: -1, messages: [{ key: message.key, value: message.value, headers }] });
    this.stats.deadLettered++;
    consumed.inc({ outcome: 'dead-lettered' });
    this.o.logger.error({ recordId, partition, offset: message.offset, attempts, reason, deadLetterTopic: this.deadLetterTopic }, 'audit message sent to the dead-letter topic');
  }
}

function errorClass(err: unknown): string {
  if (err instanceof Error) return err.constructor.name || err.name;
  return typeof err;
}

function codeOf(err: unknown): string | undefined {
  const c = (err as { code?: unknown } | null)?.code;
  return typeof c === 'string' ? c : undefined;
}
