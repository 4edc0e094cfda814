import { join } from 'node:path';
import type { Client as EsClient } from '@elastic/elasticsearch';
import { Global, Module, type DynamicModule } from '@nestjs/common';
import type { Admin, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { int, list, loadConfig, oneOf, port, str, url, type ConfigOf, type ConfigSchema } from './config.js';
import { Database } from './database.js';
import { createEsClient, createKafka, esHealth, kafkaHealth, type HealthCheck } from './infra.js';
import { defaultKafkaInstanceId, kafkaInstance, parseKafkaInstanceId, type ClaimableKafkaInstance } from './kafka-instance.js';
import { createLogger } from './logger.js';
import { keyledgerHome } from './paths.js';
import { applyTlsPosture, devTlsFiles, loadTls, type TlsMaterial } from './tls.js';

/** Variables every service reads. Service-specific schemas extend this one. */
export const commonSchema = {
  KEYLEDGER_HOME: str('directory for local data, TLS material and bootstrap credentials', keyledgerHome()),
  DATABASE_URL: url('PostgreSQL connection URL', 'postgres://keyledger:keyledger@127.0.0.1:5432/keyledger', ['postgres', 'postgresql']),
  KAFKA_BROKERS: list('comma-separated Kafka bootstrap brokers', ['127.0.0.1:9092']),
  KAFKA_INSTANCE_ID: {
    description:
      'this instance as Kafka sees it (its client id is <id>#<per-process incarnation>): stable across restarts, unique among live instances; a restarted process removes the group members of its dead incarnations. Default keyledger-<service>@<hostname>:<BIND_HOST>:<port>',
    default: '',
    parse: parseKafkaInstanceId,
  },
  OUTBOX_COMPRESSION: oneOf(
    'compression of the batches the outbox relay publishes to Kafka: gzip (the relay compresses, the broker and the consumers decompress; audit records take ~17x fewer bytes on the network and the broker disk, at no measurable CPU cost on the 2-core bench) or none',
    ['none', 'gzip'] as const,
    'gzip',
  ),
  ELASTICSEARCH_URL: url('Elasticsearch URL', 'http://127.0.0.1:9200', ['http', 'https']),
  ELASTICSEARCH_USERNAME: str('Elasticsearch user (security on)', ''),
  ELASTICSEARCH_PASSWORD: str('Elasticsearch password', '', true),
  TLS_CERT_FILE: str('server certificate (PEM)', ''),
  TLS_KEY_FILE: str('server private key (PEM)', '', true),
  TLS_CA_FILE: str('CA bundle that signs service certificates (PEM)', ''),
  BIND_HOST: str('address the service listens on', '127.0.0.1'),
  LOG_LEVEL: oneOf('log level', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const, 'info'),
  SHUTDOWN_GRACE_MS: int('after SIGTERM, longest wait for the requests in flight before the process exits anyway (exit 1), milliseconds (npm start sends SIGKILL after 15 s)', 10_000, 1_000, 600_000),
} satisfies ConfigSchema;

export type CommonConfig = ConfigOf<typeof commonSchema>;

export const RUNTIME = Symbol('keyledger.runtime');
export const CONFIG = Symbol('keyledger.config');
export const LOGGER = Symbol('keyledger.logger');
export const DATABASE = Symbol('keyledger.database');
export const KAFKA = Symbol('keyledger.kafka');
export const ELASTICSEARCH = Symbol('keyledger.elasticsearch');

export { port };

/**
 * Everything a service needs from the outside world, built once at boot from validated
 * configuration. Nest providers receive the pieces through the tokens above.
 */
export class ServiceRuntime<C extends CommonConfig = CommonConfig> {
  private adminConnected: Promise<void> | undefined;

  private constructor(
    readonly service: string,
    readonly config: C,
    readonly logger: Logger,
    readonly db: Database,
    readonly kafka: Kafka,
    readonly kafkaAdmin: Admin,
    readonly es: EsClient,
    readonly tls: TlsMaterial,
    private readonly instance: ClaimableKafkaInstance,
  ) {}

  /**
   * `port`: the service's HTTPS port, part of the default Kafka instance id (kafka-instance.ts).
   */
  static async start<S extends typeof commonSchema>(service: string, schema: S, env: NodeJS.ProcessEnv = process.env, port?: (config: ConfigOf<S>) => number): Promise<ServiceRuntime<ConfigOf<S>>> {
    const config = loadConfig(schema, env);
    // Every HTTPS and gRPC server of the process holds the TLS posture (tls.ts).
    applyTlsPosture();
    // S extends the common schema, so its parsed config has every common field.
    const c = config as unknown as CommonConfig;
    const logger = createLogger(service, c.LOG_LEVEL);
    const files = devTlsFiles(c.KEYLEDGER_HOME);
    const tls = loadTls({
      certFile: c.TLS_CERT_FILE || files.certFile,
      keyFile: c.TLS_KEY_FILE || files.keyFile,
      caFile: c.TLS_CA_FILE || files.caFile,
    });
    const db = await connectWithRetry(() => Database.connect(c.DATABASE_URL, service, { applicationName: `keyledger-${service}` }), logger);
    const instance = kafkaInstance(c.KAFKA_INSTANCE_ID || defaultKafkaInstanceId(service, c.BIND_HOST, port ? port(config) : 0));
    const kafka = createKafka(`keyledger-${service}`, c.KAFKA_BROKERS, logger, instance);
    const es = createEsClient(c.ELASTICSEARCH_URL, {
      ...(c.ELASTICSEARCH_USERNAME ? { username: c.ELASTICSEARCH_USERNAME, password: c.ELASTICSEARCH_PASSWORD } : {}),
    });
    return new ServiceRuntime(service, config, logger, db, kafka, kafka.admin(), es, tls, instance);
  }

  /** The Kafka instance id and this process's incarnation (its client id). */
  get kafkaClientId(): string {
    return this.instance.clientId;
  }

  /**
   * Declares this process the only live incarnation of its Kafka instance; call once the
   * service's listener is bound (startService does). From then on its consumers remove the
   * group members that dead incarnations of the instance left behind.
   */
  claimKafkaInstance(): void {
    this.instance.claim();
  }

  /** The shared Kafka admin client, connected on first use. */
  async admin(): Promise<Admin> {
    this.adminConnected ??= this.kafkaAdmin.connect().catch((err: unknown) => {
      this.adminConnected = undefined;
      throw err;
    });
    await this.adminConnected;
    return this.kafkaAdmin;
  }

  /** The dependency checks behind GET /health. */
  healthChecks(extra: Record<string, HealthCheck> = {}): Record<string, HealthCheck> {
    return {
      postgres: async () => {
        await this.db.ping();
        return `schema ${this.db.schema}`;
      },
      kafka: async () => kafkaHealth(await this.admin())(),
      elasticsearch: esHealth(this.es),
      ...extra,
    };
  }

  migrationsDir(appDir: string): string {
    return join(appDir, 'migrations');
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.kafkaAdmin.disconnect(), this.db.close(), this.es.close()]);
  }
}

async function connectWithRetry<T>(connect: () => Promise<T>, logger: Logger, attempts = 20): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await connect();
    } catch (err) {
      if (i >= attempts) throw new Error(`cannot reach PostgreSQL after ${attempts} attempts: ${err instanceof Error ? err.message : String(err)}`);
      logger.warn({ attempt: i }, 'PostgreSQL not reachable yet, retrying');
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** Makes the runtime's parts injectable everywhere in a service. */
@Global()
@Module({})
export class RuntimeModule {
  static forRoot(runtime: ServiceRuntime): DynamicModule {
    const providers = [
      { provide: RUNTIME, useValue: runtime },
      { provide: CONFIG, useValue: runtime.config },
      { provide: LOGGER, useValue: runtime.logger },
      { provide: DATABASE, useValue: runtime.db },
      { provide: KAFKA, useValue: runtime.kafka },
      { provide: ELASTICSEARCH, useValue: runtime.es },
    ];
    return { module: RuntimeModule, providers, exports: providers.map((p) => p.provide) };
  }
}
