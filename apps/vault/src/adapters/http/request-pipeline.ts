import { randomUUID } from 'node:crypto';
import { METHODS, STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { finished, type Duplex } from 'node:stream';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods, RouteHandlerMethod } from 'fastify';
import type { Logger } from 'pino';
import secureJson from 'secure-json-parse';
import type { Principal } from '#libs/auth';
import { identityOf, unstorableIn, type AuditedOperationGate, type OperationAudit, type OperationDeclaration } from '#libs/gate';
import { correlationIdFrom, currentContext, counter, histogram, type PreRoutingOptions } from '#libs/platform';
import type { Caller } from '../../application/access/caller.js';
import type { VaultsService } from '../../application/vaults/vaults.service.js';
import type { VaultRecord } from '../persistence/vaults.repository.js';
import { queryOf, requireApiVersion } from './api-version.js';
import { fromFastifyError, HttpProblem, preRoutingProblem, toProblem } from './azure-errors.js';
import type { TokenAuthenticator } from './token-auth.js';
import { resolveVaultHost, type ContainerKind } from './vault-host.js';

const requestsTotal = counter('keyledger_vault_requests_total', 'Vault API requests by operation and status', ['operation', 'status']);
/** Where a request's time goes: the pipeline before the handler, the handler, and the audit write. */
const stageSeconds = histogram('keyledger_vault_request_stage_seconds', 'Time of each stage of a vault API request', ['stage'], [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]);

/** A route's operation, declared once (`#libs/gate`): the gate admits requests by it. */
export type OperationSpec = OperationDeclaration;

/** Per-request state the pipeline builds and the handlers read. */
export type ApiRequest = {
  readonly op: OperationSpec;
  readonly audit: OperationAudit;
  readonly query: URLSearchParams;
  apiVersion: string;
  origin: string;
  /** The kind of container the request's host names. */
  containerKind: ContainerKind;
  vault: VaultRecord | undefined;
  principal: Principal | undefined;
  caller: Caller | undefined;
  /** performance.now() when the handler got the request (stage timing). */
  handlerStartedAt?: number;
};

export type PipelineDeps = {
  readonly logger: Logger;
  /** The one audited-operation gate: resolve, authenticate, authorise, record. */
  readonly gate: AuditedOperationGate<VaultRecord>;
  /** For the records of requests rejected before routing: their vault and caller, best effort. */
  readonly auth: Pick<TokenAuthenticator, 'authenticate'>;
  readonly vaults: VaultsService;
  /** Managed HSM pools (absent: every host is a vault's). */
  readonly pools?: VaultsService;
  readonly domain: string;
  readonly defaultVault: string;
  readonly publicUrl: string;
  /** Public origin template of pools (`{pool}`), '' for the Host header's. */
  readonly publicHsmUrl?: string;
  readonly ready: () => boolean;
  /** The token issuer of a tenant, for the 403 message's Caller line. */
  readonly issuerOf: (tenantId: string) => string;
  /** Largest request body of a route that sets no limit of its own, bytes. */
  readonly bodyLimit: number;
  /** After RBAC: whether the container serves this operation now (a Managed HSM pool awaiting its security domain does not); throws the answer. */
  readonly activation?: (container: VaultRecord, op: OperationSpec) => Promise<void>;
};

const states = new WeakMap<FastifyRequest, ApiRequest>();

export function apiRequest(req: FastifyRequest): ApiRequest {
  const st = states.get(req);
  if (!st) throw new Error('request did not go through the vault pipeline');
  return st;
}

/** The verified caller and vault of a data-plane request (the pipeline guarantees both). */
export function dataPlane(req: FastifyRequest): { st: ApiRequest; vault: VaultRecord; caller: Caller } {
  const st = apiRequest(req);
  if (!st.vault || !st.caller) throw new Error('data-plane request without vault or caller');
  return { st, vault: st.vault, caller: st.caller };
}

