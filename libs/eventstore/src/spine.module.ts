import { Global, Inject, Injectable, Module, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { ServiceRuntime } from '#libs/platform';
import { AuditWriter } from './audit-writer.js';
import { EventStore } from './event-store.js';
import { OutboxRelay } from './outbox-relay.js';
import type { EventRegistry } from '#libs/kernel';

export const EVENT_STORE = Symbol('keyledger.eventStore');
export const AUDIT_WRITER = Symbol('keyledger.auditWriter');
export const OUTBOX_RELAY = Symbol('keyledger.outboxRelay');

@Injectable()
class RelayLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(OUTBOX_RELAY) private readonly relay: OutboxRelay) {}
  async onApplicationBootstrap(): Promise<void> {
    await this.relay.start();
  }
  async onApplicationShutdown(): Promise<void> {
    await this.relay.stop();
  }
}

/**
 * The spine inside a service: its event store (schema created at boot), the audit writer
 * and the outbox relay, started with the app and stopped on shutdown.
 */
@Global()
@Module({})
export class SpineModule {
  static async forService(runtime: ServiceRuntime, registry: EventRegistry, options: { relay?: boolean } = {}): Promise<DynamicModule> {
    const store = new EventStore(runtime.db, registry, runtime.service);
    await store.init();
    const relay = new OutboxRelay(runtime.db, runtime.kafka, runtime.logger.child({ component: 'outbox-relay' }), { compression: runtime.config.OUTBOX_COMPRESSION });
    const providers = [
      { provide: EVENT_STORE, useValue: store },
      { provide: AUDIT_WRITER, useValue: new AuditWriter(runtime.db, runtime.service) },
      { provide: OUTBOX_RELAY, useValue: relay },
      ...(options.relay === false ? [] : [RelayLifecycle]),
    ];
    return { module: SpineModule, providers, exports: [EVENT_STORE, AUDIT_WRITER, OUTBOX_RELAY] };
  }
}
