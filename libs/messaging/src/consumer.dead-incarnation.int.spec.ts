/**
 * A service process killed with kill -9 cannot leave its consumer groups; the coordinator keeps
 * its member until the session timeout and holds the restarted process's join until then. The
 * restarted process recognises that member by its client id (libs/platform kafka-instance.ts:
 * `<instance>#<incarnation>`) and removes it (consumer.supervisor.ts). Real kafkajs, the real
 * broker, and a real kill -9 of a child process holding the dead incarnation's member.
 *
 * The dead member's session timeout is 90 s; the restarted consumer is given 45 s to join, so a
 * join can only come from the removal (the log line with outcome "left" is asserted). How long
 * the rejoin took is printed, not asserted.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import type { Admin, Kafka } from 'kafkajs';
import { pino } from 'pino';
import { createKafka, kafkaInstance, REPO_ROOT, type ClaimableKafkaInstance } from '#libs/platform';
import { dropTopics, stackEnv, testKafka, testLogger, uniqueName, waitFor } from '#libs/testing';
import { ConsumerSupervisor } from './consumer.supervisor.js';
import { ensureTopics } from './topics.admin.js';

jest.setTimeout(180_000);

const DEAD_SESSION_TIMEOUT_MS = 90_000;
const topic = uniqueName('t_incarnation');
const group = uniqueName('g_incarnation');
// Instance B's id starts with instance A's: a prefix is not an instance.
const instanceA = uniqueName('t_inst');
const instanceB = `${instanceA}-2`;

let kafka: Kafka;
let admin: Admin;
const supervisors: ConsumerSupervisor[] = [];
const children: ChildProcess[] = [];
const logLines: { msg?: string; memberId?: string; clientId?: string; outcome?: string }[] = [];

/** A consumer of the group under its own Kafka client, speaking for `instance`. */
function member(instance: ClaimableKafkaInstance, logged = false): { supervisor: ConsumerSupervisor; joins: string[] } {
  const joins: string[] = [];
  const client = createKafka('unused', stackEnv().kafkaBrokers, testLogger('kafka'), instance);
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) logLines.push(JSON.parse(line) as (typeof logLines)[number]);
      done();
    },
  });
  const supervisor = new ConsumerSupervisor({
    kafka: client,
    name: `${group}-${instance.clientId}`,
    logger: logged ? pino({ level: 'info' }, sink) : testLogger('supervisor'),
    config: { groupId: group, sessionTimeout: 30_000, maxWaitTimeInMs: 100, retry: { retries: 5 } },
    topics: [topic],
    fromBeginning: true,
    run: (consumer) => {
      consumer.on(consumer.events.GROUP_JOIN, (e) => void joins.push(e.payload.memberId));
      return { eachMessage: async () => undefined };
    },
  });
  supervisors.push(supervisor);
  return { supervisor, joins };
}

