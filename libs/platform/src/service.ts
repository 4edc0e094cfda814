import type { DynamicModule } from '@nestjs/common';
import { startDraining } from '#libs/kernel';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance } from 'fastify';
import { createHttpService, listen, type PreRoutingOptions } from './bootstrap.js';
import type { ConfigOf } from './config.js';
import type { HealthCheck } from './infra.js';
import { ServiceRuntime, type CommonConfig, type commonSchema } from './runtime.js';

export type ServiceDefinition<S extends typeof commonSchema> = {
  readonly name: string;
  readonly schema: S;
  /** The config variable holding the HTTPS port. */
  readonly portOf: (config: ConfigOf<S>) => number;
  readonly module: (runtime: ServiceRuntime<ConfigOf<S>>) => DynamicModule | Promise<DynamicModule>;
  readonly bodyLimit?: number;
  readonly health?: (runtime: ServiceRuntime<ConfigOf<S>>, app: NestFastifyApplication) => Record<string, HealthCheck>;
  /** The health checks the request path needs, for GET /health/ready (default: postgres). */
  readonly readiness?: readonly string[];
  readonly configure?: (fastify: FastifyInstance, runtime: ServiceRuntime<ConfigOf<S>>, app: NestFastifyApplication) => void | Promise<void>;
} & PreRoutingOptions;

export type RunningService<S extends typeof commonSchema> = {
  readonly app: NestFastifyApplication;
  readonly runtime: ServiceRuntime<ConfigOf<S>>;
  readonly url: string;
  readonly close: () => Promise<void>;
};

/** Boots a service: validated config, runtime, Nest app on HTTPS with health and metrics. */
export async function startService<S extends typeof commonSchema>(def: ServiceDefinition<S>, env: NodeJS.ProcessEnv = process.env): Promise<RunningService<S>> {
  const boot: Record<string, number> = { loadedMs: Math.round(process.uptime() * 1000) };
  let phase = performance.now();
  const lap = (name: string): void => {
    const now = performance.now();
    boot[name] = Math.round(now - phase);
    phase = now;
  };
  const runtime = await ServiceRuntime.start(def.name, def.schema, env, def.portOf);
  lap('runtimeMs');
  const module = await def.module(runtime);
  lap('moduleMs');
  const host = (runtime.config as unknown as CommonConfig).BIND_HOST;
  const started: { app?: NestFastifyApplication } = {};
  const app = await createHttpService({
    service: def.name,
    module,
    host,
    port: def.portOf(runtime.config),
    tls: runtime.tls,
    logger: runtime.logger,
    ...(def.bodyLimit !== undefined ? { bodyLimit: def.bodyLimit } : {}),
    ...(def.frameworkErrors ? { frameworkErrors: def.frameworkErrors } : {}),
    ...(def.clientErrorHandler ? { clientErrorHandler: def.clientErrorHandler } : {}),
    ...(def.requireHostHeader !== undefined ? { requireHostHeader: def.requireHostHeader } : {}),
    health: () => runtime.healthChecks(def.health && started.app ? def.health(runtime, started.app) : {}),
    ...(def.readiness ? { readiness: def.readiness } : {}),
    configure: async (fastify, nestApp) => {
      if (def.configure) await def.configure(fastify, runtime, nestApp as NestFastifyApplication);
    },
  });
  started.app = app;
  lap('appMs');
  let closed = false;
  const close = async (): Promise<void> => {
    if (closed) return;
    closed = true;
    await app.close();
    await runtime.close();
  };
  // Graceful shutdown on SIGTERM/SIGINT: the listener closes, requests in flight finish (those
  // that still arrive on open connections are refused by the gate, audited), then the runtime is
  // released and the process exits 0 — or exits 1 once SHUTDOWN_GRACE_MS have passed without it.
  const grace = (runtime.config as unknown as CommonConfig).SHUTDOWN_GRACE_MS;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      runtime.logger.info({ signal, graceMs: grace }, `${def.name} shutting down`);
      startDraining();
      setTimeout(() => {
        runtime.logger.error({ graceMs: grace }, `${def.name} did not finish its requests in flight within the grace period: exiting`);
        process.exit(1);
      }, grace).unref();
      close().then(
        () => process.exit(0),
        (err: unknown) => {
          runtime.logger.error({ err: err instanceof Error ? err.message : String(err) }, `${def.name} shutdown failed`);
          process.exit(1);
        },
      );
    });
  }
  const url = await listen(app, def.name, host, def.portOf(runtime.config), runtime.logger);
  lap('listenMs');
  // Bound: no other live process holds this address and port, so none runs as this Kafka
  // instance (default id) — any member of it in our groups is a dead incarnation's.
  runtime.claimKafkaInstance();
  // Where a (re)start's time went: loading the code (process start to startService), the
  // runtime (PostgreSQL pool, Kafka and Elasticsearch clients), the module (migrations,
  // topics), the Nest app (providers, bootstrap hooks), the listener.
  runtime.logger.info({ boot: { ...boot, totalMs: Math.round(process.uptime() * 1000) }, kafkaClientId: runtime.kafkaClientId }, `${def.name} started`);
  return { app, runtime, url, close };
}
