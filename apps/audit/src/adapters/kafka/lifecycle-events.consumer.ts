import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import type { Envelope } from '#libs/contracts';
import type { EventStore } from '#libs/eventstore';
import { InboxConsumer } from '#libs/messaging';
import type { Database, Sql } from '#libs/platform';
import type { LifecycleEventObserved } from '../../domain/audit.events.js';
import { isObjectLifecycleEvent, lifecycleMetadata, type ObservedLifecycleEvent } from '../../domain/object-state.js';

/**
 * Observes the vault and crypto services' lifecycle events (libs/messaging InboxConsumer, one
 * per topic) and keeps the metadata of those about vault objects in audit's own event store
 * (`LifecycleEventObserved`, never values or key material), from where the object-state
 * projection folds them. Topics that do not exist yet (their service has not started) are
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
      });
      this.consumers.set(topic, consumer);
      consumer.start().catch((err: unknown) => {
        this.consumers.delete(topic);
        this.o.logger.warn({ topic, err: err instanceof Error ? err.message : String(err) }, 'lifecycle consumer failed to start; retrying later');
      });
    }
  }

  /** Stores the metadata of an event about a vault object (others are only marked handled). */
  async observe(env: Envelope, tx: Sql): Promise<void> {
    if (!isObjectLifecycleEvent(env.type)) return;
    const observed: ObservedLifecycleEvent = {
      source: env.source,
      type: env.type,
      subject: env.subject,
      tenant: env.tenant,
      time: env.time,
      data: lifecycleMetadata(env.data as Record<string, unknown>),
    };
    const event: LifecycleEventObserved = { type: 'LifecycleEventObserved', data: { ...observed, eventId: env.id, schemaVersion: env.schemaVersion } };
    await this.o.store.appendInTransaction(tx, `observed-${env.source}-${env.subject}`, 'any', [event], {
      metadata: { actor: env.source, tenant: env.tenant, correlationId: env.correlationId, time: env.time },
      outbox: false,
    });
  }
}
