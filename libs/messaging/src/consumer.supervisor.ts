import type { Admin, Consumer, ConsumerConfig, ConsumerRunConfig, EachBatchPayload, EachMessagePayload, Kafka, Producer } from 'kafkajs';
import { Gauge } from 'prom-client';
import type { Logger } from 'pino';
import { counter, createLogger, kafkaInstanceOf, metricsRegistry, type KafkaInstance } from '#libs/platform';
import { deadIncarnationMembers, memberEvictor, type MemberEvictor } from './group-members.js';
import { backoffDelay, type RetryPolicy } from './retry.policy.js';

/**
 * idle: never started · starting: first generation connecting/joining · joined: consuming ·
 * recovering: the consumer went down (crash, unexpected stop, stall) and is being restarted ·
 * stopped: stopped on purpose.
 */
export type ConsumerState = 'idle' | 'starting' | 'joined' | 'recovering' | 'stopped';

/** Why a consumer was restarted (the `reason` label of keyledger_consumer_restarts_total). */
export type RestartReason = 'crash' | 'stop' | 'stall' | 'join-timeout';

/** Tuning of the supervision; the defaults suit the services. */
export type SupervisionOptions = {
  /** Delay before the first restart (default 500 ms); doubles per failed attempt. */
  readonly restartBaseMs?: number;
  /** Longest delay between restart attempts (default 5 s: a broker that is back is found soon). */
  readonly restartMaxMs?: number;
  /**
   * A joined consumer with lag on its partitions that has handled nothing for this long is
   * restarted — unless a handler is at work and the consumer still shows signs of life
   * (heartbeats, fetches): a handler retrying through a database outage is slow, not stalled.
   * A generation that has not joined its group after this long is restarted too. Default 60 s;
   * false disables the watchdog.
   */
  readonly stallTimeoutMs?: number | false;
  /** How often the watchdog looks (default 10 s, at most a quarter of the stall timeout). */
  readonly stallCheckIntervalMs?: number;
};

export type ConsumerSupervisorOptions = SupervisionOptions & {
  readonly kafka: Kafka;
  /** Names the consumer in logs and metrics. */
  readonly name: string;
  /** The kafkajs consumer configuration; `retry.restartOnFailure` belongs to the supervisor. */
  readonly config: ConsumerConfig;
  readonly topics: readonly string[];
  readonly fromBeginning: boolean;
  /** The run configuration of one generation: each (re)start uses a fresh kafkajs consumer, passed here. */
  readonly run: (consumer: Consumer) => ConsumerRunConfig;
  /** Used as given (bind the consumer's name yourself); default: a `messaging` logger naming the consumer. */
  readonly logger?: Logger;
};

export type ConsumerStatus = {
  readonly state: ConsumerState;
  /** Restarts since the process started. */
  readonly restarts: number;
  /** Since when the consumer is down (recovering), epoch ms. */
  readonly downSince?: number;
  /** Class (and root cause) of what brought it down last. */
  readonly lastError?: string;
};

const restartsTotal = counter('keyledger_consumer_restarts_total', 'Kafka consumers restarted by their supervisor, by reason', ['consumer', 'reason']);
const connected = gauge('keyledger_consumer_connected', 'Whether a Kafka consumer has joined its group and is consuming (1) or is down (0)', ['consumer']);

/** A stop event not followed by a crash event within this long is itself a failure. */
const STOP_WITHOUT_CRASH_GRACE_MS = 2_000;
/** Pause between attempts to remove an abandoned member while the coordinator cannot answer yet (loading the group after a restart). */
const EVICT_RETRY_BASE_MS = 250;
const EVICT_RETRY_MAX_MS = 2_000;

