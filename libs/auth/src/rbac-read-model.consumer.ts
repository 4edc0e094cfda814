import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { identityContracts } from '#libs/contracts';
import { ConsumerSupervisor, type ConsumerStatus } from '#libs/messaging';
import { isRbacEventType, InMemoryRoleAssignmentReadModel, type RbacChange } from './assignment.store.js';

/** The identity events a service's authorisation needs (envelope JSON on keyledger.identity.events.v1). */
export type IdentityTenant = { readonly tenantId: string; readonly name: string; readonly isDefault: boolean };

/** Minimal logger surface (pino-compatible); messages never carry event payloads. */
export type RbacConsumerLogger = {
  warn(fields: Record<string, unknown>, message: string): void;
  info(fields: Record<string, unknown>, message: string): void;
};

export type RbacReadModelConsumerOptions = {
  readonly kafka: Kafka;
  /** Default keyledger.identity.events.v1. */
  readonly topic?: string;
  /** Prefix of the throwaway consumer group (a fresh group per process: every start replays the topic). */
  readonly groupPrefix: string;
  readonly model?: InMemoryRoleAssignmentReadModel;
  /** A pino logger also gets the consumer supervisor's restart/recovery lines. */
  readonly logger?: RbacConsumerLogger | Logger;
};

/**
 * Keeps an in-memory RBAC read model (and the list of tenants) current from the identity
 * events topic, for services that authorise data actions (vault, crypto, audit).
 *
 * The topic keeps identity events forever, so each process replays it from the beginning
 * with a consumer group of its own and never commits offsets (the group disappears when the
 * process stops). The Kafka offset is the change's position: role-assignment events of one
 * assignment share a stream id, hence a message key and a partition, so their offsets grow in
 * event order — what `InMemoryRoleAssignmentReadModel.apply` needs to drop redeliveries and
 * keep deletions final. `ready()` resolves once the replay reached the end of the topic as it
 * was at start, so a service does not deny everything while it is still catching up.
 *
 * The kafkajs consumer runs under libs/messaging's ConsumerSupervisor: if Kafka goes away (or
 * kafkajs gives up on a crash) it is restarted with backoff — a model that silently stopped
 * following the topic would keep revoked role assignments alive — and `health()` reports it
 * degraded meanwhile.
 */
export class RbacReadModelConsumer {
  readonly model: InMemoryRoleAssignmentReadModel;
  readonly tenants = new Map<string, IdentityTenant>();
  readonly topic: string;
  private supervisor: ConsumerSupervisor | undefined;
  private caughtUp = false;
  private readonly waiters: (() => void)[] = [];
  private targets = new Map<number, bigint>();
  private applied = 0;

  constructor(private readonly options: RbacReadModelConsumerOptions) {
    this.model = options.model ?? new InMemoryRoleAssignmentReadModel();
    this.topic = options.topic ?? 'keyledger.identity.events.v1';
  }

  /** The identity service's default tenant, once its TenantCreated event was seen. */
  get defaultTenant(): string | undefined {
    for (const t of this.tenants.values()) if (t.isDefault) return t.tenantId;
    return undefined;
  }

  get isReady(): boolean {
    return this.caughtUp;
  }

  /** Events applied so far (for metrics and tests). */
  get appliedCount(): number {
    return this.applied;
  }

  /** For /health: throws while still replaying, and (degraded) while the consumer is disconnected and being restarted. */
  health(): string {
    if (!this.caughtUp) throw new Error('identity events not replayed yet');
    if (!this.supervisor) throw new Error('not running');
    return `${this.supervisor.health()}; ${this.applied} identity events applied`;
  }

  /** The supervised kafkajs consumer (undefined before start). */
  get status(): ConsumerStatus | undefined {
    return this.supervisor?.status;
  }

  async start(): Promise<void> {
    if (this.supervisor) return;
    const { kafka } = this.options;
    const admin = kafka.admin();
    await admin.connect();
    try {
      const topics = await admin.listTopics();
      if (topics.includes(this.topic)) {
        for (const p of await admin.fetchTopicOffsets(this.topic)) {
          const high = BigInt(p.high);
          const low = BigInt(p.low);
          if (high > low) this.targets.set(p.partition, high - 1n);
        }
      }
    } finally {
      await admin.disconnect();
    }
    if (this.targets.size === 0) this.markReady();
    const groupId = `${this.options.groupPrefix}-rbac-${randomUUID()}`;
    const logger = this.options.logger;
    const supervisor = new ConsumerSupervisor({
      kafka,
      name: groupId,
      ...(logger && isPino(logger) ? { logger: logger.child({ consumer: groupId }) } : {}),
      config: { groupId, allowAutoTopicCreation: false, maxWaitTimeInMs: 250, retry: { retries: 10 } },
      topics: [this.topic],
      fromBeginning: true,
      run: () => ({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          this.handle(message.value, BigInt(message.offset));
          const target = this.targets.get(partition);
          if (target !== undefined && BigInt(message.offset) >= target) {
            this.targets.delete(partition);
            if (this.targets.size === 0) this.markReady();
          }
        },
      }),
    });
    await supervisor.start();
    this.supervisor = supervisor;
  }

  /** Resolves true once caught up with the topic as it was at start, false after `timeoutMs`. */
  ready(timeoutMs = 10_000): Promise<boolean> {
    if (this.caughtUp) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  async stop(): Promise<void> {
    const supervisor = this.supervisor;
    this.supervisor = undefined;
    await supervisor?.stop();
  }

  /** Applies one identity event (envelope JSON). Exposed for tests; bad events are logged and skipped. */
  handle(value: Buffer | string | null, position: bigint): void {
    if (value === null) return;
    let env: { type?: unknown; id?: unknown; schemaVersion?: unknown; data?: unknown };
    try {
      env = JSON.parse(typeof value === 'string' ? value : value.toString('utf8')) as typeof env;
    } catch {
      this.options.logger?.warn({ topic: this.topic, position: position.toString() }, 'identity event is not JSON; skipped');
      return;
    }
    const type = typeof env.type === 'string' ? env.type : '';
    if (type !== 'TenantCreated' && !isRbacEventType(type)) return;
    try {
      // identity's contracts (libs/contracts): upcast to the current version, validated.
      const msg = identityContracts.parse(type, typeof env.schemaVersion === 'number' ? env.schemaVersion : NaN, env.data);
      if (msg.type === 'TenantCreated') {
        const tenantId = msg.data.tenantId.toLowerCase();
        this.tenants.set(tenantId, { tenantId, name: msg.data.name, isDefault: msg.data.isDefault });
      } else if (isRbacEventType(msg.type)) {
        this.model.apply({ type: msg.type, data: msg.data, position, ...(typeof env.id === 'string' ? { eventId: env.id } : {}) } as RbacChange);
      }
      this.applied++;
    } catch (err) {
      this.options.logger?.warn({ topic: this.topic, position: position.toString(), type, code: (err as { code?: unknown }).code }, 'identity event rejected; skipped');
    }
  }

  private markReady(): void {
    if (this.caughtUp) return;
    this.caughtUp = true;
    for (const w of this.waiters.splice(0)) w();
    this.options.logger?.info({ topic: this.topic, assignments: this.model.listAssignments().length, tenants: this.tenants.size }, 'RBAC read model caught up with the identity events');
  }
}

function isPino(logger: RbacConsumerLogger | Logger): logger is Logger {
  return typeof (logger as Partial<Logger>).child === 'function';
}
