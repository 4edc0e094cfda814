import { join } from 'node:path';
import { Inject, Injectable, Module, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { EventRegistry } from '#libs/kernel';
import { AUDIT_WRITER, EVENT_STORE, registerLifecycleEvents, SpineModule, type AuditWriter, type EventStore } from '#libs/eventstore';
import { serviceEventsTopic } from '#libs/contracts';
import { ensureTopics } from '#libs/messaging';
import { LOGGER, REPO_ROOT, RuntimeModule, type ServiceRuntime } from '#libs/platform';
import type { Logger } from 'pino';
import { AUDIT_COMPONENTS, buildAuditComponents, type AuditComponents } from './audit.components.js';
import type { AuditConfig } from './config/audit.config.js';
import { registerAuditEvents } from './domain/audit.events.js';

/** Starts the background workers once the app is up, each retried until its dependency answers; stops them on shutdown. */
@Injectable()
class AuditWorkers implements OnApplicationBootstrap, OnApplicationShutdown {
  private stopping = false;

  constructor(
    @Inject(AUDIT_COMPONENTS) private readonly c: AuditComponents,
    @Inject(LOGGER) private readonly logger: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const c = this.c;
    // The signing key is resolved on first use (the crypto service may start after audit).
    this.retry('checkpoint signer', () => c.signer.init());
    this.retry('rbac', () => c.rbac.start());
    this.retry('ledger consumer', () => c.consumer.start());
    c.lifecycle.start();
    c.recordsIndexer.start();
    c.objectIndexer.start();
    this.retry('object-state projection', () => c.objectState.start());
    c.checkpoints.start();
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopping = true;
    const c = this.c;
    await c.consumer.stop();
    await Promise.allSettled([c.lifecycle.stop(), c.rbac.stop(), c.objectState.stop(), c.checkpoints.stop()]);
    await Promise.allSettled([c.recordsIndexer.stop(), c.objectIndexer.stop()]);
    c.cryptoClient.close();
  }

  private retry(what: string, start: () => Promise<void>, attempt = 1): void {
    start().catch((err: unknown) => {
      if (this.stopping) return;
      const delay = Math.min(10_000, 250 * 2 ** Math.min(attempt, 6));
      this.logger.warn({ err: err instanceof Error ? err.message : String(err), retryInMs: delay }, `${what} failed to start; retrying`);
      setTimeout(() => this.retry(what, start, attempt + 1), delay).unref();
    });
  }
}

@Module({})
export class AuditModule {
  static async register(runtime: ServiceRuntime<AuditConfig>): Promise<DynamicModule> {
    const registry = registerAuditEvents(registerLifecycleEvents(new EventRegistry()));
    // The published copy of every signed checkpoint is kept forever (created before the relay
    // could auto-create it with the broker's finite default retention).
    await (async () => ensureTopics(await runtime.admin(), [serviceEventsTopic(runtime.service)], { partitions: 1, configEntries: [{ name: 'retention.ms', value: '-1' }] }))().catch((err: unknown) =>
      runtime.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'audit events topic not created yet (Kafka unreachable)'),
    );
    const spine = await SpineModule.forService(runtime, registry);
    await runtime.db.migrate(join(REPO_ROOT, 'apps', 'audit', 'migrations'));
    return {
      module: AuditModule,
      imports: [RuntimeModule.forRoot(runtime), spine],
      providers: [
        {
          provide: AUDIT_COMPONENTS,
          inject: [EVENT_STORE, AUDIT_WRITER],
          useFactory: (store: EventStore, writer: AuditWriter) => buildAuditComponents(runtime, store, writer),
        },
        AuditWorkers,
      ],
      exports: [AUDIT_COMPONENTS],
    };
  }
}
