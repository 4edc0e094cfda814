import { readFileSync } from 'node:fs';
import { Client as EsClient } from '@elastic/elasticsearch';
import { Kafka, logLevel, type Admin } from 'kafkajs';
import type { Logger } from 'pino';
import { registerKafkaInstance, type KafkaInstance } from './kafka-instance.js';

/**
 * A Kafka client. With `instance`, its client id is the instance's `<instance>#<incarnation>`
 * (kafka-instance.ts), by which a restarted process recognises its dead incarnation's group
 * members, and `kafkaInstanceOf(kafka)` answers the instance.
 */
export function createKafka(clientId: string, brokers: readonly string[], logger?: Logger, instance?: KafkaInstance): Kafka {
  const kafka = new Kafka({
    clientId: instance?.clientId ?? clientId,
    brokers: [...brokers],
    connectionTimeout: 3_000,
    requestTimeout: 10_000,
    retry: { initialRetryTime: 100, retries: 8, maxRetryTime: 5_000 },
    logLevel: logLevel.WARN,
    logCreator: () => ({ namespace, level, log }) => {
      if (!logger) return;
      const { message, ...rest } = log;
      // kafkajs log entries carry broker metadata only, never message payloads.
      const fields = { namespace, broker: rest.broker, clientId: rest.clientId, error: rest.error };
      if (level <= logLevel.ERROR) logger.error(fields, String(message));
      else logger.warn(fields, String(message));
    },
  });
  if (instance) registerKafkaInstance(kafka, instance);
  return kafka;
}

export function createEsClient(node: string, opts: { caFile?: string; username?: string; password?: string } = {}): EsClient {
  return new EsClient({
    node,
    requestTimeout: 10_000,
    ...(opts.username && opts.password ? { auth: { username: opts.username, password: opts.password } } : {}),
    ...(opts.caFile ? { tls: { ca: readFileSync(opts.caFile) } } : {}),
  });
}

export type ComponentHealth = { readonly status: 'up' | 'down'; readonly latencyMs: number; readonly detail?: string };

/** Resolves (with an optional detail) when the component is up; rejects with why it is down. */
export type HealthCheck = () => Promise<string | undefined>;

export async function probe(check: HealthCheck, timeoutMs = 2_000): Promise<ComponentHealth> {
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  try {
    const detail = await Promise.race([
      check(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { status: 'up', latencyMs: Math.round(performance.now() - started), ...(detail ? { detail } : {}) };
  } catch (err) {
    return { status: 'down', latencyMs: Math.round(performance.now() - started), detail: err instanceof Error ? err.message : String(err) };
  } finally {
    if (timer) clearTimeout(timer);
  }
}

export const kafkaHealth = (admin: Admin): HealthCheck => async () => {
  const cluster = await admin.describeCluster();
  return `${cluster.brokers.length} broker(s), controller ${cluster.controller ?? 'unknown'}`;
};

export const esHealth = (es: EsClient): HealthCheck => async () => {
  const h = await es.cluster.health({ timeout: '1s' });
  if (h.status === 'red') throw new Error('cluster status red');
  return `cluster ${h.cluster_name} ${h.status}`;
};
