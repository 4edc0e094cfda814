import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { parseEnvelope, TOPICS } from '#libs/contracts';
import { ConsumerSupervisor } from '#libs/messaging';
import { counter } from '#libs/platform';
import type { AccessControl } from '../../application/access/access-control.js';

const applied = counter('keyledger_vault_identity_events_total', 'Identity events applied to the vault access model, by outcome', ['outcome']);

/**
 * Feeds the vault's access model (tenants, role assignments) from the identity topic, read
 * from the beginning at every boot by a group of its own (each instance holds the whole
 * model; nothing is committed). The instance is ready once it has read up to the end the
 * topic had at start; later changes arrive within the fetch wait (100 ms). The kafkajs consumer
 * runs under libs/messaging's ConsumerSupervisor: after a broker outage (or a crash kafkajs
 * gives up on) it is restarted with backoff — a model that stopped following the topic would
 * keep revoked assignments in force — and `health()` says degraded meanwhile.
 */
export class IdentityEventsConsumer {
  readonly groupId = `keyledger-vault-access-${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  private supervisor: ConsumerSupervisor | undefined;
  private running = false;
  private caughtUp = false;
  private readonly pending = new Map<number, bigint>();
  private lastError: string | undefined;
  private readonly waiters: (() => void)[] = [];

  constructor(
    private readonly kafka: Kafka,
    private readonly admin: () => Promise<Admin>,
    private readonly access: AccessControl,
    private readonly logger: Logger,
    private readonly topic: string = TOPICS.identityEvents,
  ) {}

  get ready(): boolean {
    return this.caughtUp;
  }

  /** Starts in the background (the topic may not exist yet); `whenReady` resolves once caught up. */
  start(): void {
    if (this.running) return;
    this.running = true;
    void this.run();
  }

  whenReady(timeoutMs: number): Promise<boolean> {
    if (this.caughtUp) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** For /health: throws while still catching up, and (degraded) while the consumer is disconnected and being restarted. */
  health(): string {
    if (!this.caughtUp) throw new Error(`catching up on ${this.topic}${this.lastError ? `: ${this.lastError}` : ''}`);
    return `identity events applied (group ${this.groupId}); ${this.supervisor?.health() ?? 'consumer not running'}`;
  }

  async stop(): Promise<void> {
    this.running = false;
    const supervisor = this.supervisor;
    this.supervisor = undefined;
    await supervisor?.stop();
    try {
      await (await this.admin()).deleteGroups([this.groupId]);
    } catch {
      // An empty group expires on its own.
    }
  }

  private async run(): Promise<void> {
    for (let attempt = 1; this.running; attempt++) {
      try {
        await this.connect();
        return;
      } catch (err) {
        this.lastError = err instanceof Error ? err.message : String(err);
        if (attempt === 1 || attempt % 30 === 0) this.logger.warn({ err: this.lastError, topic: this.topic }, 'identity events not readable yet; retrying');
        await new Promise((r) => setTimeout(r, 1_000));
      }
    }
  }

  private async connect(): Promise<void> {
    const admin = await this.admin();
    const topics = await admin.listTopics();
    if (!topics.includes(this.topic)) throw new Error(`topic ${this.topic} does not exist yet (the identity service creates it)`);
    const offsets = await admin.fetchTopicOffsets(this.topic);
    for (const o of offsets) {
      const high = BigInt(o.high);
      if (high > BigInt(o.low)) this.pending.set(o.partition, high);
    }
    const supervisor = new ConsumerSupervisor({
      kafka: this.kafka,
      name: this.groupId,
      logger: this.logger,
      config: { groupId: this.groupId, maxWaitTimeInMs: 100, sessionTimeout: 30_000, allowAutoTopicCreation: false, retry: { retries: 10 } },
      topics: [this.topic],
      fromBeginning: true,
      run: () => ({
        autoCommit: false,
        eachMessage: async ({ partition, message }) => {
          try {
            const env = parseEnvelope(message.value);
            const outcome = this.access.apply(env.type, env.data, message.offset, env.id);
            applied.inc({ outcome });
          } catch (err) {
            // A poison event must not stop the model: counted and logged without payload.
            applied.inc({ outcome: 'invalid' });
            this.logger.error({ partition, offset: message.offset, err: err instanceof Error ? err.message : String(err) }, 'identity event could not be applied');
          }
          const target = this.pending.get(partition);
          if (target !== undefined && BigInt(message.offset) + 1n >= target) {
            this.pending.delete(partition);
            if (this.pending.size === 0) this.markCaughtUp();
          }
        },
      }),
    });
    if (this.pending.size === 0) this.markCaughtUp();
    await supervisor.start();
    if (!this.running) {
      await supervisor.stop(); // stopped while starting
      return;
    }
    this.supervisor = supervisor;
  }

  private markCaughtUp(): void {
    if (this.caughtUp) return;
    this.caughtUp = true;
    this.lastError = undefined;
    this.logger.info({ topic: this.topic, group: this.groupId }, 'access model caught up with identity events');
    for (const w of this.waiters.splice(0)) w();
  }
}
