import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals';
import type { Admin, EachBatchPayload, Kafka, Producer } from 'kafkajs';
import { dropTopics, testKafka, testLogger, uniqueName, waitFor } from '#libs/testing';
import { ConsumerSupervisor } from './consumer.supervisor.js';
import { ensureTopics } from './topics.admin.js';

jest.setTimeout(120_000);

// Real kafkajs against the real broker (which stays up: the broker outage itself is
// apps/audit's audit-records.consumer.kafka-outage spec).

let kafka: Kafka;
let admin: Admin;
let producer: Producer;
const topics: string[] = [];
const groups: string[] = [];
const supervisors: ConsumerSupervisor[] = [];
const releases: (() => void)[] = [];

async function freshTopic(): Promise<string> {
  const topic = uniqueName('t_sup');
  topics.push(topic);
  await ensureTopics(admin, [topic]);
  return topic;
}

function supervise(topic: string, eachBatch: (payload: EachBatchPayload) => Promise<void>, stallTimeoutMs: number | false = false): ConsumerSupervisor {
  const groupId = uniqueName('g_sup');
  groups.push(groupId);
  const s = new ConsumerSupervisor({
    kafka,
    name: groupId,
    logger: testLogger('supervisor'),
    // The broker's minimum session: a stalled member that stopped heartbeating leaves the group soon.
    config: { groupId, sessionTimeout: 6_000, maxWaitTimeInMs: 100, retry: { retries: 3 } },
    topics: [topic],
    fromBeginning: true,
    run: () => ({ eachBatch }),
    restartBaseMs: 100,
    restartMaxMs: 1_000,
    stallTimeoutMs,
    stallCheckIntervalMs: 250,
  });
  supervisors.push(s);
  return s;
}

beforeAll(async () => {
  kafka = testKafka('keyledger-test-supervisor');
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer();
  await producer.connect();
});

afterAll(async () => {
  for (const release of releases) release();
  await Promise.allSettled(supervisors.map((s) => s.stop()));
  await producer?.disconnect();
  await admin?.deleteGroups(groups).catch(() => undefined);
  await admin?.disconnect();
  await dropTopics(kafka, topics).catch(() => undefined);
});

describe('ConsumerSupervisor (real kafkajs and Kafka)', () => {
  it('restarts a consumer after a crash kafkajs itself would not restart (a non-retriable error in the run loop)', async () => {
    // kafkajs 2.2.4 classes a TypeError as unrecoverable: consumer.crash with restart: false,
    // even with retry.restartOnFailure answering true — the consumer would stay stopped.
    const topic = await freshTopic();
    let thrown = false;
    const seen: string[] = [];
    const s = supervise(topic, async ({ batch }) => {
      if (!thrown) {
        thrown = true;
        throw new TypeError('boom');
      }
      for (const m of batch.messages) seen.push(m.value!.toString());
    });
    await s.start();
    await s.ready();
    await producer.send({ topic, messages: [{ value: 'after-crash' }] });
    await waitFor(() => seen.includes('after-crash'), { timeoutMs: 60_000, what: 'the message after the crash' });
    expect(thrown).toBe(true);
    expect(s.restarts).toBeGreaterThanOrEqual(1);
    expect(s.state).toBe('joined');
    expect(s.health()).toMatch(/^consuming \(\d+ restart\(s\) since start\)$/);
  });

  it('restarts a consumer whose handler hangs without a sign of life while messages wait (stall watchdog)', async () => {
    const topic = await freshTopic();
    let hung = false;
    const seen: string[] = [];
    const s = supervise(
      topic,
      async ({ batch, resolveOffset }) => {
        if (!hung) {
          hung = true;
          await new Promise<void>((resolve) => releases.push(resolve)); // never heartbeats, never returns (until afterAll)
          return;
        }
        for (const m of batch.messages) {
          seen.push(m.value!.toString());
          resolveOffset(m.offset);
        }
      },
      3_000,
    );
    await s.start();
    await s.ready();
    await producer.send({ topic, messages: [{ value: 'one' }, { value: 'two' }] });
    await waitFor(() => seen.includes('two'), { timeoutMs: 90_000, what: 'the messages behind the hung handler' });
    expect(hung).toBe(true);
    expect(s.restarts).toBeGreaterThanOrEqual(1);
  });
});