type RouteDef = { readonly method: HTTPMethods; readonly url: string; readonly op: OperationSpec; readonly handler: RouteHandlerMethod; readonly bodyLimit?: number };

const FALLBACK: OperationSpec = { name: 'Unknown', kind: 'fallback' };
/** The audit operationName of a request rejected before routing (malformed URL or HTTP). */
export const REJECTED_OPERATION = 'BadRequest';
const REJECTED: OperationSpec = { name: REJECTED_OPERATION, kind: 'fallback' };
/** The operationVersion recorded for Keyledger's administration API. */
const ADMIN_VERSION = 'keyledger-admin-1';
/** Connections whose malformed request is being answered (Node may report one parse error more than once). */
const rejectedSockets = new WeakSet<Socket>();

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-cache',
  pragma: 'no-cache',
  expires: '-1',
  'x-content-type-options': 'nosniff',
  'strict-transport-security': 'max-age=31536000;includeSubDomains',
  'x-ms-keyvault-service-version': 'keyledger-0.1.0',
};

/** SECURITY_HEADERS as entries, listed once (every answer sets them). */
const SECURITY_HEADER_ENTRIES: ReadonlyArray<readonly [string, string]> = Object.entries(SECURITY_HEADERS);

/** What Managed HSM adds to every answer, its 401 included (recorded sessions, `managedhsm/`). */
const MANAGED_HSM_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'self'",
  'x-frame-options': 'SAMEORIGIN',
};

/**
 * The Azure Key Vault REST pipeline, as an encapsulated Fastify plugin so that its hooks,
 * parsers and error handler apply to the vault API only (not /health or /metrics):
 *
 *   onRequest (before the body is read): vault from Host → 401 challenge without a token →
 *   api-version → token verification → RBAC (403) — then body parsing (JSON only) → handler → error
 *   envelope → onSend: the request's one audit record is made durable before the answer
 *   leaves, or the answer becomes a 503 (fail closed).
 *
 * Requests rejected before any route or hook runs — by Fastify's router (malformed
 * percent-encoding) or by Node's HTTP parser (malformed request line or header, request line
 * and headers above 16 KB, timeout) — get the same: Azure's envelope, x-ms-request-id, and
 * one record (operation BadRequest) made durable first, through `frameworkError` and
 * `clientError` (server options: `preRoutingOptions`).
 */
export class ApiPipeline {
  private readonly routes: RouteDef[] = [];

  constructor(private readonly deps: PipelineDeps) {}

  route(method: HTTPMethods, url: string, op: OperationSpec, handler: RouteHandlerMethod, bodyLimit?: number): this {
    this.routes.push({ method, url, op, handler, ...(bodyLimit !== undefined ? { bodyLimit } : {}) });
    return this;
  }

