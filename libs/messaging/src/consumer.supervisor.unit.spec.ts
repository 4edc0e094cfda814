import { EventEmitter } from 'node:events';
import { describe, it, expect, afterEach } from '@jest/globals';
import type { ConsumerConfig, ConsumerRunConfig, EachBatchPayload, Kafka } from 'kafkajs';
import { kafkaInstance, metricsRegistry, registerKafkaInstance } from '#libs/platform';
import { testLogger, uniqueName, waitFor } from '#libs/testing';
import { ConsumerSupervisor, type SupervisionOptions } from './consumer.supervisor.js';

// A stand-in for kafkajs: the supervisor's logic (what it does on crash, stop, join, stall) is
// pure given the consumer's events; the real broker outage is in the int specs.

const EVENTS = {
  GROUP_JOIN: 'consumer.group_join',
  CRASH: 'consumer.crash',
  STOP: 'consumer.stop',
  HEARTBEAT: 'consumer.heartbeat',
  FETCH: 'consumer.fetch',
  START_BATCH_PROCESS: 'consumer.start_batch_process',
  END_BATCH_PROCESS: 'consumer.end_batch_process',
} as const;

class FakeConsumer {
  readonly events = EVENTS;
  readonly emitter = new EventEmitter();
  runConfig: ConsumerRunConfig | undefined;
  disconnected = false;

  constructor(
    readonly config: ConsumerConfig,
    readonly kafka: FakeKafka,
  ) {}

  on(event: string, listener: (e: { payload: unknown }) => void): () => void {
    this.emitter.on(event, listener);
    return () => this.emitter.off(event, listener);
  }

  emit(event: string, payload: unknown = null): void {
    this.emitter.emit(event, { id: 0, type: event, timestamp: Date.now(), payload });
  }

  async connect(): Promise<void> {
    if (this.kafka.brokerDown) throw Object.assign(new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092'), { name: 'KafkaJSConnectionError' });
  }

  async subscribe(): Promise<void> {}

  async run(config: ConsumerRunConfig): Promise<void> {
    this.runConfig = config;
    if (this.kafka.coordinator) this.kafka.coordinator.join(this);
    else this.emit(EVENTS.GROUP_JOIN, { memberId: `member-${this.kafka.consumers.indexOf(this)}`, memberAssignment: { t: [0] } });
  }

  async disconnect(): Promise<void> {
    this.disconnected = true;
  }
}

/**
 * A group coordinator as Kafka has it after a broker restart: it holds a new member's join until
 * every member it knows has left (or rejoined); LeaveGroup fails while it is still loading.
 */
class FakeCoordinator {
  readonly members = new Set<string>();
  readonly leaves: { groupId: string; memberId: string }[] = [];
  /** The client id each member joined with (DescribeGroups answers it). */
  readonly clientIds = new Map<string, string>();
  /** Members of other live processes: they rejoin at once, so a join never waits for them. */
  readonly live = new Set<string>();
  loadingFor = 0;
  private waiting: { consumer: FakeConsumer; memberId: string } | undefined;

  join(consumer: FakeConsumer): void {
    const memberId = `member-${consumer.kafka.consumers.indexOf(consumer)}`;
    this.waiting = { consumer, memberId };
    this.settle();
  }

  async leaveGroup(request: { groupId: string; memberId: string }): Promise<void> {
    if (this.loadingFor > 0) {
      this.loadingFor--;
      throw Object.assign(new Error('The coordinator is loading'), { name: 'KafkaJSProtocolError', type: 'COORDINATOR_LOAD_IN_PROGRESS' });
    }
    this.leaves.push(request);
    if (!this.members.delete(request.memberId)) throw Object.assign(new Error('unknown member'), { name: 'KafkaJSProtocolError', type: 'UNKNOWN_MEMBER_ID' });
    this.settle();
  }

  /** The member missed its session timeout. */
  expire(memberId: string): void {
    this.members.delete(memberId);
    this.settle();
  }