/**
 * Keeps a kafkajs consumer running for as long as it is meant to run.
 *
 * kafkajs (2.2.4) restarts a crashed consumer only when the error, or its root cause, is
 * retriable; any other crash — "Failed to find group coordinator" while a broker stops or
 * starts, a lock or request timeout surfacing as non-retriable, a TypeError in the run loop —
 * emits `consumer.crash` with `restart: false` and leaves the consumer stopped for good, with
 * the process and its health check none the wiser. So kafkajs's own restart is switched off
 * (`restartOnFailure` answers false: every crash ends the generation) and the supervisor
 * restarts instead, whatever the error: a fresh kafkajs consumer (fresh cluster metadata and
 * connections) after a backoff (500 ms doubling to 5 s, retried until it joins), on
 * `consumer.crash`, on a `consumer.stop` it did not ask for, and when the watchdog finds the
 * consumer stalled: lag on its partitions (high watermarks against what it handled or its
 * group committed) and nothing handled for `stallTimeoutMs`, with no handler at work that
 * still heartbeats (a handler retrying through a database outage is slow, not stalled).
 *
 * A fresh consumer joins under a new member id, while the group coordinator still holds the
 * abandoned generation's member (it could not leave: the broker was away, or it hung) and would
 * hold the new member's join until that one's session timeout ran out — 30 s after a broker
 * restart. So while a restarted generation joins, the supervisor asks the coordinator to remove
 * the member ids of its own earlier generations (LeaveGroup on their behalf, see
 * group-members.ts), retrying while the coordinator is still loading; the join then completes
 * within seconds of the broker being back. Only ids this supervisor was itself given are
 * removed, never another process's members; offsets and commits are untouched.
 *
 * A process killed with kill -9 leaves the same kind of member behind, but its restart does not
 * know that member's id. When the Kafka client speaks for an instance (libs/platform
 * kafka-instance.ts: client id `<instance>#<incarnation>`, given by the service runtime), each
 * generation until the first join also asks the coordinator who is in the group
 * (DescribeGroups) and removes the members whose client id names this instance and another
 * incarnation — dead incarnations of this very process — once the instance is `exclusive` (the
 * service's listener is bound, so no other live process runs as it). Members of other instances
 * carry other instance ids and are never removed. A restarted service thus rejoins in seconds
 * instead of after the dead incarnation's session timeout. (kafkajs's run(), so `start()`,
 * returns only once joined: a service must not await its consumers' start before it listens —
 * the services start them in the background — or the removal would wait for the join it unblocks.)
 *
 * Each restart is logged (reason, error class) and counted
 * (`keyledger_consumer_restarts_total{consumer,reason}`); `keyledger_consumer_connected` and
 * `health()` report the consumer down from the failure until it has joined its group again.
 */
export class ConsumerSupervisor {
  private readonly logger: Logger;
  private readonly restartPolicy: RetryPolicy;
  private readonly stallTimeoutMs: number | undefined;
  private readonly stallCheckIntervalMs: number;
  private consumer: Consumer | undefined;
  private generation = 0;
  private current: ConsumerState = 'idle';
  private stopping = false;
  private restartCount = 0;
  /** Failed generations since the last join: the backoff exponent. */
  private failures = 0;
  private downSince: number | undefined;
  private lastError: string | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private stopGraceTimer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private checking = false;
  private joined: Promise<void> = Promise.resolve();
  private resolveJoined: () => void = () => undefined;
  /** Partitions assigned at the last group join, by topic. */
  private assignment: Map<string, readonly number[]> | undefined;
  /** Next offset to handle, by `topic:partition` (kept across generations). */
  private readonly positions = new Map<string, bigint>();
  private generationStartedAt = 0;
  private lastProgressAt = 0;
  private lastAliveAt = 0;
  /** Batches in the current generation's handlers (a replaced generation's stuck handler does not count). */
  private work = { inFlight: 0 };
  private admin: Admin | undefined;
  /** The member id of the current generation once it has joined. */
  private memberId: string | undefined;
  /** Member ids of abandoned generations the coordinator may still hold. */
  private readonly staleMembers = new Set<string>();
  /** Whether this kafkajs offers no way to remove them (logged once). */
  private cannotEvict = false;
  /** Whether a generation has joined since start() (dead incarnations' members are gone then). */
  private joinedSinceStart = false;

  constructor(private readonly o: ConsumerSupervisorOptions) {
    this.logger = o.logger ?? createLogger('messaging').child({ consumer: o.name });
    this.restartPolicy = { attempts: Number.MAX_SAFE_INTEGER, baseMs: o.restartBaseMs ?? 500, maxMs: o.restartMaxMs ?? 5_000 };
    this.stallTimeoutMs = o.stallTimeoutMs === false ? undefined : (o.stallTimeoutMs ?? 60_000);
    this.stallCheckIntervalMs = o.stallCheckIntervalMs ?? Math.min(10_000, Math.max(50, (this.stallTimeoutMs ?? 40_000) / 4));
  }

