import { Inject, Injectable, Module, type DynamicModule, type InjectionToken, type ModuleMetadata, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { DATABASE, KAFKA, LOGGER, type Database } from '#libs/platform';
import { InboxConsumer, type InboxConsumerOptions, type InboxHandler } from './inbox.consumer.js';

/** What every consumer of one service shares: its Kafka client, its database, its logger. */
export type MessagingConnections = { readonly kafka: Kafka; readonly db: Database; readonly logger?: Logger };

/** One consumer: topic, group, handler and optional tuning (retry, consumer name, …). */
export type ConsumerRegistration = Omit<InboxConsumerOptions, 'kafka' | 'db' | 'logger'>;

export const MESSAGING_CONNECTIONS = Symbol('keyledger.messaging.connections');
export const CONSUMER_REGISTRATIONS = Symbol('keyledger.messaging.registrations');

/**
 * Owns a service's inbox consumers: starts them when the application has bootstrapped
 * (every provider is ready, so handlers can use them) and disconnects them on shutdown.
 * Consumers registered after bootstrap start at once.
 */
@Injectable()
export class ConsumerHost implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly consumers: InboxConsumer[] = [];
  private started = false;

  constructor(
    @Inject(MESSAGING_CONNECTIONS) private readonly connections: MessagingConnections,
    @Inject(CONSUMER_REGISTRATIONS) registrations: readonly ConsumerRegistration[],
  ) {
    for (const r of registrations) this.add(r);
  }

  /** Registers a consumer of `topic` in `group`; returns it (started already if the host is). */
  register(topic: string, group: string, handler: InboxHandler, options: Omit<ConsumerRegistration, 'topic' | 'group' | 'handler'> = {}): InboxConsumer {
    const consumer = this.add({ ...options, topic, group, handler });
    if (this.started) void consumer.start().catch((err: unknown) => this.connections.logger?.error({ topic, group, errorClass: err instanceof Error ? err.name : typeof err }, 'consumer failed to start'));
    return consumer;
  }

  list(): readonly InboxConsumer[] {
    return this.consumers;
  }

  /** For /health: one line while every consumer is consuming; throws (degraded) naming those that are down. */
  health(): string {
    const down: string[] = [];
    for (const c of this.consumers) {
      try {
        c.health();
      } catch (err) {
        down.push(`${c.consumerName} (${c.topic}): ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (down.length > 0) throw new Error(down.join('; '));
    return `${this.consumers.length} consumer(s) consuming`;
  }

  async onApplicationBootstrap(): Promise<void> {
    this.started = true;
    await Promise.all(this.consumers.map((c) => c.start()));
  }

  async onApplicationShutdown(): Promise<void> {
    this.started = false;
    await Promise.allSettled(this.consumers.map((c) => c.stop()));
  }

  private add(r: ConsumerRegistration): InboxConsumer {
    const { kafka, db, logger } = this.connections;
    const consumer = new InboxConsumer({ ...r, kafka, db, ...(logger ? { logger } : {}) });
    this.consumers.push(consumer);
    return consumer;
  }
}

export type ForConsumersOptions = {
  readonly imports?: ModuleMetadata['imports'];
  /** Tokens handed to `useFactory` (the services whose methods handle the messages). */
  readonly inject?: readonly InjectionToken[];
  readonly useFactory: (...deps: never[]) => readonly ConsumerRegistration[] | Promise<readonly ConsumerRegistration[]>;
  /** Defaults to the platform's KAFKA, DATABASE and LOGGER providers (RuntimeModule). */
  readonly connections?: {
    readonly inject?: readonly InjectionToken[];
    readonly useFactory: (...deps: never[]) => MessagingConnections | Promise<MessagingConnections>;
  };
};

/**
 * `MessagingModule.forConsumers({ inject: [SecretsProjection], useFactory: (p) => [{ topic, group, handler: p.handle }] })`
 * wires a ConsumerHost whose consumers run for the application's lifetime.
 */
@Module({})
export class MessagingModule {
  static forConsumers(options: ForConsumersOptions): DynamicModule {
    const connections = options.connections ?? {
      inject: [KAFKA, DATABASE, LOGGER],
      useFactory: (kafka: Kafka, db: Database, logger: Logger): MessagingConnections => ({ kafka, db, logger }),
    };
    return {
      module: MessagingModule,
      imports: options.imports ?? [],
      providers: [
        { provide: MESSAGING_CONNECTIONS, inject: [...(connections.inject ?? [])], useFactory: connections.useFactory },
        { provide: CONSUMER_REGISTRATIONS, inject: [...(options.inject ?? [])], useFactory: options.useFactory },
        ConsumerHost,
      ],
      exports: [ConsumerHost],
    };
  }
}
