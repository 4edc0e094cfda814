import type { Consumer, Kafka } from 'kafkajs';
import { uniqueName } from './unique.names.js';
import { waitFor } from './wait.helpers.js';

export type CollectedMessage = {
  readonly partition: number;
  readonly offset: string;
  readonly key: string | null;
  readonly value: string | null;
  readonly headers: Readonly<Record<string, string>>;
  /** Date.now() when the consumer received it. */
  readonly receivedAt: number;
};

export type TopicCollector = {
  readonly messages: readonly CollectedMessage[];
  /** Waits until at least `n` messages arrived (deadline is a hang guard, not an assertion). */
  waitForCount(n: number, timeoutMs?: number): Promise<readonly CollectedMessage[]>;
  stop(): Promise<void>;
};

/** Reads a topic from the beginning with a throwaway group: what actually reached Kafka. */
export type CollectOptions = {
  /**
   * `beginning` (default): every message the topic holds. `end`: only messages written after
   * the collector started (the end offsets are read before subscribing and sought on join) —
   * for shared topics that may already hold millions of messages.
   */
  readonly from?: 'beginning' | 'end';
};

export async function collectTopic(kafka: Kafka, topic: string, onMessage?: (m: CollectedMessage) => void, options: CollectOptions = {}): Promise<TopicCollector> {
  const admin = kafka.admin();
  await admin.connect();
  let ends: { partition: number; offset: string }[] = [];
  try {
    // Subscribing to a topic that does not exist yet fails: create it (no-op when it exists).
    if (!(await admin.listTopics()).includes(topic)) await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1 }] });
    if (options.from === 'end') ends = (await admin.fetchTopicOffsets(topic)).map((o) => ({ partition: o.partition, offset: o.high }));
  } finally {
    await admin.disconnect();
  }
  const messages: CollectedMessage[] = [];
  const consumer: Consumer = kafka.consumer({ groupId: uniqueName('collector'), maxWaitTimeInMs: 100, retry: { retries: 10, restartOnFailure: async () => true } });
  let joined!: () => void;
  const ready = new Promise<void>((resolve) => {
    joined = resolve;
  });
  consumer.on(consumer.events.GROUP_JOIN, () => {
    for (const e of ends) consumer.seek({ topic, partition: e.partition, offset: e.offset });
    joined();
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({
    eachMessage: async ({ partition, message }) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(message.headers ?? {})) {
        if (v !== undefined) headers[k] = Array.isArray(v) ? v.map(String).join(',') : v.toString();
      }
      const m: CollectedMessage = {
        partition,
        offset: message.offset,
        key: message.key?.toString() ?? null,
        value: message.value?.toString() ?? null,
        headers,
        receivedAt: Date.now(),
      };
      messages.push(m);
      onMessage?.(m);
    },
  });
  await ready;
  return {
    messages,
    waitForCount: (n, timeoutMs = 60_000) => waitFor(() => (messages.length >= n ? messages : undefined), { timeoutMs, what: `${n} messages on ${topic}` }),
    stop: () => consumer.disconnect(),
  };
}

/**
 * Deletes the topics a spec created: every topic whose name starts with one of the
 * prefixes (so `<topic>` also takes its `<topic>.dlq.<group>` dead-letter topics along).
 */
export async function dropTopics(kafka: Kafka, prefixes: readonly string[]): Promise<string[]> {
  if (prefixes.length === 0) return [];
  const admin = kafka.admin();
  await admin.connect();
  try {
    const doomed = (await admin.listTopics()).filter((t) => prefixes.some((p) => t.startsWith(p)));
    // In small groups: one large request was seen to return without deleting anything.
    for (let i = 0; i < doomed.length; i += 10) await admin.deleteTopics({ topics: doomed.slice(i, i + 10), timeout: 15_000 });
    return doomed;
  } finally {
    await admin.disconnect();
  }
}