  get state(): ConsumerState {
    return this.current;
  }

  get restarts(): number {
    return this.restartCount;
  }

  get status(): ConsumerStatus {
    return {
      state: this.current,
      restarts: this.restartCount,
      ...(this.downSince !== undefined ? { downSince: this.downSince } : {}),
      ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
    };
  }

  /**
   * Connects, subscribes and runs the first generation; rejects when that fails (the caller
   * decides whether to try again). From then on failures are the supervisor's to repair.
   */
  async start(): Promise<void> {
    if (this.current !== 'idle' && this.current !== 'stopped') return;
    this.stopping = false;
    this.current = 'starting';
    this.joinedSinceStart = false;
    this.joined = new Promise((resolve) => {
      this.resolveJoined = resolve;
    });
    try {
      await this.launch();
    } catch (err) {
      this.current = 'idle';
      throw err;
    }
    this.startWatchdog();
  }

  /** Resolves once the consumer has joined its group after `start()`. */
  ready(): Promise<void> {
    return this.joined;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.clearTimers();
    const consumer = this.consumer;
    this.consumer = undefined;
    this.generation++;
    if (this.current !== 'idle') this.current = 'stopped';
    connected.set({ consumer: this.o.name }, 0);
    await consumer?.disconnect().catch(() => undefined);
    await this.dropAdmin();
  }

  /** For /health: a line while consuming; throws (degraded) while down or not joined yet. */
  health(): string {
    switch (this.current) {
      case 'joined':
        return this.restartCount > 0 ? `consuming (${this.restartCount} restart(s) since start)` : 'consuming';
      case 'recovering': {
        const seconds = Math.round((Date.now() - (this.downSince ?? Date.now())) / 1000);
        throw new Error(`degraded: disconnected for ${seconds}s, restarting (${this.restartCount} restart(s) so far; last error ${this.lastError ?? 'unknown'})`);
      }
      case 'starting':
        throw new Error('starting: not joined its consumer group yet');
      default:
        throw new Error('not running');
    }
  }

