import 'reflect-metadata';
import { randomUUID } from 'node:crypto';
import type { DynamicModule, INestApplication, Type } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { FastifyAdapter, type NestFastifyApplication } from '@nestjs/platform-fastify';
import type { FastifyInstance, FastifyServerOptions } from 'fastify';
import type { Logger } from 'pino';
import { correlationIdFrom, runWithContext } from './context.js';
import { probe, type ComponentHealth, type HealthCheck } from './infra.js';
import { PinoNestLogger } from './logger.js';
import { httpRequestDuration, metricsRegistry } from './metrics.js';
import { tlsServerOptions, type TlsMaterial } from './tls.js';

export type HttpServiceOptions = {
  readonly service: string;
  readonly module: Type<unknown> | DynamicModule;
  readonly host: string;
  readonly port: number;
  readonly tls?: TlsMaterial;
  readonly logger: Logger;
  /** Largest accepted request body in bytes. */
  readonly bodyLimit?: number;
  readonly trustProxy?: boolean;
  /** Named dependency checks reported by GET /health. */
  readonly health: () => Record<string, HealthCheck>;
  /**
   * The checks the request path needs (GET /health/ready answers 503 when one is down); every
   * other check is a degraded projection, reported but not taking the service out of rotation.
   */
  readonly readiness?: readonly string[];
  /** Hooks and routes that must run before Nest's (for example a 401 challenge before the body is read). */
  readonly configure?: (fastify: FastifyInstance, app: INestApplication) => void | Promise<void>;
} & PreRoutingOptions;

/**
 * Answers for the requests Fastify or Node reject before any route or hook runs (so before the
 * correlation id, `x-ms-request-id` or a service's own pipeline): each defaults to Fastify's,
 * Nest's or Node's bare answer.
 */
export type PreRoutingOptions = {
  /** Fastify's `frameworkErrors`: the router's rejections (FST_ERR_BAD_URL for a malformed percent-encoding, FST_ERR_MAX_PARAM_LENGTH, FST_ERR_ASYNC_CONSTRAINT). */
  readonly frameworkErrors?: FastifyServerOptions['frameworkErrors'];
  /** Fastify's `clientErrorHandler`: malformed HTTP on a connection (request line, header, framing), headers too large, request timeout. */
  readonly clientErrorHandler?: FastifyServerOptions['clientErrorHandler'];
  /** Node's `requireHostHeader` (default true: an HTTP/1.1 request without Host gets a bare 400 and reaches no hook). */
  readonly requireHostHeader?: boolean;
};

export type HealthReport = { readonly status: 'up' | 'down'; readonly service: string; readonly components: Record<string, ComponentHealth> };

/**
 * GET /health/ready, for load balancers: `ready` (everything up), `degraded` (a projection is
 * down — Elasticsearch, a consumer rejoining its group — but requests are served: still 200),
 * `not-ready` (something the request path needs is down: 503).
 */
export type ReadinessReport = {
  readonly status: 'ready' | 'degraded' | 'not-ready';
  readonly service: string;
  /** The components the request path needs. */
  readonly required: readonly string[];
  /** Components that are down (required or not). */
  readonly down: readonly string[];
  readonly components: Record<string, ComponentHealth & { readonly required: boolean }>;
};

/** The checks a service's request path needs unless it says otherwise: PostgreSQL holds its state and its audit outbox. */
export const DEFAULT_READINESS: readonly string[] = ['postgres'];

export async function readinessReport(service: string, checks: Record<string, HealthCheck>, required: readonly string[] = DEFAULT_READINESS): Promise<ReadinessReport> {
  const health = await healthReport(service, checks);
  const components = Object.fromEntries(Object.entries(health.components).map(([name, c]) => [name, { ...c, required: required.includes(name) }]));
  const down = Object.entries(components).filter(([, c]) => c.status !== 'up').map(([name]) => name);
  // A required check the service does not have counts as down: a misnamed requirement must not pass silently.
  const missing = required.filter((name) => !(name in components));
  const notReady = missing.length > 0 || down.some((name) => required.includes(name));
  return { status: notReady ? 'not-ready' : down.length ? 'degraded' : 'ready', service, required: [...required], down: [...down, ...missing], components };
}

/**
 * Builds a service's HTTPS front: Fastify under Nest, a correlation id per request,
 * `x-ms-request-id` on every response, request metrics, `/health`, `/metrics`, and a
 * clean shutdown on SIGTERM/SIGINT.
 */
