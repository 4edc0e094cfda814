import type { Consumer, EachBatchPayload, IHeaders, Kafka, KafkaMessage, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import { deadLetterTopic, parseEnvelope, type Envelope } from '#libs/contracts';
import { counter, createLogger, type Database, type Sql } from '#libs/platform';
import { ConsumerSupervisor, startWithDeadLetterProducer, type ConsumerStatus, type SupervisionOptions } from './consumer.supervisor.js';
import { backoffDelay, isTransientInfrastructureError, retryPolicy, type RetryPolicy } from './retry.policy.js';
import { ensureTopics } from './topics.admin.js';

/** Where a message came from and which attempt this is; never carries the payload. */
export type InboxMessageContext = {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  /** 1 on the first delivery to the handler, 2 on the first retry, … */
  readonly attempt: number;
  readonly headers: Readonly<IHeaders>;
};

/** Runs inside the transaction that records the event id in the inbox: its writes commit with it or not at all. */
export type InboxHandler = (envelope: Envelope, tx: Sql, context: InboxMessageContext) => Promise<void>;

/**
 * Handles the fresh messages of a group at once, inside the group's transaction: it must have
 * the effect of `handler` on each message in order (their contexts say attempt 1).
 */
export type InboxGroupHandler = (messages: readonly { readonly envelope: Envelope; readonly context: InboxMessageContext }[], tx: Sql) => Promise<void>;

export type InboxConsumerOptions = {
  readonly kafka: Kafka;
  /** The consuming service's database; its schema holds the `inbox` table (spine DDL). */
  readonly db: Database;
  readonly topic: string;
  /** Kafka consumer group; also names the dead-letter topic. */
  readonly group: string;
  readonly handler: InboxHandler;
  /** Name recorded in the inbox (default: the group). Two consumers with one name share dedupe. */
  readonly consumerName?: string;
  readonly logger?: Logger;
  readonly retry?: Partial<RetryPolicy>;
  /** Where a group without committed offsets starts (default: the beginning, so nothing is missed). */
  readonly fromBeginning?: boolean;
  /** Create the dead-letter topic at start (default true; needs topic-create rights). */
  readonly ensureDeadLetterTopic?: boolean;
  readonly partitionsConsumedConcurrently?: number;
  /**
   * Most messages of one fetched batch handled in one transaction (default 256; 1 turns grouping
   * off). Their inbox rows go in one statement, their handlers run one after the other in
   * message order, and one offset commit follows the transaction. Any failure rolls the group
   * back: the messages before the failing one are grouped again, the failing one goes alone
   * through the retry and dead-letter path (its failed run in the group is its first attempt).
   */
  readonly maxGroup?: number;
  /**
   * Optional: a group's messages in one call (fewer statements than one handler call each).
   * Should it throw, the group's transaction is rolled back and the group runs again through
   * `handler`, message by message, which finds the failing message and gives it the usual
   * retry and dead-letter path; a failure of the group handler counts as no attempt.
   */
  readonly groupHandler?: InboxGroupHandler;
  readonly sessionTimeoutMs?: number;
  /** Restart backoff and stall watchdog of the consumer's supervisor (see ConsumerSupervisor). */
  readonly supervision?: SupervisionOptions;
};

export type InboxConsumerStats = {
  /** Messages taken from Kafka (including redeliveries). */
  received: number;
  /** Handled and committed once. */
  handled: number;
  /** Skipped because the inbox already had the event id. */
  duplicates: number;
  /** Handler failures that were retried. */
  retries: number;
  /** Sent to the dead-letter topic. */
  deadLettered: number;
};

export type MessageOutcome = 'handled' | 'duplicate' | 'dead-lettered';

/** How a group of messages fared (see `processGroup`). */
type GroupOutcome =
  | { readonly kind: 'committed'; readonly count: number }
  | { readonly kind: 'not-grouped' }
  | { readonly kind: 'handler-failed'; readonly index: number; readonly error: unknown };

/** Headers the dead-letter copy carries next to the original message's own headers. */
export const DLQ_HEADERS = {
  originalTopic: 'dlq-original-topic',
  originalPartition: 'dlq-original-partition',
  originalOffset: 'dlq-original-offset',
  errorClass: 'dlq-error-class',
  errorCode: 'dlq-error-code',
  attempts: 'dlq-attempts',
  consumer: 'dlq-consumer',
  time: 'dlq-time',
} as const;

const messagesTotal = counter('keyledger_consumer_messages_total', 'Kafka messages processed by inbox consumers, by outcome', ['consumer', 'topic', 'outcome']);
const retriesTotal = counter('keyledger_consumer_retries_total', 'Handler failures retried by inbox consumers', ['consumer', 'topic']);
const deadLettersTotal = counter('keyledger_consumer_dead_letters_total', 'Messages sent to a dead-letter topic', ['consumer', 'topic', 'reason']);

/** The handler (not the inbox bookkeeping around it) threw. */
class HandlerFailure extends Error {
  constructor(readonly original: unknown) {
    super('handler failed');
    this.name = 'HandlerFailure';
  }
}

/**
 * A Kafka consumer with exactly-once *effect*.
 *
 * For each message: parse the envelope; in one PostgreSQL transaction insert
 * (consumer, event id) into the inbox — a conflict means the event was already handled, so
 * it is skipped — then run the handler; only after that transaction commits is the Kafka
 * offset committed (offset + 1). A crash anywhere before the offset commit redelivers the
 * message and the inbox turns the redelivery into a no-op.
 *
 * Messages fetched together are handled together: up to `maxGroup` of them in one transaction
 * (one inbox statement, the handlers in order, one COMMIT) and one offset commit after it, so
 * a burst costs one fsync and one Kafka round trip instead of one per message. A group that
 * fails is rolled back as a whole and its messages are retried as described below, so grouping
 * changes the cost, never the outcome.
 *
 * A failing handler is retried with exponential backoff; after `attempts` failures, or at
 * once when the message is not a valid envelope, the message is copied to the dead-letter
 * topic (`deadLetterTopic(topic, group)`) with its origin and the error class in headers,
 * counted, logged without payload, and its offset committed. Database outages are retried
 * without counting: they never dead-letter a healthy message.
 *
 * The kafkajs consumer runs under a ConsumerSupervisor: whatever brings it down (a crash
 * kafkajs would not restart, a stop, a stall) it is restarted with backoff, and `health()`
 * reports it degraded until it has rejoined its group.
 */
export class InboxConsumer {
  readonly topic: string;
  readonly group: string;
  readonly consumerName: string;
  readonly deadLetterTopic: string;
  readonly stats: InboxConsumerStats = { received: 0, handled: 0, duplicates: 0, retries: 0, deadLettered: 0 };
  private readonly retry: RetryPolicy;
  private readonly logger: Logger;
  private readonly supervisor: ConsumerSupervisor;
  private producer: Producer | undefined;
  private running = false;
  private started = false;
  private readonly maxGroup: number;

  constructor(private readonly options: InboxConsumerOptions) {
    this.topic = options.topic;
    this.group = options.group;
    this.consumerName = options.consumerName ?? options.group;
    this.deadLetterTopic = deadLetterTopic(options.topic, options.group);
    this.retry = retryPolicy(options.retry);
    this.maxGroup = Math.max(1, Math.floor(options.maxGroup ?? 256));
    this.logger = (options.logger ?? createLogger('messaging')).child({ consumer: this.consumerName, topic: this.topic });
    this.supervisor = new ConsumerSupervisor({
      ...options.supervision,
      kafka: options.kafka,
      name: this.consumerName,
      logger: this.logger,
      config: {
        groupId: this.group,
        allowAutoTopicCreation: false,
        sessionTimeout: options.sessionTimeoutMs ?? 30_000,
        maxWaitTimeInMs: 1_000,
        retry: { retries: 10 },
      },
      topics: [this.topic],
      fromBeginning: options.fromBeginning ?? true,
      run: (consumer) => ({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: options.partitionsConsumedConcurrently ?? 1,
        eachBatch: (payload) => this.eachBatch(payload, consumer),
      }),
    });
  }

  /** Started and not stopped (the Kafka connection itself may be down meanwhile: see `health()`). */
  get isRunning(): boolean {
    return this.running;
  }

  /** The supervised kafkajs consumer: state, restarts, last failure. */
  get status(): ConsumerStatus {
    return this.supervisor.status;
  }

  /** For /health: throws (degraded) while the consumer is disconnected and being restarted. */
  health(): string {
    if (!this.running) throw new Error('not running');
    return `${this.supervisor.health()}; ${this.stats.handled} handled, ${this.stats.deadLettered} dead-lettered`;
  }

  async start(): Promise<void> {
    if (this.running) return;
    const { kafka } = this.options;
    if (this.options.ensureDeadLetterTopic !== false) {
      const admin = kafka.admin();
      await admin.connect();
      try {
        await ensureTopics(admin, [this.deadLetterTopic]);
      } finally {
        await admin.disconnect();
      }
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
    this.started = true;
    this.logger.info({ group: this.group }, 'inbox consumer started');
  }

  /** Resolves once the consumer has joined its group (partitions assigned). */
  async ready(): Promise<void> {
    if (!this.started) throw new Error('consumer not started');
    await this.supervisor.ready();
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.supervisor.stop();
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = undefined;
    this.logger.info('inbox consumer stopped');
  }

  private async eachBatch({ batch, resolveOffset, heartbeat, isRunning, isStale }: EachBatchPayload, consumer: Consumer): Promise<void> {
    const alive = (): boolean => isRunning() && !isStale() && this.running;
    const { topic, partition, messages } = batch;
    let limit = this.maxGroup;
    // A handler that failed in a group: that failure is its first attempt when its turn comes.
    let failed: { readonly offset: string; readonly error: unknown } | undefined;
    let i = 0;
    while (i < messages.length) {
      if (!alive()) return;
      const take = Math.min(limit, messages.length - i);
      limit = this.maxGroup;
      let done = 0;
      let firstFailure: { error: unknown } | undefined;
      if (failed && failed.offset === (messages[i] as KafkaMessage).offset) {
        firstFailure = { error: failed.error };
        failed = undefined;
      } else if (take > 1) {
        const group = await this.processGroup(topic, partition, messages.slice(i, i + take));
        if (group.kind === 'committed') done = group.count;
        else if (group.kind === 'handler-failed' && group.index > 0) {
          limit = group.index; // the messages before the failing one, grouped again
          failed = { offset: (messages[i + group.index] as KafkaMessage).offset, error: group.error };
          continue;
        } else if (group.kind === 'handler-failed') firstFailure = { error: group.error };
      }
      if (done === 0) {
        // One message on its own: the first of a group that could not commit, or a batch of one.
        const outcome = await this.process(topic, partition, messages[i] as KafkaMessage, heartbeat, alive, firstFailure);
        if (outcome === undefined) return; // stopping: leave the offset uncommitted, the message comes back
        done = 1;
      }
      const last = messages[i + done - 1] as KafkaMessage;
      resolveOffset(last.offset);
      await consumer.commitOffsets([{ topic, partition, offset: (BigInt(last.offset) + 1n).toString() }]);
      await heartbeat();
      i += done;
    }
  }

  /**
   * Handles consecutive messages in one transaction. Stops before the first message that is
   * not a valid envelope (it goes alone, to the dead-letter topic); a group of fewer than two
   * is left to `process`. Any failure rolls back the whole group and says where it happened.
   */
  private async processGroup(topic: string, partition: number, messages: readonly KafkaMessage[]): Promise<GroupOutcome> {
    const envelopes: Envelope[] = [];
    for (const message of messages) {
      try {
        envelopes.push(parseEnvelope(message.value));
      } catch {
        break;
      }
    }
    if (envelopes.length < 2) return { kind: 'not-grouped' };
    if (this.options.groupHandler) {
      const outcome = await this.processGroupAtOnce(this.options.groupHandler, topic, partition, messages, envelopes);
      if (outcome) return outcome;
    }
    let at = -1;
    try {
      const handled = await this.options.db.transaction(async (tx) => {
        const fresh = await this.freshOfGroup(tx, topic, partition, messages, envelopes);
        for (const f of fresh) {
          at = f.index;
          await this.options.handler(f.envelope, tx, f.context);
        }
        at = -1;
        return fresh.length;
      });
      this.countGroup(topic, envelopes.length, handled);
      return { kind: 'committed', count: envelopes.length };
    } catch (err) {
      // `at` is the message whose handler threw; -1: the inbox statement or the COMMIT failed.
      if (at < 0 || isTransientInfrastructureError(err)) return { kind: 'not-grouped' };
      return { kind: 'handler-failed', index: at, error: err };
    }
  }

  /**
   * A group through the group handler, in one transaction; undefined when it failed (rolled
   * back: the group goes through the message-by-message path, which tells which one failed).
   */
  private async processGroupAtOnce(
    groupHandler: InboxGroupHandler,
    topic: string,
    partition: number,
    messages: readonly KafkaMessage[],
    envelopes: readonly Envelope[],
  ): Promise<GroupOutcome | undefined> {
    try {
      const handled = await this.options.db.transaction(async (tx) => {
        const fresh = await this.freshOfGroup(tx, topic, partition, messages, envelopes);
        if (fresh.length > 0) await groupHandler(fresh, tx);
        return fresh.length;
      });
      this.countGroup(topic, envelopes.length, handled);
      return { kind: 'committed', count: envelopes.length };
    } catch (err) {
      this.logger.debug({ errorClass: errorClass(err), partition, messages: envelopes.length }, 'group handler failed; the group goes message by message');
      return undefined;
    }
  }

  /**
   * Records a group's event ids in the inbox (one statement) and returns the messages seen for
   * the first time, in order, with their contexts (attempt 1). An id twice in the group (a
   * redelivery fetched with the first copy) counts once: its first copy.
   */
  private async freshOfGroup(
    tx: Sql,
    topic: string,
    partition: number,
    messages: readonly KafkaMessage[],
    envelopes: readonly Envelope[],
  ): Promise<{ readonly index: number; readonly envelope: Envelope; readonly context: InboxMessageContext }[]> {
    const fresh = new Set(
      (
        await tx.query<{ event_id: string }>(
          `INSERT INTO ${this.options.db.schema}.inbox (consumer, event_id) SELECT $1, id FROM unnest($2::text[]) AS u(id) ON CONFLICT DO NOTHING RETURNING event_id`,
          [this.consumerName, envelopes.map((e) => e.id)],
        )
      ).map((r) => r.event_id),
    );
    const out: { index: number; envelope: Envelope; context: InboxMessageContext }[] = [];
    envelopes.forEach((envelope, index) => {
      if (!fresh.delete(envelope.id)) return;
      const message = messages[index] as KafkaMessage;
      out.push({ index, envelope, context: { topic, partition, offset: message.offset, attempt: 1, headers: message.headers ?? {} } });
    });
    return out;
  }

  /** A committed group's counters: its messages, those handled, the duplicates among them. */
  private countGroup(topic: string, received: number, handled: number): void {
    this.stats.received += received;
    this.stats.handled += handled;
    this.stats.duplicates += received - handled;
    if (handled > 0) messagesTotal.inc({ consumer: this.consumerName, topic, outcome: 'handled' }, handled);
    if (received > handled) messagesTotal.inc({ consumer: this.consumerName, topic, outcome: 'duplicate' }, received - handled);
  }

  /**
   * Handles one message to a final outcome, or returns undefined when the consumer stops meanwhile.
   * `firstFailure`: its handler already failed once (in a group that was rolled back); that
   * counts as its first attempt.
   */
  private async process(
    topic: string,
    partition: number,
    message: KafkaMessage,
    heartbeat: () => Promise<void>,
    alive: () => boolean,
    firstFailure?: { readonly error: unknown },
  ): Promise<MessageOutcome | undefined> {
    this.stats.received++;
    let envelope: Envelope;
    try {
      envelope = parseEnvelope(message.value);
    } catch (err) {
      await this.deadLetter(topic, partition, message, err, 0, 'invalid-envelope');
      return 'dead-lettered';
    }
    let failures = 0;
    let infraFailures = 0;
    if (firstFailure) {
      const retried = await this.afterHandlerFailure(topic, partition, message, envelope, firstFailure.error, ++failures, heartbeat, alive);
      if (retried !== 'retry') return retried;
    }
    for (;;) {
      const attempt = failures + 1;
      try {
        const outcome = await this.options.db.transaction(async (tx) => {
          const fresh = await tx.query(
            `INSERT INTO ${this.options.db.schema}.inbox (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1 AS fresh`,
            [this.consumerName, envelope.id],
          );
          if (fresh.length === 0) return 'duplicate' as const;
          try {
            await this.options.handler(envelope, tx, { topic, partition, offset: message.offset, attempt, headers: message.headers ?? {} });
          } catch (err) {
            throw new HandlerFailure(err);
          }
          return 'handled' as const;
        });
        if (outcome === 'duplicate') this.stats.duplicates++;
        else this.stats.handled++;
        messagesTotal.inc({ consumer: this.consumerName, topic, outcome });
        return outcome;
      } catch (err) {
        const cause = err instanceof HandlerFailure ? err.original : err;
        if (!(err instanceof HandlerFailure) || isTransientInfrastructureError(cause)) {
          // The database (not the message) is the problem: wait and retry, never dead-letter.
          infraFailures++;
          const delay = backoffDelay({ ...this.retry, maxMs: Math.max(this.retry.maxMs, 5_000) }, infraFailures);
          this.logger.warn({ eventId: envelope.id, partition, offset: message.offset, errorClass: errorClass(cause), retryInMs: delay }, 'inbox transaction failed; retrying');
          if (!(await this.pause(delay, heartbeat, alive))) return undefined;
          continue;
        }
        const retried = await this.afterHandlerFailure(topic, partition, message, envelope, cause, ++failures, heartbeat, alive);
        if (retried !== 'retry') return retried;
      }
    }
  }

  /** After the handler's `failures`-th failure: dead-letters the message, or waits to retry it ('retry'; undefined when stopping meanwhile). */
  private async afterHandlerFailure(
    topic: string,
    partition: number,
    message: KafkaMessage,
    envelope: Envelope,
    cause: unknown,
    failures: number,
    heartbeat: () => Promise<void>,
    alive: () => boolean,
  ): Promise<'retry' | 'dead-lettered' | undefined> {
    if (failures >= this.retry.attempts) {
      await this.deadLetter(topic, partition, message, cause, failures, 'handler-failed', envelope.id);
      return 'dead-lettered';
    }
    this.stats.retries++;
    retriesTotal.inc({ consumer: this.consumerName, topic });
    const delay = backoffDelay(this.retry, failures);
    this.logger.warn({ eventId: envelope.id, type: envelope.type, partition, offset: message.offset, attempt: failures, errorClass: errorClass(cause), retryInMs: delay }, 'handler failed; retrying');
    if (!(await this.pause(delay, heartbeat, alive))) return undefined;
    return 'retry';
  }

  /** Sleeps in short slices, heartbeating so a long backoff does not cost the partition. */
  private async pause(ms: number, heartbeat: () => Promise<void>, alive: () => boolean): Promise<boolean> {
    const until = Date.now() + ms;
    while (Date.now() < until) {
      if (!alive()) return false;
      await sleep(Math.min(500, until - Date.now()));
      await heartbeat();
    }
    return alive();
  }

  private async deadLetter(topic: string, partition: number, message: KafkaMessage, err: unknown, attempts: number, reason: 'invalid-envelope' | 'handler-failed', eventId?: string): Promise<void> {
    const producer = this.producer;
    if (!producer) throw new Error('consumer not started');
    const code = (err as { code?: unknown } | null)?.code;
    const headers: IHeaders = {
      ...(message.headers ?? {}),
      [DLQ_HEADERS.originalTopic]: topic,
      [DLQ_HEADERS.originalPartition]: String(partition),
      [DLQ_HEADERS.originalOffset]: message.offset,
      [DLQ_HEADERS.errorClass]: errorClass(err),
      [DLQ_HEADERS.attempts]: String(attempts),
      [DLQ_HEADERS.consumer]: this.consumerName,
      [DLQ_HEADERS.time]: new Date().toISOString(),
      ...(typeof code === 'string' ? { [DLQ_HEADERS.errorCode]: code } : {}),
    };
    await producer.send({ topic: this.deadLetterTopic, acks: -1, messages: [{ key: message.key, value: message.value, headers }] });
    this.stats.deadLettered++;
    deadLettersTotal.inc({ consumer: this.consumerName, topic, reason });
    messagesTotal.inc({ consumer: this.consumerName, topic, outcome: 'dead-lettered' });
    // Origin and error class only: payloads (and error messages, which may echo them) stay out of logs.
    this.logger.error(
      { eventId, partition, offset: message.offset, attempts, errorClass: errorClass(err), reason, deadLetterTopic: this.deadLetterTopic },
      'message sent to dead-letter topic',
    );
  }
}

function errorClass(err: unknown): string {
  if (err instanceof Error) return err.constructor.name || err.name;
  return typeof err;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