  /** A member that joined earlier (another process, or a dead one). */
  add(memberId: string, clientId: string, live: boolean): void {
    this.members.add(memberId);
    this.clientIds.set(memberId, clientId);
    if (live) this.live.add(memberId);
  }

  describe(groupId: string): { groups: { groupId: string; members: { memberId: string; clientId: string }[] }[] } {
    if (this.loadingFor > 0) {
      this.loadingFor--;
      throw Object.assign(new Error('The coordinator is loading'), { name: 'KafkaJSProtocolError', type: 'COORDINATOR_LOAD_IN_PROGRESS' });
    }
    return { groups: [{ groupId, members: [...this.members].map((memberId) => ({ memberId, clientId: this.clientIds.get(memberId) ?? 'unknown' })) }] };
  }

  private settle(): void {
    if (!this.waiting || [...this.members].some((m) => !this.live.has(m))) return;
    const { consumer, memberId } = this.waiting;
    this.waiting = undefined;
    this.members.add(memberId); // not `live`: should its consumer crash, a new join waits for it
    consumer.emit(EVENTS.GROUP_JOIN, { memberId, memberAssignment: { t: [0] } });
  }
}

class FakeKafka {
  readonly consumers: FakeConsumer[] = [];
  coordinator: FakeCoordinator | undefined;
  brokerDown = false;
  /** High watermark of partition t/0; the group never commits. */
  high = 0;
  lagChecks = 0;
  describes = 0;

  consumer(config: ConsumerConfig): FakeConsumer {
    const c = new FakeConsumer(config, this);
    this.consumers.push(c);
    return c;
  }

  admin(): object {
    return {
      connect: async () => undefined,
      disconnect: async () => undefined,
      fetchOffsets: async () => [{ topic: 't', partitions: [{ partition: 0, offset: '-1' }] }],
      describeGroups: async ([groupId]: string[]) => {
        this.describes++;
        if (!this.coordinator) throw new Error('no coordinator');
        return this.coordinator.describe(groupId!);
      },
      fetchTopicOffsets: async () => {
        this.lagChecks++;
        return [{ partition: 0, offset: String(this.high), high: String(this.high), low: '0' }];
      },
    };
  }

  get last(): FakeConsumer {
    return this.consumers[this.consumers.length - 1]!;
  }

