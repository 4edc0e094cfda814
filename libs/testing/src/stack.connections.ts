import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Client as EsClient } from '@elastic/elasticsearch';
import type { Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { commonSchema, createEsClient, createKafka, createLogger, loadConfig, REPO_ROOT } from '#libs/platform';

const stackSchema = {
  DATABASE_URL: commonSchema.DATABASE_URL,
  KAFKA_BROKERS: commonSchema.KAFKA_BROKERS,
  ELASTICSEARCH_URL: commonSchema.ELASTICSEARCH_URL,
  ELASTICSEARCH_USERNAME: commonSchema.ELASTICSEARCH_USERNAME,
  ELASTICSEARCH_PASSWORD: commonSchema.ELASTICSEARCH_PASSWORD,
};

export type StackEnv = {
  readonly databaseUrl: string;
  readonly kafkaBrokers: readonly string[];
  readonly elasticsearchUrl: string;
  readonly elasticsearchUsername: string;
  readonly elasticsearchPassword: string;
};

/** The local stack's addresses, from the same variables and defaults the services read. */
export function stackEnv(env: NodeJS.ProcessEnv = process.env): StackEnv {
  const c = loadConfig(stackSchema, env);
  return {
    databaseUrl: c.DATABASE_URL,
    kafkaBrokers: c.KAFKA_BROKERS,
    elasticsearchUrl: c.ELASTICSEARCH_URL,
    elasticsearchUsername: c.ELASTICSEARCH_USERNAME,
    elasticsearchPassword: c.ELASTICSEARCH_PASSWORD,
  };
}

/** Quiet by default: tests read assertions, not logs (TEST_LOG_LEVEL=debug to see them). */
export function testLogger(name = 'test'): Logger {
  return createLogger(name, process.env.TEST_LOG_LEVEL ?? 'silent');
}

export function testKafka(clientId = 'keyledger-test', logger: Logger = testLogger('kafka')): Kafka {
  return createKafka(clientId, stackEnv().kafkaBrokers, logger);
}

export function testEs(): EsClient {
  const env = stackEnv();
  return createEsClient(env.elasticsearchUrl, env.elasticsearchUsername ? { username: env.elasticsearchUsername, password: env.elasticsearchPassword } : {});
}

/**
 * Stops, starts or waits for the local stack's Kafka broker (deploy/local/kafka/kafka.sh).
 * Only the `*.kafka-outage.int.spec` files use it; test/sequencer.cjs runs them last.
 */
export async function localKafkaBroker(command: 'stop' | 'start' | 'wait' | 'status'): Promise<string> {
  const run = promisify(execFile);
  return (await run('bash', [join(REPO_ROOT, 'deploy/local/kafka/kafka.sh'), command], { cwd: REPO_ROOT, timeout: 180_000 })).stdout;
}