  private async launch(): Promise<void> {
    const generation = ++this.generation;
    const mine = (): boolean => generation === this.generation && !this.stopping;
    const consumer = this.o.kafka.consumer({ ...this.o.config, retry: { ...this.o.config.retry, restartOnFailure: async () => false } });
    const { events } = consumer;
    consumer.on(events.GROUP_JOIN, (e) => {
      if (mine()) this.onJoin(e.payload.memberId, e.payload.memberAssignment);
    });
    consumer.on(events.CRASH, (e) => {
      if (mine()) this.recover('crash', e.payload.error);
    });
    consumer.on(events.STOP, () => {
      if (mine()) this.onUnaskedStop();
    });
    const alive = (): void => {
      if (mine()) this.lastAliveAt = Date.now();
    };
    consumer.on(events.HEARTBEAT, alive);
    consumer.on(events.FETCH, alive);
    consumer.on(events.START_BATCH_PROCESS, alive);
    consumer.on(events.END_BATCH_PROCESS, alive);
    this.consumer = consumer;
    this.generationStartedAt = Date.now();
    const work = { inFlight: 0 };
    this.work = work;
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [...this.o.topics], fromBeginning: this.o.fromBeginning });
      if (this.staleMembers.size > 0) void this.evictStaleMembers(mine).catch(() => undefined);
      const instance = kafkaInstanceOf(this.o.kafka);
      if (instance && !this.joinedSinceStart) void this.evictDeadIncarnations(mine, instance).catch(() => undefined);
      await consumer.run(this.observe(this.o.run(consumer), work));
    } catch (err) {
      if (generation === this.generation) {
        this.consumer = undefined;
        this.generation++;
      }
      void consumer.disconnect().catch(() => undefined);
      throw err;
    }
  }

  private onJoin(memberId: string, assignment: Readonly<Record<string, number[]>>): void {
    const downSince = this.downSince;
    // A completed join means every member that did not rejoin has been removed from the group.
    this.staleMembers.clear();
    this.joinedSinceStart = true;
    this.memberId = memberId;
    this.assignment = new Map(Object.entries(assignment));
    this.current = 'joined';
    this.failures = 0;
    this.downSince = undefined;
    this.lastError = undefined;
    this.lastProgressAt = this.lastAliveAt = Date.now();
    connected.set({ consumer: this.o.name }, 1);
    if (downSince !== undefined) this.logger.info({ downForMs: Date.now() - downSince, restarts: this.restartCount }, 'kafka consumer recovered: rejoined its group');
    this.resolveJoined();
  }

  /** kafkajs stops a consumer before it reports the crash; a stop without a crash is a failure too. */
  private onUnaskedStop(): void {
    this.markDown();
    clearTimeout(this.stopGraceTimer);
    this.stopGraceTimer = setTimeout(() => this.recover('stop'), STOP_WITHOUT_CRASH_GRACE_MS);
    this.stopGraceTimer.unref();
  }

  private markDown(): void {
    if (this.current === 'joined' || this.current === 'starting') this.current = 'recovering';
    this.downSince ??= Date.now();
    connected.set({ consumer: this.o.name }, 0);
  }

  /** Ends the current generation and schedules a fresh one (once: later reports of the same failure are ignored). */
  private recover(reason: RestartReason, err?: unknown, details: Record<string, unknown> = {}): void {
    if (this.stopping || this.restartTimer) return;
    clearTimeout(this.stopGraceTimer);
    this.stopGraceTimer = undefined;
    const old = this.consumer;
    this.consumer = undefined;
    this.generation++;
    if (this.memberId !== undefined) this.staleMembers.add(this.memberId);
    this.memberId = undefined;
    this.markDown();
    this.current = 'recovering';
    this.lastError = err === undefined ? reason : describeError(err);
    const delay = backoffDelay(this.restartPolicy, ++this.failures);
    this.logger.warn({ reason, ...errorFields(err), ...details, restartInMs: delay, restarts: this.restartCount, downForMs: Date.now() - (this.downSince ?? Date.now()) }, 'kafka consumer down; restarting it');
    // kafkajs has already disconnected a crashed consumer; a stalled one may hang here, so do not wait.
    if (old) void old.disconnect().catch(() => undefined);
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      void this.relaunch(reason);
    }, delay);
    this.restartTimer.unref();
  }

  private async relaunch(reason: RestartReason): Promise<void> {
    if (this.stopping) return;
    this.restartCount++;
    restartsTotal.inc({ consumer: this.o.name, reason });
    try {
      await this.launch();
    } catch (err) {
      this.recover(reason, err);
    }
  }

  /**
   * Removes the abandoned generations' members while the current generation joins (its join
   * waits for them otherwise); stops when they are gone, or the generation has joined or ended.
   */
  private async evictStaleMembers(mine: () => boolean): Promise<void> {
    const evictor = this.evictor();
    if (!evictor) return;
    const started = Date.now();
    for (let attempt = 1; mine() && this.current !== 'joined' && this.staleMembers.size > 0; attempt++) {
      for (const memberId of [...this.staleMembers]) {
        try {
          const outcome = await evictor.evict(this.o.config.groupId, memberId);
          this.staleMembers.delete(memberId);
          this.logger.info({ memberId, outcome, afterMs: Date.now() - started, attempts: attempt }, outcome === 'left' ? 'removed the abandoned generation\'s member from the group: the new one need not wait for its session timeout' : 'the abandoned generation\'s member had already left the group');
        } catch {
          // The coordinator is not there yet (loading the group, broker starting): try again shortly.
        }
      }
      if (this.staleMembers.size > 0 && mine()) await sleep(evictRetryDelay(attempt));
    }
    await evictor.close();
  }

  /**
   * Removes the members dead incarnations of this instance left in the group (a kill -9 of the
   * process), while this generation joins: once the instance is exclusive, until DescribeGroups
   * shows none, or the generation has joined or ended. Retries while the coordinator cannot
   * answer (loading the group, broker starting).
   */
  private async evictDeadIncarnations(mine: () => boolean, instance: KafkaInstance): Promise<void> {
    await instance.exclusive;
    if (!mine()) return;
    const evictor = this.evictor();
    if (!evictor) return;
    const started = Date.now();
    const groupId = this.o.config.groupId;
    try {
      for (let attempt = 1; mine() && this.current !== 'joined'; attempt++) {
        try {
          const dead = await deadIncarnationMembers(await this.adminClient(), groupId, instance);
          if (dead.length === 0) return;
          for (const { memberId, clientId } of dead) {
            const outcome = await evictor.evict(groupId, memberId);
            this.logger.info(
              { memberId, clientId, outcome, afterMs: Date.now() - started, attempts: attempt },
              outcome === 'left' ? "removed a dead incarnation's member of this instance from the group: the new member need not wait for its session timeout" : "a dead incarnation's member of this instance had already left the group",
            );
          }
        } catch {
          // The coordinator cannot answer yet: try again shortly (on a fresh admin connection).
          await this.dropAdmin();
        }
        if (mine()) await sleep(evictRetryDelay(attempt));
      }
    } finally {
      await evictor.close();
      if (this.stopping) await this.dropAdmin(); // stopped meanwhile: do not leave an admin connected
    }
  }

  /** A member evictor, or undefined (warned once) when this kafkajs offers none. */
  private evictor(): MemberEvictor | undefined {
    if (this.cannotEvict) return undefined;
    const evictor = memberEvictor(this.o.kafka);
    if (!evictor) {
      this.cannotEvict = true;
      this.logger.warn('this kafkajs cannot remove an abandoned group member: a restarted consumer waits for its session timeout');
    }
    return evictor;
  }

  /** Wraps the handlers: what they resolve is progress; a batch in their hands is work in flight. */
  private observe(run: ConsumerRunConfig, work: { inFlight: number }): ConsumerRunConfig {
    const { eachBatch, eachMessage } = run;
    const autoResolve = run.eachBatchAutoResolve !== false;
    return {
      ...run,
      ...(eachBatch
        ? {
            eachBatch: async (payload: EachBatchPayload): Promise<void> => {
              const { topic, partition } = payload.batch;
              work.inFlight++;
              try {
                await eachBatch({
                  ...payload,
                  resolveOffset: (offset: string) => {
                    payload.resolveOffset(offset);
                    this.progressed(topic, partition, offset);
                  },
                });
                if (autoResolve) this.progressed(topic, partition, payload.batch.lastOffset());
              } finally {
                work.inFlight--;
              }
            },
          }
        : {}),
      ...(eachMessage
        ? {
            eachMessage: async (payload: EachMessagePayload): Promise<void> => {
              work.inFlight++;
              try {
                await eachMessage(payload);
                this.progressed(payload.topic, payload.partition, payload.message.offset);
              } finally {
                work.inFlight--;
              }
            },
          }
        : {}),
    };
  }

  private progressed(topic: string, partition: number, offset: string): void {
    this.positions.set(`${topic}:${partition}`, BigInt(offset) + 1n);
    this.lastProgressAt = this.lastAliveAt = Date.now();
  }

  private startWatchdog(): void {
    if (this.stallTimeoutMs === undefined || this.watchdog) return;
    this.watchdog = setInterval(() => void this.checkStall(), this.stallCheckIntervalMs);
    this.watchdog.unref();
  }

  private async checkStall(): Promise<void> {
    const limit = this.stallTimeoutMs;
    if (limit === undefined || this.checking || this.stopping || this.restartTimer) return;
    const now = Date.now();
    if (this.current === 'starting' || this.current === 'recovering') {
      // A generation that has not joined its group in all this time will not.
      if (this.consumer && now - this.generationStartedAt > limit) this.recover('join-timeout', undefined, { waitedMs: now - this.generationStartedAt });
      return;
    }
    if (this.current !== 'joined' || now - this.lastProgressAt < limit) return;
    if (this.work.inFlight > 0 && now - this.lastAliveAt < limit) return; // a handler at work (retrying, heartbeating): slow, not stuck
    this.checking = true;
    try {
      const lag = await this.lag();
      if (lag === undefined || this.current !== 'joined' || this.restartTimer) return; // cannot tell (the broker is away: the crash path handles that)
      if (lag === 0n) {
        this.lastProgressAt = Date.now(); // caught up and idle
        return;
      }
      this.recover('stall', undefined, { lag: lag.toString(), idleForMs: now - this.lastProgressAt });
    } finally {
      this.checking = false;
    }
  }

  /** Messages on the consumer's partitions it has not handled yet; undefined when Kafka cannot tell now. */
  private async lag(): Promise<bigint | undefined> {
    try {
      const admin = await this.adminClient();
      let total = 0n;
      for (const topic of this.o.topics) {
        const assigned = this.assignment ? (this.assignment.get(topic) ?? []) : undefined;
        const [committed] = await admin.fetchOffsets({ groupId: this.o.config.groupId, topics: [topic] });
        const committedBy = new Map((committed?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset)]));
        for (const p of await admin.fetchTopicOffsets(topic)) {
          if (assigned && !assigned.includes(p.partition)) continue;
          const high = BigInt(p.high);
          const low = BigInt(p.low);
          let position = this.positions.get(`${topic}:${p.partition}`) ?? -1n;
          const groupOffset = committedBy.get(p.partition) ?? -1n;
          if (groupOffset > position) position = groupOffset;
          if (position < 0n) position = this.o.fromBeginning ? low : high;
          if (position < low) position = low;
          if (high > position) total += high - position;
        }
      }
      return total;
    } catch {
      await this.dropAdmin();
      return undefined;
    }
  }

  private async adminClient(): Promise<Admin> {
    if (!this.admin) {
      const admin = this.o.kafka.admin();
      await admin.connect();
      this.admin = admin;
    }
    return this.admin;
  }

  private async dropAdmin(): Promise<void> {
    const admin = this.admin;
    this.admin = undefined;
    await admin?.disconnect().catch(() => undefined);
  }

  private clearTimers(): void {
    clearTimeout(this.restartTimer);
    clearTimeout(this.stopGraceTimer);
    clearInterval(this.watchdog);
    this.restartTimer = this.stopGraceTimer = this.watchdog = undefined;
  }
}