  /** What kafkajs 2.2.4 keeps on every Kafka instance: the factory of its clients' clusters (group-members.ts uses it). */
  withCoordinator(coordinator: FakeCoordinator): this {
    this.coordinator = coordinator;
    Object.defineProperty(this, Symbol('private:Kafka:createCluster'), {
      value: () => ({ connect: async () => undefined, disconnect: async () => undefined, findGroupCoordinator: async () => coordinator }),
    });
    return this;
  }
}

const supervisors: ConsumerSupervisor[] = [];
afterEach(async () => {
  await Promise.all(supervisors.splice(0).map((s) => s.stop()));
});

function supervise(kafka: FakeKafka, options: SupervisionOptions = {}): { supervisor: ConsumerSupervisor; name: string } {
  const name = uniqueName('sup');
  const supervisor = new ConsumerSupervisor({
    kafka: kafka as unknown as Kafka,
    name,
    logger: testLogger('supervisor'),
    config: { groupId: name, retry: { retries: 3 } },
    topics: ['t'],
    fromBeginning: true,
    run: () => ({ eachBatch: async () => undefined }),
    restartBaseMs: 5,
    restartMaxMs: 20,
    stallTimeoutMs: false,
    ...options,
  });
  supervisors.push(supervisor);
  return { supervisor, name };
}

async function restartsCounted(name: string, reason: string): Promise<number> {
  const metric = metricsRegistry.getSingleMetric('keyledger_consumer_restarts_total');
  const values = (await metric!.get()).values;
  return values.find((v) => v.labels.consumer === name && v.labels.reason === reason)?.value ?? 0;
}

function kafkajsError(name: string, message: string, cause?: Error): Error {
  return Object.assign(new Error(message), { name, retriable: false, ...(cause ? { cause } : {}) });
}

describe('ConsumerSupervisor', () => {
  it('after a crash, removes the abandoned generation\'s member (only its own, retrying while the coordinator loads) so the new one joins without waiting for the session timeout', async () => {
    const coordinator = new FakeCoordinator();
    const kafka = new FakeKafka().withCoordinator(coordinator);
    const { supervisor, name } = supervise(kafka);
    await supervisor.start();
    await supervisor.ready();
    expect([...coordinator.members]).toEqual(['member-0']);
    coordinator.members.add('another-process-member'); // must never be touched

    coordinator.loadingFor = 2; // the broker is back, the coordinator still loading the group
    kafka.last.emit(EVENTS.CRASH, { error: kafkajsError('KafkaJSNonRetriableError', 'Connection error'), restart: false });
    expect(supervisor.state).toBe('recovering');
    await waitFor(() => coordinator.leaves.length > 0, { what: 'the abandoned member to be removed' });
    expect(coordinator.leaves).toEqual([{ groupId: name, memberId: 'member-0' }]);

    coordinator.expire('another-process-member'); // that process's own business
    await waitFor(() => supervisor.state === 'joined', { what: 'the new generation to join' });
    expect([...coordinator.members]).toEqual(['member-1']);
    expect(coordinator.leaves).toEqual([{ groupId: name, memberId: 'member-0' }]);
  });

  it('on start, removes the members dead incarnations of its instance left — only once the instance is exclusive, never a member of another instance — and joins without waiting for their session timeout', async () => {
    const coordinator = new FakeCoordinator();
    const kafka = new FakeKafka().withCoordinator(coordinator);
    const instance = kafkaInstance('keyledger-audit@host:127.0.0.1:8444', 'new');
    registerKafkaInstance(kafka as unknown as Kafka, instance);
    coordinator.add('dead-1', 'keyledger-audit@host:127.0.0.1:8444#old', false); // the kill -9'd process
    coordinator.add('other-instance', 'keyledger-audit@host:127.0.0.1:9444#x', true); // another instance, alive
    coordinator.add('prefix-instance', 'keyledger-audit@host:127.0.0.1:8444-2#y', true); // another instance whose id starts like ours
    coordinator.add('no-instance', 'keyledger-audit@host:127.0.0.1:8444', true); // a client id without an incarnation
    coordinator.add('dead-2', 'keyledger-audit@host:127.0.0.1:8444#older', false);
    coordinator.loadingFor = 1; // the first DescribeGroups finds the coordinator still loading
    const { supervisor, name } = supervise(kafka);
    await supervisor.start();

    // Not exclusive yet (the service's listener is not bound): nothing is described or removed.
    await new Promise((r) => setTimeout(r, 50));
    expect(kafka.describes).toBe(0);
    expect(coordinator.leaves).toEqual([]);
    expect(supervisor.state).toBe('starting');

    instance.claim();
    await waitFor(() => supervisor.state === 'joined', { what: 'the join once the dead members are gone' });
    expect(coordinator.leaves).toEqual([
      { groupId: name, memberId: 'dead-1' },
      { groupId: name, memberId: 'dead-2' },
    ]);
    expect([...coordinator.members].sort()).toEqual(['member-0', 'no-instance', 'other-instance', 'prefix-instance']);
  });

  it('a Kafka client that speaks for no instance never describes the group or removes a member it was not given', async () => {
    const coordinator = new FakeCoordinator();
    const kafka = new FakeKafka().withCoordinator(coordinator);
    coordinator.add('someone', 'keyledger-audit@host:127.0.0.1:8444#old', false);
    const { supervisor } = supervise(kafka);
    await supervisor.start();
    await new Promise((r) => setTimeout(r, 50));
    expect(supervisor.state).toBe('starting');
    coordinator.expire('someone'); // its session timeout ran out
    await waitFor(() => supervisor.state === 'joined', { what: 'the join' });
    expect(kafka.describes).toBe(0);
    expect(coordinator.leaves).toEqual([]);
  });

  it('without a way to remove members (another kafkajs) a restarted consumer still rejoins, once the coordinator lets it', async () => {
    const coordinator = new FakeCoordinator();
    const kafka = new FakeKafka();
    kafka.coordinator = coordinator; // no cluster factory on this Kafka
    const { supervisor } = supervise(kafka);
    await supervisor.start();
    await supervisor.ready();
    kafka.last.emit(EVENTS.CRASH, { error: kafkajsError('KafkaJSNonRetriableError', 'Connection error'), restart: false });
    await waitFor(() => kafka.consumers.length === 2, { what: 'the restart' });
    expect(supervisor.state).toBe('recovering');
    coordinator.expire('member-0'); // its session timeout ran out
    await waitFor(() => supervisor.state === 'joined', { what: 'the rejoin' });
    expect(coordinator.leaves).toEqual([]);
  });

  it('switches kafkajs restarts off: every crash ends the generation and the supervisor restarts', async () => {
    const kafka = new FakeKafka();
    const { supervisor } = supervise(kafka);
    await supervisor.start();
    const restartOnFailure = kafka.last.config.retry?.restartOnFailure;
    expect(restartOnFailure).toBeDefined();
    expect(await restartOnFailure!(new Error('any'))).toBe(false);
  });

  it('restarts a consumer kafkajs gave up on (crash with restart: false) with a fresh consumer, reports it degraded meanwhile, counts the restart', async () => {
    const kafka = new FakeKafka();
    const { supervisor, name } = supervise(kafka);
    await supervisor.start();
    await supervisor.ready();
    expect(supervisor.state).toBe('joined');
    expect(supervisor.health()).toBe('consuming');

    kafka.brokerDown = true; // the restart must wait for the broker
    const first = kafka.last;
    first.emit(EVENTS.STOP); // kafkajs stops the consumer first, then reports the crash
    first.emit(EVENTS.CRASH, { error: kafkajsError('KafkaJSNonRetriableError', 'Failed to find group coordinator', kafkajsError('KafkaJSGroupCoordinatorNotFound', 'Failed to find group coordinator')), restart: false });
    expect(supervisor.state).toBe('recovering');
    expect(() => supervisor.health()).toThrow(/degraded: disconnected .* last error KafkaJSNonRetriableError \(KafkaJSGroupCoordinatorNotFound\)/);
    await waitFor(() => kafka.consumers.length >= 3, { what: 'restart attempts while the broker is away' });
    expect(supervisor.state).toBe('recovering');

    kafka.brokerDown = false;
    await waitFor(() => supervisor.state === 'joined', { what: 'the consumer to rejoin' });
    expect(kafka.last).not.toBe(first);
    expect(kafka.consumers.filter((c) => c.runConfig).length).toBe(2); // the first and the one that joined
    expect(supervisor.health()).toMatch(/^consuming \(\d+ restart\(s\) since start\)$/);
    expect(supervisor.restarts).toBe(kafka.consumers.length - 1);
    expect(await restartsCounted(name, 'crash')).toBe(supervisor.restarts);
    expect(supervisor.status.lastError).toBeUndefined();
  });

  it('treats a stop it did not ask for, with no crash after it, as a failure', async () => {
    const kafka = new FakeKafka();
    const { supervisor, name } = supervise(kafka);
    await supervisor.start();
    const first = kafka.last;
    first.emit(EVENTS.STOP);
    expect(() => supervisor.health()).toThrow(/degraded/);
    await waitFor(() => kafka.consumers.length === 2 && supervisor.state === 'joined', { timeoutMs: 10_000, what: 'a restart after the unexplained stop' });
    expect(await restartsCounted(name, 'stop')).toBe(1);
  });

  it('ignores late events of a generation it has replaced', async () => {
    const kafka = new FakeKafka();
    const { supervisor } = supervise(kafka);
    await supervisor.start();
    const first = kafka.last;
    first.emit(EVENTS.CRASH, { error: kafkajsError('KafkaJSNumberOfRetriesExceeded', 'retries exceeded'), restart: false });
    await waitFor(() => kafka.consumers.length === 2 && supervisor.state === 'joined', { what: 'the restart' });
    first.emit(EVENTS.CRASH, { error: kafkajsError('KafkaJSNumberOfRetriesExceeded', 'retries exceeded'), restart: false });
    first.emit(EVENTS.STOP);
    expect(supervisor.state).toBe('joined');
    expect(supervisor.restarts).toBe(1);
  });

  it('restarts a joined consumer that has lag but handles nothing and shows no sign of life (stall watchdog)', async () => {
    const kafka = new FakeKafka();
    kafka.high = 5;
    const { supervisor, name } = supervise(kafka, { stallTimeoutMs: 100, stallCheckIntervalMs: 20 });
    await supervisor.start();
    await waitFor(() => kafka.consumers.length === 2, { what: 'the watchdog to restart the stalled consumer' });
    expect(kafka.consumers[0]!.disconnected).toBe(true);
    expect(await restartsCounted(name, 'stall')).toBeGreaterThanOrEqual(1);
  });

  it('leaves an idle consumer that is caught up alone', async () => {
    const kafka = new FakeKafka();
    const { supervisor } = supervise(kafka, { stallTimeoutMs: 50, stallCheckIntervalMs: 10 });
    await supervisor.start();
    await waitFor(() => kafka.lagChecks >= 3, { what: 'the watchdog to look at the lag a few times' });
    expect(kafka.consumers).toHaveLength(1);
    expect(supervisor.restarts).toBe(0);
  });

  it('counts what the handler resolved as progress: a consumer that handled up to the end has no lag', async () => {
    const kafka = new FakeKafka();
    kafka.high = 3;
    const { supervisor } = supervise(kafka, { stallTimeoutMs: 200, stallCheckIntervalMs: 20 });
    await supervisor.start();
    const eachBatch = kafka.last.runConfig!.eachBatch!;
    const resolved: string[] = [];
    const payload = {
      batch: { topic: 't', partition: 0, lastOffset: () => '2', messages: [] },
      resolveOffset: (o: string) => void resolved.push(o),
      heartbeat: async () => undefined,
    } as unknown as EachBatchPayload;
    await eachBatch(payload); // auto-resolve: the whole batch (offsets 0..2) is handled
    const checks = kafka.lagChecks;
    await waitFor(() => kafka.lagChecks >= checks + 3, { what: 'the watchdog to look at the lag a few times' });
    expect(kafka.consumers).toHaveLength(1);
  });

  it('restarts nothing once stopped, even with a restart pending', async () => {
    const kafka = new FakeKafka();
    const { supervisor } = supervise(kafka, { restartBaseMs: 200, restartMaxMs: 200 });
    await supervisor.start();
    kafka.last.emit(EVENTS.CRASH, { error: kafkajsError('KafkaJSNonRetriableError', 'x'), restart: false });
    await supervisor.stop();
    expect(supervisor.state).toBe('stopped');
    expect(() => supervisor.health()).toThrow('not running');
    await new Promise((r) => setTimeout(r, 300)); // past the pending restart's backoff
    expect(kafka.consumers).toHaveLength(1);
  });

  it('rejects a first start that cannot connect, and can be started again', async () => {
    const kafka = new FakeKafka();
    kafka.brokerDown = true;
    const { supervisor } = supervise(kafka);
    await expect(supervisor.start()).rejects.toThrow(/ECONNREFUSED/);
    expect(supervisor.state).toBe('idle');
    kafka.brokerDown = false;
    await supervisor.start();
    await supervisor.ready();
    expect(supervisor.state).toBe('joined');
  });
});
