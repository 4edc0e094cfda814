import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { ContractError, lifecycleContracts, type Envelope } from '#libs/contracts';
import type { EventStore } from '#libs/eventstore';
import { InboxConsumer } from '#libs/messaging';
import { counter, type Database, type Sql } from '#libs/platform';
import type { LifecycleEventObserved } from '../../domain/audit.events.js';

const preContract = counter('keyledger_audit_precontract_events_total', 'Lifecycle events skipped because they predate their contract version and cannot be upcast', ['type']);

/** A message of a contract version older than the current one: counted, not stored. */
const PRE_CONTRACT = 'pre-contract';

/**
 * Observes the vault and crypto services' lifecycle events (libs/messaging InboxConsumer, one
 * per topic) and keeps those that are object lifecycle contracts (libs/contracts, by type;
 * metadata only, never values or key material) in audit's own event store
 * (`LifecycleEventObserved`), from where the object-state projection folds them. A message
 * at a version older than its contract that no upcaster lifts (published before contracts)
 * is skipped and counted; an invalid one, or one at an unknown newer version, fails and is
 * dead-lettered by the inbox consumer. Topics that do not exist yet (their service has not started) are
 * looked for again every `retryMs`; the audit service never creates another service's topic.
 */
export class LifecycleEventsConsumer {
  private readonly consumers = new Map<string, InboxConsumer>();
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(
    private readonly o: { kafka: Kafka; db: Database; store: EventStore; topics: readonly string[]; groupPrefix: string; logger: Logger; retryMs?: number },
  ) {}

  start(): void {
    void this.attach();
    this.timer = setInterval(() => void this.attach(), this.o.retryMs ?? 15_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await Promise.allSettled([...this.consumers.values()].map((c) => c.stop()));
  }

  get attached(): readonly string[] {
    return [...this.consumers.keys()];
  }

  private async attach(): Promise<void> {
    const missing = this.o.topics.filter((t) => !this.consumers.has(t));
    if (missing.length === 0 || this.stopped) {
      if (this.timer && missing.length === 0) clearInterval(this.timer);
      return;
    }
    let existing: string[];
    try {
      const admin = this.o.kafka.admin();
      await admin.connect();
      try {
        existing = await admin.listTopics();
      } finally {
        await admin.disconnect();
      }
    } catch (err) {
      this.o.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'cannot list Kafka topics; lifecycle events wait');
      return;
    }
    for (const topic of missing.filter((t) => existing.includes(t))) {
      const consumer = new InboxConsumer({
        kafka: this.o.kafka,
        db: this.o.db,
        topic,
        group: `${this.o.groupPrefix}-lifecycle-${topic}`,
        consumerName: `${this.o.groupPrefix}-lifecycle`,
        logger: this.o.logger,
        handler: (env, tx) => this.observe(env, tx),
        // A fetched group's lifecycle events in two statements (see appendEachAnyInTransaction).
        groupHandler: (messages, tx) => this.observeAll(messages.map((m) => m.envelope), tx),
      });
      this.consumers.set(topic, consumer);
      consumer.start().catch((err: unknown) => {
        this.consumers.delete(topic);
        this.o.logger.warn({ topic, err: err instanceof Error ? err.message : String(err) }, 'lifecycle consumer failed to start; retrying later');
      });
    }
  }

  /** Stores a lifecycle contract message (other types are only marked handled). */
  async observe(env: Envelope, tx: Sql): Promise<void> {
    const append = this.observed(env);
    if (append === PRE_CONTRACT) preContract.inc({ type: env.type });
    else if (append) await this.o.store.appendInTransaction(tx, append.streamId, 'any', append.events, { metadata: append.metadata, outbox: false });
  }

  /** What `observe` does for each message in order, in two statements for all of them. */
  async observeAll(envs: readonly Envelope[], tx: Sql): Promise<void> {
    const appends: ObservedAppend[] = [];
    const older: string[] = [];
    for (const env of envs) {
      const append = this.observed(env);
      if (append === PRE_CONTRACT) older.push(env.type);
      else if (append) appends.push(append);
    }
    if (appends.length > 0) await this.o.store.appendEachAnyInTransaction(tx, appends);
    // Counted once the group's statement succeeded: a group that fails goes again message by message (`observe`).
    for (const type of older) preContract.inc({ type });
  }

  /** The append that records a lifecycle contract message; PRE_CONTRACT for a version older than the contract, undefined for other types. */
  private observed(env: Envelope): ObservedAppend | typeof PRE_CONTRACT | undefined {
    // By contract type and the service that owns it: a same-named private event of another service is not it.
    if (!lifecycleContracts.publishes(env.source, env.type)) return undefined;
    let message;
    try {
      message = lifecycleContracts.parse(env.type, env.schemaVersion, env.data);
    } catch (err) {
      if (err instanceof ContractError && err.code === 'UnknownContractVersion' && env.schemaVersion < lifecycleContracts.contract(env.type).schemaVersion) {
        return PRE_CONTRACT;
      }
      throw err;
    }
    const event: LifecycleEventObserved = {
      type: 'LifecycleEventObserved',
      data: { eventId: env.id, source: env.source, subject: env.subject, tenant: env.tenant, time: env.time, message },
    };
    return {
      streamId: `observed-${env.source}-${env.subject}`,
      events: [event],
      metadata: { actor: env.source, tenant: env.tenant, correlationId: env.correlationId, time: env.time },
    };
  }
}

type ObservedAppend = {
  readonly streamId: string;
  readonly events: readonly LifecycleEventObserved[];
  readonly metadata: { readonly actor: string; readonly tenant: string; readonly correlationId: string; readonly time: string };
};