  async register(fastify: FastifyInstance): Promise<void> {
    // Requests Node answers itself, bare, before Fastify sees them: an Expect other than
    // 100-continue (417) goes through the pipeline instead; CONNECT is answered here.
    fastify.server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => fastify.routing(req, res));
    fastify.server.on('connect', this.connectRequest);
    await fastify.register(async (api) => {
      // JSON only (parsed as Fastify does, refusing prototype poisoning); an empty body is no
      // body whatever its type (the SDKs send POST …/backup with Content-Length: 0); any other
      // media type with content is a 415.
      api.removeContentTypeParser(['application/json', 'text/plain']);
      api.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
        const text = typeof body === 'string' ? body : body.toString('utf8');
        if (text.trim() === '') return done(null, undefined);
        let parsed: unknown;
        try {
          parsed = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }) as unknown;
        } catch {
          return done(new HttpProblem(400, 'BadParameter', 'The request body is not valid JSON.'), undefined);
        }
        // What storage cannot hold (U+0000, unpaired surrogates) is refused here, once for every route.
        const where = unstorableIn(parsed);
        if (where !== undefined) return done(new HttpProblem(400, 'BadParameter', `The request body contains a string that cannot be stored (U+0000 or an unpaired UTF-16 surrogate, or nesting too deep) in ${where}.`), undefined);
        done(null, parsed);
      });
      api.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => {
        if ((body as Buffer).length === 0) return done(null, undefined);
        done(new HttpProblem(415, 'UnsupportedMediaType', `The request entity's media type '${String(req.headers['content-type'] ?? 'application/octet-stream').slice(0, 64)}' is not supported for this resource. Use application/json.`), undefined);
      });
      api.addHook('onRequest', (req, reply) => this.onRequest(req, reply));
      // The connection failed before the body was read (its framing broke, or the client left
      // while the hooks ran): the body can never arrive, and Fastify would wait for it forever.
      api.addHook('preParsing', (req, _reply, payload, done) => {
        if (!req.raw.complete && (req.raw.destroyed || req.raw.socket.destroyed)) return done(new HttpProblem(400, 'BadRequest', 'The request body could not be read.'));
        done(null, payload);
      });
      api.addHook('onSend', (req, reply, payload) => this.onSend(req, reply, payload));
      api.setErrorHandler((err, req, reply) => this.onError(err, req, reply));
      for (const r of this.routes) {
        api.route({ method: r.method, url: r.url, config: { op: r.op }, handler: r.handler, bodyLimit: r.bodyLimit ?? this.deps.bodyLimit });
      }
      // Every method Node's parser accepts reaches the fallback route (405/404 in Azure's envelope,
      // audited) instead of Fastify's bare 404: Fastify routes only the ones it knows.
      // CONNECT never reaches a route (Node closes the connection).
      for (const m of METHODS) if (m !== 'CONNECT' && !api.supportedMethods.includes(m)) api.addHttpMethod(m);
      const matchers = this.routes.map((r) => ({ method: r.method, re: patternOf(r.url) }));
      api.route({
        method: api.supportedMethods as HTTPMethods[],
        url: '/*',
        config: { op: FALLBACK },
        handler: async (req) => {
          const path = req.url.split('?')[0] ?? '/';
          const methods = matchers.filter((m) => m.re.test(path)).map((m) => m.method);
          if (methods.length > 0 && !methods.includes(req.method as HTTPMethods)) {
            throw new HttpProblem(405, 'MethodNotAllowed', `HTTP ${req.method} not allowed`);
          }
          throw new HttpProblem(404, 'NotFound', 'The requested resource was not found.');
        },
      });
    });
  }

  /**
   * Fastify's `frameworkErrors`: its router rejected the request before any hook ran (a
   * malformed percent-encoding in the path → FST_ERR_BAD_URL, an over-long parameter, a
   * failing constraint). Answered like every other request: Azure's envelope with
   * x-ms-request-id, after its one audit record is durable (else 503).
   */
  readonly frameworkError = (err: FastifyError, req: FastifyRequest, reply: FastifyReply): void => {
    this.answerFrameworkError(err, req, reply).catch((e: unknown) => {
      this.deps.logger.error({ err: e instanceof Error ? e.message : String(e) }, 'rejected request not answered');
      if (!reply.sent) void reply.code(503).send(new HttpProblem(503, 'ServiceUnavailable', 'The request could not be audited; no result is returned. Retry later.').body());
    });
  };

  /**
   * Fastify's `clientErrorHandler`: Node's HTTP parser rejected bytes on a connection (bad
   * request line, header name or value, framing; request line and headers above 16 KB) or the
   * request did not arrive in time. Such a request never reaches a route: it gets its record
   * (operation BadRequest, caller unknown) and Azure's envelope, then the connection closes.
   * When the broken bytes are the body of a routed request, that request is the pipeline's:
   * its body read fails (400, recorded once by onSend) and the connection is dropped, since no
   * answer may leave before that record is durable.
   */
  readonly clientError = (err: Error & { code?: string; rawPacket?: unknown }, socket: Socket): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed || rejectedSockets.has(socket)) return;
    rejectedSockets.add(socket);
    // The response Node is writing on this connection, if any (Node's own test in its default
    // clientError answer): a routed request is still in flight.
    const inflight = (socket as unknown as { _httpMessage?: ServerResponse | null })._httpMessage ?? undefined;
    if (inflight && !inflight.req.complete) {
      socket.destroy();
      return;
    }
    const answer = (): void => {
      this.answerClientError(err, socket).catch((e: unknown) => {
        this.deps.logger.error({ err: e instanceof Error ? e.message : String(e) }, 'malformed request not answered');
        socket.destroy();
      });
    };
    // A complete request is still being answered on this connection: the malformed one
    // pipelined after it is answered once that answer has left.
    if (inflight && !inflight.writableFinished) finished(inflight, answer);
    else answer();
  };

  /**
   * Node's `connect` event: a CONNECT request (a proxy tunnel) never reaches a route, and
   * without a listener Node drops the connection unanswered. Answered 405 with its record.
   */
  private readonly connectRequest = (req: IncomingMessage, socket: Duplex): void => {
    const clientRequestId = req.headers['x-ms-client-request-id'];
    const head: RequestHead = { method: 'CONNECT', uri: printable(req.url ?? '', 2048), clientRequestId: typeof clientRequestId === 'string' ? clientRequestId : undefined, userAgent: req.headers['user-agent'] };
    const problem = new HttpProblem(405, 'MethodNotAllowed', 'HTTP CONNECT not allowed');
    this.answerOnSocket(socket as Socket, head, problem, { url: req.url ?? '', headers: req.headers }).catch((e: unknown) => {
      this.deps.logger.error({ err: e instanceof Error ? e.message : String(e) }, 'CONNECT request not answered');
      socket.destroy();
    });
  };

  private async answerFrameworkError(err: FastifyError, req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const requestId = String(req.id);
    const clientRequestId = req.headers['x-ms-client-request-id'];
    const audit = this.newAudit(requestId, correlationIdFrom(clientRequestId), req.ip, req.method, req.url, req.headers['user-agent']);
    await this.attribute(audit, req.url, req.headers);
    const answer = await this.auditRejection(audit, preRoutingProblem(err));
    for (const [k, v] of Object.entries(this.rejectionHeaders(audit, clientRequestId !== undefined, answer))) reply.header(k, v);
    await reply.code(answer.status).type('application/json; charset=utf-8').send(JSON.stringify(answer.body()));
  }

  private answerClientError(err: Error & { code?: string; rawPacket?: unknown }, socket: Socket): Promise<void> {
    return this.answerOnSocket(socket, requestHeadOf(err.rawPacket), preRoutingProblem(err));
  }

  /** Records a request Node never handed to Fastify, then answers it on its connection and closes it. */
  private async answerOnSocket(socket: Socket, head: RequestHead, problem: HttpProblem, parsed?: { url: string; headers: IncomingHttpHeaders }): Promise<void> {
    const audit = this.newAudit(randomUUID(), correlationIdFrom(head.clientRequestId), socket.remoteAddress ?? '', head.method, head.uri, head.userAgent);
    if (parsed) await this.attribute(audit, parsed.url, parsed.headers);
    const answer = await this.auditRejection(audit, problem);
    if (socket.destroyed || !socket.writable) return;
    const body = JSON.stringify(answer.body());
    const headers: Record<string, string> = {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      ...this.rejectionHeaders(audit, head.clientRequestId !== undefined, answer),
      connection: 'close',
    };
    const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.end(`HTTP/1.1 ${answer.status} ${STATUS_CODES[answer.status] ?? 'Error'}\r\n${lines}\r\n${body}`);
    // A client that keeps its side open does not hold the connection.
    setTimeout(() => socket.destroy(), 5_000).unref();
  }

  /** The headers every vault answer carries, for a request that never reached the pipeline's hooks. */
  private rejectionHeaders(audit: OperationAudit, echoClientRequestId: boolean, answer: HttpProblem): Record<string, string> {
    return {
      'x-ms-request-id': audit.requestId,
      ...(echoClientRequestId ? { 'x-ms-client-request-id': audit.correlationId } : {}),
      ...SECURITY_HEADERS,
      ...answer.headers,
    };
  }

  /**
   * For the record of a request rejected before routing, best effort: the vault its Host
   * names (so the record is chained in that vault's tenant) and, if it carries a valid token,
   * the caller. Anything that fails leaves the record saying "unknown".
   */
  private async attribute(audit: OperationAudit, url: string, headers: IncomingHttpHeaders): Promise<void> {
    let origin: string | undefined;
    try {
      if (!url.startsWith('/admin')) {
        const host = resolveVaultHost(headers.host, this.hostOptions());
        if (host) {
          audit.vault = host.vault.toLowerCase();
          const vault = await (host.kind === 'managedHsm' ? this.deps.pools : this.deps.vaults)?.resolve(host.vault);
          if (host.kind === 'managedHsm') audit.containerPath = `/managedHSMs/${host.vault.toLowerCase()}`;
          if (vault) audit.tenant = vault.tenantId;
          origin = host.origin;
        }
      }
      if (headers.authorization !== undefined && this.deps.ready()) audit.identity = identityOf(await this.deps.auth.authenticate(headers.authorization, origin));
    } catch {
      // unknown vault or caller: recorded as such
    }
  }

  /** Writes the record of a request answered outside the hooks; the answer, or 503 when the record is not durable. */
  private async auditRejection(audit: OperationAudit, problem: HttpProblem): Promise<HttpProblem> {
    const durable = await this.deps.gate.finish(audit, problem.status, problem.inner ?? problem.code);
    const answer = durable ? problem : auditUnavailable();
    requestsTotal.inc({ operation: audit.operationName, status: String(answer.status) });
    return answer;
  }

  private hostOptions(): { domain: string; defaultVault: string; publicUrl: string; publicHsmUrl: string } {
    return { domain: this.deps.domain, defaultVault: this.deps.defaultVault, publicUrl: this.deps.publicUrl, publicHsmUrl: this.deps.publicHsmUrl ?? '' };
  }

  private opOf(req: FastifyRequest): OperationSpec {
    const config = req.routeOptions?.config as { op?: OperationSpec } | undefined;
    return config?.op ?? FALLBACK;
  }

  private newAudit(requestId: string, correlationId: string, ip: string, method: string, url: string, userAgent: string | string[] | undefined, op: OperationSpec = REJECTED): OperationAudit {
    return this.deps.gate.open(op, { requestId, correlationId, callerIp: ip, method, requestUri: url, userAgent: String(userAgent ?? '') });
  }

  /**
   * The request's pipeline state, created by the onRequest hook — or on first use by the error
   * handler or onSend when an earlier hook failed, so that the request still gets its record.
   */
  private stateOf(req: FastifyRequest, reply: FastifyReply): ApiRequest {
    const existing = states.get(req);
    if (existing) return existing;
    const op = this.opOf(req);
    const correlationId = currentContext()?.correlationId ?? correlationIdFrom(req.headers['x-ms-client-request-id']);
    const audit = this.newAudit(String(req.id), correlationId, req.ip, req.method, req.url, req.headers['user-agent'], op);
    const st: ApiRequest = { op, audit, query: queryOf(req.url), apiVersion: '', origin: `https://${req.headers.host ?? 'localhost'}`, containerKind: 'vault', vault: undefined, principal: undefined, caller: undefined };
    states.set(req, st);
    // The request's load-shedding slot is freed when its record is written, or when the
    // exchange ends without one (the client went away): never held for good.
    reply.raw.once('close', () => this.deps.gate.release(audit));
    // Also set by the platform's onRequest hook (the same id): here too for a request whose
    // earlier hooks did not run.
    reply.header('x-ms-request-id', audit.requestId);
    for (const [k, v] of SECURITY_HEADER_ENTRIES) reply.header(k, v);
    return st;
  }

  private async onRequest(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const st = this.stateOf(req, reply);
    const { op, audit } = st;
    const correlationId = audit.correlationId;
    // Node lets HTTP/1.1 requests without Host through (requireHostHeader: false) so that they
    // get Azure's envelope and their record; RFC 9112 asks for a 400.
    if (req.headers.host === undefined && req.raw.httpVersion === '1.1') throw new HttpProblem(400, 'BadRequest', 'The request has no Host header.');
    // Only 100-continue is understood (Node answers it); any other expectation fails (RFC 9110).
    const expect = req.headers.expect;
    if (expect !== undefined && !/^\s*100-continue\s*$/i.test(expect)) throw new HttpProblem(417, 'ExpectationFailed', 'The expectation in the Expect header cannot be met.');

    let containerName: string | undefined;
    if (op.kind !== 'admin') {
      const host = resolveVaultHost(req.headers.host, this.hostOptions());
      if (host) {
        st.origin = host.origin;
        st.containerKind = host.kind;
        containerName = host.vault;
        if (host.kind === 'managedHsm') for (const [k, v] of Object.entries(MANAGED_HSM_HEADERS)) reply.header(k, v);
      }
    }
    const params = (req.params ?? {}) as Record<string, string | undefined>;
    const admission = await this.deps.gate.admit(audit, {
      op,
      containerName,
      containerKind: st.containerKind,
      origin: st.origin,
      authorization: req.headers.authorization,
      objectName: op.nameParam ? params[op.nameParam] : undefined,
      objectVersion: op.versionParam ? params[op.versionParam] : undefined,
      inputs: { params, query: [...st.query.entries()] },
      operationVersion: () => (op.kind === 'admin' ? ADMIN_VERSION : requireApiVersion(st.query)),
    });
    st.vault = admission.container;
    st.apiVersion = admission.operationVersion;
    if (admission.container && this.deps.activation) await this.deps.activation(admission.container, op);
    const principal = admission.principal;
    st.principal = principal;

    stageSeconds.observe({ stage: 'pipeline' }, (performance.now() - audit.startedAt) / 1000);
    st.handlerStartedAt = performance.now();
    st.caller = {
      objectId: principal.objectId,
      tenantId: principal.tenantId,
      ...(principal.appId ? { appId: principal.appId } : {}),
      ip: req.ip,
      correlationId,
      requestUri: `${st.origin}${req.url}`,
      operationName: op.name,
      audit,
    };
  }

  private onError(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
    const st = this.stateOf(req, reply);
    const problem = fromFastifyError(err as { code?: string; statusCode?: number; message?: string }) ?? toProblem(err, st.origin, this.deps.issuerOf);
    if (problem.status >= 500) {
      this.deps.logger.error({ err: err instanceof Error ? { name: err.name, message: err.message, code: (err as { code?: unknown }).code } : String(err), operation: st.op.name }, 'vault request failed');
    }
    st.audit.errorCode = problem.inner ?? problem.code;
    for (const [k, v] of Object.entries(problem.headers)) reply.header(k, v);
    if (problem.emptyBody) return reply.code(problem.status).type('application/json; charset=utf-8').send('');
    return reply.code(problem.status).send(problem.body());
  }

  private async onSend(req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const st = this.stateOf(req, reply);
    requestsTotal.inc({ operation: st.op.name, status: String(reply.statusCode) });
    const sendAt = performance.now();
    // Managed HSM names the time it spent on the request (whole milliseconds), as recorded.
    if (st.containerKind === 'managedHsm') reply.header('x-ms-server-latency', String(Math.max(0, Math.round(sendAt - st.audit.startedAt))));
    if (st.handlerStartedAt !== undefined) stageSeconds.observe({ stage: 'handler' }, (sendAt - st.handlerStartedAt) / 1000);
    if (await this.deps.gate.finish(st.audit, reply.statusCode)) {
      stageSeconds.observe({ stage: 'audit' }, (performance.now() - sendAt) / 1000);
      return payload;
    }
    reply.code(503);
    reply.header('content-type', 'application/json; charset=utf-8');
    reply.removeHeader('www-authenticate');
    return JSON.stringify(auditUnavailable().body());
  }
}