/** A process that joins the group as `clientId` and is then killed with kill -9: it never leaves. */
async function deadIncarnation(clientId: string): Promise<{ memberId: string; kill: () => Promise<void> }> {
  const script = `
    import { Kafka, logLevel } from 'kafkajs';
    const kafka = new Kafka({ clientId: process.env.T_CLIENT_ID, brokers: process.env.T_BROKERS.split(','), logLevel: logLevel.NOTHING });
    const consumer = kafka.consumer({ groupId: process.env.T_GROUP, sessionTimeout: ${DEAD_SESSION_TIMEOUT_MS}, rebalanceTimeout: ${DEAD_SESSION_TIMEOUT_MS}, heartbeatInterval: 1000 });
    consumer.on(consumer.events.GROUP_JOIN, (e) => process.stdout.write(JSON.stringify({ memberId: e.payload.memberId }) + '\\n'));
    await consumer.connect();
    await consumer.subscribe({ topics: [process.env.T_TOPIC], fromBeginning: true });
    await consumer.run({ eachMessage: async () => {} });
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
    cwd: REPO_ROOT,
    env: { ...process.env, T_CLIENT_ID: clientId, T_BROKERS: stackEnv().kafkaBrokers.join(','), T_GROUP: group, T_TOPIC: topic },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr?.on('data', (c: Buffer) => (out += c.toString()));
  const memberId = await waitFor(
    () => {
      if (child.exitCode !== null) throw new Error(`the child exited: ${out}`);
      const line = out.split('\n').find((l) => l.startsWith('{"memberId"'));
      return line ? (JSON.parse(line) as { memberId: string }).memberId : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 100, what: 'the child to join the group' },
  );
  return {
    memberId,
    kill: async () => {
      child.kill('SIGKILL');
      await waitFor(() => child.exitCode !== null || child.signalCode !== null, { timeoutMs: 10_000, what: 'the child to die' });
    },
  };
}

async function members(): Promise<{ memberId: string; clientId: string }[]> {
  const [described] = (await admin.describeGroups([group])).groups;
  return (described?.members ?? []).map((m) => ({ memberId: m.memberId, clientId: m.clientId })).sort((a, b) => a.clientId.localeCompare(b.clientId));
}

beforeAll(async () => {
  kafka = testKafka('keyledger-test-incarnation');
  admin = kafka.admin();
  await admin.connect();
  await ensureTopics(admin, [topic], { partitions: 2 });
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await Promise.allSettled(supervisors.map((s) => s.stop()));
  await admin?.deleteGroups([group]).catch(() => undefined);
  await admin?.disconnect();
  await dropTopics(kafka, [topic]).catch(() => undefined);
});

describe('a restarted service process and the members its dead incarnation left', () => {
  it('removes the dead incarnation of its own instance and joins long before its session timeout; a live member of another instance keeps its place, also when that instance restarts', async () => {
    // Instance B runs throughout.
    const b = kafkaInstance(instanceB);
    b.claim();
    const live = member(b);
    await live.supervisor.start();
    await live.supervisor.ready();
    const bMember = (await members()).find((m) => m.clientId === b.clientId)?.memberId;
    expect(bMember).toBeDefined();

    // Instance A's first incarnation joins, then is killed with kill -9.
    const old = kafkaInstance(instanceA);
    const dead = await deadIncarnation(old.clientId);
    await waitFor(async () => (await members()).length === 2, { timeoutMs: 60_000, what: 'both instances in the group' });
    await dead.kill();
    const killedAt = Date.now();
    expect((await members()).map((m) => m.memberId)).toContain(dead.memberId); // the coordinator still holds it

    // Instance A restarts: a new incarnation, exclusive once its listener would be bound.
    const restarted = kafkaInstance(instanceA);
    expect(restarted.incarnation).not.toBe(old.incarnation);
    const a = member(restarted, true);
    // As in a service: the consumer starts (kafkajs's run() returns only once joined) while the
    // listener binds, and the instance is claimed meanwhile.
    const starting = a.supervisor.start();
    restarted.claim();
    await starting;
    await waitFor(() => a.supervisor.state === 'joined', { timeoutMs: DEAD_SESSION_TIMEOUT_MS / 2, intervalMs: 100, what: 'the restarted incarnation to join' });
    const joinedAfterMs = Date.now() - killedAt;

    const removed = logLines.filter((l) => l.msg?.startsWith("removed a dead incarnation's member"));
    expect(removed.map((l) => ({ memberId: l.memberId, clientId: l.clientId, outcome: l.outcome }))).toEqual([{ memberId: dead.memberId, clientId: old.clientId, outcome: 'left' }]);
    const after = await members();
    expect(after.map((m) => m.clientId)).toEqual([restarted.clientId, b.clientId].sort((x, y) => x.localeCompare(y)));
    // Instance B was not disturbed: the same member throughout (it rejoined each rebalance under its id), never restarted.
    expect(after.find((m) => m.clientId === b.clientId)?.memberId).toBe(bMember);
    expect(new Set(live.joins)).toEqual(new Set([bMember]));
    expect(live.supervisor.restarts).toBe(0);

    // Instance B restarts (a new incarnation of B): instance A's member keeps its place.
    const aMember = after.find((m) => m.clientId === restarted.clientId)?.memberId;
    await live.supervisor.stop();
    const b2 = kafkaInstance(instanceB);
    b2.claim();
    const liveAgain = member(b2);
    await liveAgain.supervisor.start();
    await liveAgain.supervisor.ready();
    const final = await members();
    expect(final.map((m) => m.clientId)).toEqual([restarted.clientId, b2.clientId].sort((x, y) => x.localeCompare(y)));
    expect(final.find((m) => m.clientId === restarted.clientId)?.memberId).toBe(aMember);
    expect(new Set(a.joins)).toEqual(new Set([aMember]));
    expect(a.supervisor.restarts).toBe(0);
    expect(logLines.filter((l) => l.msg?.startsWith("removed a dead incarnation's member"))).toHaveLength(1);

    process.stderr.write(`[dead incarnation] the restarted incarnation joined ${(joinedAfterMs / 1000).toFixed(1)} s after the kill -9 (the dead member's session timeout: ${DEAD_SESSION_TIMEOUT_MS / 1000} s)\n`);
  });
});
