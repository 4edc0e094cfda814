import type { Admin } from 'kafkajs';

export type EnsureTopicsOptions = {
  readonly partitions?: number;
  readonly replicationFactor?: number;
  readonly configEntries?: readonly { readonly name: string; readonly value: string }[];
};

/**
 * Creates the topics that do not exist yet and waits for their leaders. Idempotent and safe
 * to race: a topic created meanwhile by someone else is not an error. Returns the topics it
 * created.
 */
export async function ensureTopics(admin: Admin, topics: readonly string[], partitionsOrOptions: number | EnsureTopicsOptions = {}): Promise<string[]> {
  const opts: EnsureTopicsOptions = typeof partitionsOrOptions === 'number' ? { partitions: partitionsOrOptions } : partitionsOrOptions;
  const wanted = [...new Set(topics)];
  if (wanted.length === 0) return [];
  const existing = new Set(await admin.listTopics());
  const missing = wanted.filter((t) => !existing.has(t));
  if (missing.length === 0) return [];
  try {
    await admin.createTopics({
      waitForLeaders: true,
      topics: missing.map((topic) => ({
        topic,
        numPartitions: opts.partitions ?? 1,
        replicationFactor: opts.replicationFactor ?? 1,
        ...(opts.configEntries ? { configEntries: opts.configEntries.map((e) => ({ ...e })) } : {}),
      })),
    });
  } catch (err) {
    const errors = (err as { errors?: readonly { type?: string }[] }).errors;
    if (!errors || !errors.every((e) => e.type === 'TOPIC_ALREADY_EXISTS')) throw err;
  }
  // createTopics answers false without waiting when some topics already existed: wait for leaders here.
  await admin.fetchTopicMetadata({ topics: missing });
  return missing;
}