const auditUnavailable = (): HttpProblem => new HttpProblem(503, 'ServiceUnavailable', 'The request could not be audited; no result is returned. Retry later.');

/**
 * The server options that hand the requests Fastify or Node reject before routing (malformed
 * URL, malformed HTTP, no Host) to the vault pipeline, for `startService`. `pipeline()` is the
 * pipeline registered on that server, which it is before the server listens.
 */
export function preRoutingOptions(pipeline: () => ApiPipeline | undefined): Required<PreRoutingOptions> {
  return {
    frameworkErrors: (err, req, reply) => {
      const p = pipeline();
      if (p) p.frameworkError(err, req as FastifyRequest, reply as FastifyReply);
      else void (reply as FastifyReply).code(503).send(new HttpProblem(503, 'ServiceUnavailable', 'The vault is starting. Retry later.').body());
    },
    clientErrorHandler: (err, socket) => {
      const p = pipeline();
      if (p) p.clientError(err, socket);
      else socket.destroy();
    },
    requireHostHeader: false,
  };
}

/** What a malformed request's bytes tell about it, for its audit record: nothing else is read. */
type RequestHead = { readonly method: string; readonly uri: string; readonly clientRequestId: string | undefined; readonly userAgent: string | undefined };

const KNOWN_METHODS: ReadonlySet<string> = new Set(METHODS);