function evictRetryDelay(attempt: number): number {
  return backoffDelay({ attempts: Number.MAX_SAFE_INTEGER, baseMs: EVICT_RETRY_BASE_MS, maxMs: EVICT_RETRY_MAX_MS }, attempt);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

function gauge(name: string, help: string, labelNames: readonly string[]): Gauge<string> {
  const existing = metricsRegistry.getSingleMetric(name);
  if (existing) return existing as Gauge<string>;
  return new Gauge({ name, help, labelNames: [...labelNames], registers: [metricsRegistry] });
}

function rootCause(err: Error): Error {
  let e = err;
  for (let i = 0; i < 10 && e.cause instanceof Error; i++) e = e.cause;
  return e;
}

/** Class names only, plus kafkajs's own message (broker metadata, never payloads): error messages may echo data. */
function errorFields(err: unknown): Record<string, unknown> {
  if (!(err instanceof Error)) return {};
  const root = rootCause(err);
  return {
    errorClass: err.name,
    ...(root !== err ? { rootCause: root.name } : {}),
    ...(root.name.startsWith('KafkaJS') ? { kafkaError: root.message } : {}),
  };
}

function describeError(err: unknown): string {
  if (!(err instanceof Error)) return typeof err;
  const root = rootCause(err);
  return root === err ? err.name : `${err.name} (${root.name})`;
}

/**
 * Starts a supervised consumer together with the idempotent producer its handlers use (dead
 * letters): the producer connects and is handed to `attach` before the first message can
 * arrive; if the consumer cannot start, `attach(undefined)` takes it back, it is disconnected
 * and the failure rethrown.
 */
export async function startWithDeadLetterProducer(kafka: Kafka, supervisor: ConsumerSupervisor, attach: (producer: Producer | undefined) => void): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await producer.connect();
  attach(producer);
  try {
    await supervisor.start();
  } catch (err) {
    attach(undefined);
    await producer.disconnect().catch(() => undefined);
    throw err;
  }
}