export async function createHttpService(opts: HttpServiceOptions): Promise<NestFastifyApplication> {
  const hostHeader = opts.requireHostHeader !== undefined ? { requireHostHeader: opts.requireHostHeader } : {};
  const adapter = new FastifyAdapter({
    ...(opts.tls ? { https: { key: opts.tls.key, cert: opts.tls.cert, ...tlsServerOptions(), ...hostHeader } } : opts.requireHostHeader !== undefined ? { http: hostHeader } : {}),
    ...(opts.frameworkErrors ? { frameworkErrors: opts.frameworkErrors } : {}),
    ...(opts.clientErrorHandler ? { clientErrorHandler: opts.clientErrorHandler } : {}),
    bodyLimit: opts.bodyLimit ?? 256 * 1024,
    trustProxy: opts.trustProxy ?? false,
    genReqId: () => randomUUID(),
    keepAliveTimeout: 65_000,
    // Requests that arrive while the service closes reach the routes: each service's gate refuses
    // them with an audited 503 in its envelope (kernel `isDraining`), not Fastify's bare one.
    return503OnClosing: false,
    // Azure object names are up to 127 characters (plus versions, percent-encoding): Fastify's
    // default (100) would answer 404 for longer path parameters.
    routerOptions: { maxParamLength: 512 },
  });
  const app = await NestFactory.create<NestFastifyApplication>(opts.module, adapter, {
    logger: new PinoNestLogger(opts.logger.child({ component: 'nest' })),
    bufferLogs: false,
    // Fastify's own JSON parser stays; services add the parsers they need (form bodies on identity).
    bodyParser: false,
    abortOnError: false,
  });
  const fastify = app.getHttpAdapter().getInstance() as unknown as FastifyInstance;

  fastify.addHook('onRequest', (req, reply, done) => {
    const correlationId = correlationIdFrom(req.headers['x-ms-client-request-id'] ?? req.headers['x-correlation-id']);
    const requestId = String(req.id);
    reply.header('x-ms-request-id', requestId);
    if (req.headers['x-ms-client-request-id'] !== undefined) reply.header('x-ms-client-request-id', correlationId);
    runWithContext({ correlationId, requestId }, done);
  });
  fastify.addHook('onResponse', (req, reply, done) => {
    const route = req.routeOptions?.url ?? 'unmatched';
    httpRequestDuration.observe(
      { service: opts.service, method: req.method, route, status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
    done();
  });

  fastify.get('/health', async (_req, reply) => {
    const report = await healthReport(opts.service, opts.health());
    return reply.code(report.status === 'up' ? 200 : 503).send(report);
  });
  fastify.get('/health/live', async () => ({ status: 'up', service: opts.service }));
  fastify.get('/health/ready', async (_req, reply) => {
    const report = await readinessReport(opts.service, opts.health(), opts.readiness);
    return reply.code(report.status === 'not-ready' ? 503 : 200).send(report);
  });
  fastify.get('/metrics', async (_req, reply) => {
    reply.header('content-type', metricsRegistry.contentType);
    return metricsRegistry.metrics();
  });

  if (opts.configure) await opts.configure(fastify, app);
  return app;
}

export async function healthReport(service: string, checks: Record<string, HealthCheck>): Promise<HealthReport> {
  const entries = await Promise.all(Object.entries(checks).map(async ([name, check]) => [name, await probe(check)] as const));
  const components = Object.fromEntries(entries);
  const status = entries.every(([, c]) => c.status === 'up') ? 'up' : 'down';
  return { status, service, components };
}

/** Starts listening and logs where; failures to bind name the port. */
export async function listen(app: NestFastifyApplication, service: string, host: string, port: number, logger: Logger): Promise<string> {
  try {
    await app.listen(port, host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new Error(`${service}: port ${port} on ${host} is already in use`);
    throw err;
  }
  const scheme = app.getHttpAdapter().getInstance().initialConfig.https ? 'https' : 'http';
  const url = `${scheme}://${host === '127.0.0.1' || host === '0.0.0.0' ? 'localhost' : host}:${port}`;
  logger.info({ url }, `${service} listening`);
  return url;
}

/**
 * Runs a service's main: a boot failure (bad configuration above all) is printed once,
 * plainly, and the process exits non-zero without a stack trace for expected failures.
 */
export function runMain(service: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    const expected = err instanceof Error && (err.name === 'ConfigError' || /already in use|not found at|cannot reach/.test(err.message));
    process.stderr.write(`${service}: failed to start: ${message}\n`);
    if (!expected && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    process.exit(1);
  });
}