/** Printable ASCII only (a record is JSON in PostgreSQL: no NUL or control characters), bounded. */
const printable = (v: string, max: number): string => v.replace(/[^\x20-\x7e]/g, '?').slice(0, max);

/**
 * The request line and the x-ms-client-request-id / user-agent headers from the bytes Node's
 * parser rejected (`rawPacket`: the chunk it failed on, which may not be the request's start).
 * Printable ASCII only, bounded; every other header (Authorization above all) is left alone.
 */
function requestHeadOf(raw: unknown): RequestHead {
  const bytes = Buffer.isBuffer(raw) ? raw : Array.isArray((raw as { data?: unknown } | undefined)?.data) ? Buffer.from((raw as { data: number[] }).data) : undefined;
  if (!bytes) return { method: '', uri: '', clientRequestId: undefined, userAgent: undefined };
  const lines = bytes.subarray(0, 32 * 1024).toString('latin1').split('\r\n');
  const line = /^([A-Z-]{1,20}) (\S+)/.exec(lines[0] ?? '');
  const known = line !== null && KNOWN_METHODS.has(line[1]!);
  let clientRequestId: string | undefined;
  let userAgent: string | undefined;
  for (const h of lines.slice(known ? 1 : 0)) {
    if (h === '') break;
    const colon = h.indexOf(':');
    if (colon <= 0) continue;
    const name = h.slice(0, colon).trim().toLowerCase();
    if (name === 'x-ms-client-request-id') clientRequestId = h.slice(colon + 1).trim();
    else if (name === 'user-agent') userAgent = printable(h.slice(colon + 1).trim(), 256);
  }
  return { method: known ? line[1]! : '', uri: known ? printable(line[2]!, 2048) : '', clientRequestId, userAgent };
}

/** `/secrets/:name/versions` → a regex matching that path shape (for 405 detection). */
function patternOf(url: string): RegExp {
  const body = url
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${body}$`, 'i');
}
