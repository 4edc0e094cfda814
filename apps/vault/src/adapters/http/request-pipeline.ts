import type { FastifyInstance, FastifyReply, FastifyRequest, HTTPMethods, RouteHandlerMethod } from 'fastify';
import type { Logger } from 'pino';
import secureJson from 'secure-json-parse';
import type { Principal } from '#libs/auth';
import { correlationIdFrom, currentContext, counter, histogram } from '#libs/platform';
import type { AccessControl } from '../../application/access/access-control.js';
import type { Caller } from '../../application/access/caller.js';
import { RequestAudit } from '../../application/audit/request-audit.js';
import type { VaultsService } from '../../application/vaults/vaults.service.js';
import type { AuditSink } from '#libs/eventstore';
import type { VaultRecord } from '../persistence/vaults.repository.js';
import { queryOf, requireApiVersion } from './api-version.js';
import { fromFastifyError, HttpProblem, toProblem } from './azure-errors.js';
import type { TokenAuthenticator } from './token-auth.js';
import { resolveVaultHost } from './vault-host.js';

const requestsTotal = counter('keyledger_vault_requests_total', 'Vault API requests by operation and status', ['operation', 'status']);
/** Where a request's time goes: the pipeline before the handler, the handler, and the audit write. */
const stageSeconds = histogram('keyledger_vault_request_stage_seconds', 'Time of each stage of a vault API request', ['stage'], [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1]);

/**
 * What a route is, for the pipeline: its audit operation name, which API it belongs to, and
 * the RBAC data action checked before the body is read.
 */
export type OperationSpec = {
  /** Azure's audit operationName, e.g. SecretGet. */
  readonly name: string;
  /** data: the Azure data plane (vault by host, api-version, RBAC); admin: Keyledger's vault administration. */
  readonly kind: 'data' | 'admin' | 'fallback';
  /** The data action checked for `data` routes; absent when the handler checks per object (batch get). */
  readonly action?: string;
  readonly collection?: 'secrets';
  /** Route parameter holding the object name: the RBAC resource is then the object, else the collection. */
  readonly nameParam?: string;
  readonly versionParam?: string;
  /** Checks the object name and version from the path (400) before RBAC, which needs a well-formed resource. */
  readonly validate?: (name: string | undefined, version: string | undefined) => void;
};

/** Per-request state the pipeline builds and the handlers read. */
export type ApiRequest = {
  readonly op: OperationSpec;
  readonly audit: RequestAudit;
  readonly query: URLSearchParams;
  apiVersion: string;
  origin: string;
  vault: VaultRecord | undefined;
  principal: Principal | undefined;
  caller: Caller | undefined;
  /** performance.now() when the handler got the request (stage timing). */
  handlerStartedAt?: number;
};

export type PipelineDeps = {
  readonly logger: Logger;
  readonly access: AccessControl;
  readonly auth: TokenAuthenticator;
  readonly vaults: VaultsService;
  readonly auditWriter: AuditSink;
  readonly domain: string;
  readonly defaultVault: string;
  readonly publicUrl: string;
  readonly ready: () => boolean;
  /** The token issuer of a tenant, for the 403 message's Caller line. */
  readonly issuerOf: (tenantId: string) => string;
  /** Largest request body of a route that sets no limit of its own, bytes. */
  readonly bodyLimit: number;
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

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'cache-control': 'no-cache',
  pragma: 'no-cache',
  expires: '-1',
  'x-content-type-options': 'nosniff',
  'strict-transport-security': 'max-age=31536000;includeSubDomains',
  'x-ms-keyvault-service-version': 'keyledger-0.1.0',
};

/**
 * The Azure Key Vault REST pipeline, as an encapsulated Fastify plugin so that its hooks,
 * parsers and error handler apply to the vault API only (not /health or /metrics):
 *
 *   onRequest (before the body is read): vault from Host → api-version → 401 challenge /
 *   token verification → RBAC (403) — then body parsing (JSON only) → handler → error
 *   envelope → onSend: the request's one audit record is made durable before the answer
 *   leaves, or the answer becomes a 503 (fail closed).
 */
export class ApiPipeline {
  private readonly routes: RouteDef[] = [];

  constructor(private readonly deps: PipelineDeps) {}

  route(method: HTTPMethods, url: string, op: OperationSpec, handler: RouteHandlerMethod, bodyLimit?: number): this {
    this.routes.push({ method, url, op, handler, ...(bodyLimit !== undefined ? { bodyLimit } : {}) });
    return this;
  }

  async register(fastify: FastifyInstance): Promise<void> {
    await fastify.register(async (api) => {
      // JSON only (parsed as Fastify does, refusing prototype poisoning); an empty body is no
      // body whatever its type (the SDKs send POST …/backup with Content-Length: 0); any other
      // media type with content is a 415.
      api.removeContentTypeParser(['application/json', 'text/plain']);
      api.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
        const text = typeof body === 'string' ? body : body.toString('utf8');
        if (text.trim() === '') return done(null, undefined);
        try {
          done(null, secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }) as unknown);
        } catch {
          done(new HttpProblem(400, 'BadParameter', 'The request body is not valid JSON.'), undefined);
        }
      });
      api.addContentTypeParser('*', { parseAs: 'buffer' }, (req, body, done) => {
        if ((body as Buffer).length === 0) return done(null, undefined);
        done(new HttpProblem(415, 'UnsupportedMediaType', `The request entity's media type '${String(req.headers['content-type'] ?? 'application/octet-stream').slice(0, 64)}' is not supported for this resource. Use application/json.`), undefined);
      });
      api.addHook('onRequest', (req, reply) => this.onRequest(req, reply));
      api.addHook('onSend', (req, reply, payload) => this.onSend(req, reply, payload));
      api.setErrorHandler((err, req, reply) => this.onError(err, req, reply));
      for (const r of this.routes) {
        api.route({ method: r.method, url: r.url, config: { op: r.op }, handler: r.handler, bodyLimit: r.bodyLimit ?? this.deps.bodyLimit });
      }
      const matchers = this.routes.map((r) => ({ method: r.method, re: patternOf(r.url) }));
      api.route({
        method: ['GET', 'PUT', 'POST', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'],
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

  private opOf(req: FastifyRequest): OperationSpec {
    const config = req.routeOptions?.config as { op?: OperationSpec } | undefined;
    return config?.op ?? FALLBACK;
  }

  private async onRequest(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const op = this.opOf(req);
    const ctx = currentContext();
    const correlationId = ctx?.correlationId ?? correlationIdFrom(req.headers['x-ms-client-request-id']);
    const audit = new RequestAudit(
      String(req.id),
      correlationId,
      performance.now(),
      req.ip,
      req.method,
      req.url,
      String(req.headers['user-agent'] ?? ''),
      () => this.deps.access.challengeTenant() ?? '',
    );
    audit.operationName = op.name;
    const st: ApiRequest = { op, audit, query: queryOf(req.url), apiVersion: '', origin: `https://${req.headers.host ?? 'localhost'}`, vault: undefined, principal: undefined, caller: undefined };
    states.set(req, st);
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);

    if (op.kind !== 'admin') {
      const host = resolveVaultHost(req.headers.host, { domain: this.deps.domain, defaultVault: this.deps.defaultVault, publicUrl: this.deps.publicUrl });
      if (!host) throw new HttpProblem(404, 'VaultNotFound', 'No vault is served at this host name.');
      st.origin = host.origin;
      audit.vault = host.vault.toLowerCase();
      const vault = await this.deps.vaults.resolve(host.vault);
      if (!vault) throw new HttpProblem(404, 'VaultNotFound', `The vault '${host.vault}' was not found.`);
      st.vault = vault;
      audit.tenant = vault.tenantId;
      st.apiVersion = requireApiVersion(st.query);
      audit.operationVersion = st.apiVersion;
    } else {
      audit.operationVersion = 'keyledger-admin-1';
    }

    if (!this.deps.ready()) throw new HttpProblem(503, 'ServiceUnavailable', 'The vault is starting (catching up with identity events). Retry later.');
    if (req.headers.authorization === undefined) throw this.deps.auth.unauthorized('TokenMissing');
    const principal = await this.deps.auth.authenticate(req.headers.authorization);
    st.principal = principal;
    audit.identity = { oid: principal.objectId, tid: principal.tenantId, ...(principal.appId ? { appid: principal.appId } : {}), ...(principal.upn ? { upn: principal.upn } : {}), idtyp: principal.idType };

    const params = (req.params ?? {}) as Record<string, string | undefined>;
    const objectName = op.nameParam ? params[op.nameParam] : undefined;
    const objectVersion = op.versionParam ? params[op.versionParam] : undefined;
    if (op.collection) audit.collection = op.collection;
    op.validate?.(objectName || undefined, objectVersion || undefined);
    if (objectName) audit.objectName = objectName;
    if (objectVersion) audit.objectVersion = objectVersion;
    if (objectName && op.collection) audit.objectId = `${st.origin}/${op.collection}/${objectName}${objectVersion ? `/${objectVersion}` : ''}`;

    if (op.kind === 'data' && op.action && st.vault) {
      const resource = objectName && op.collection ? `/vaults/${st.vault.nameKey}/${op.collection}/${objectName.toLowerCase()}` : `/vaults/${st.vault.nameKey}${op.collection ? `/${op.collection}` : ''}`;
      const decision = this.deps.access.check(principal.objectId, op.action, resource);
      audit.isRbacAuthorized = true;
      if (decision.assignmentId) audit.appliedAssignmentId = decision.assignmentId;
      if (!decision.allowed) throw forbiddenByRbac(principal, this.deps.issuerOf(principal.tenantId), op.action, resource, st.vault.name);
    } else if (op.kind === 'admin') {
      const assignment = this.deps.access.administratorAssignment(principal.objectId);
      audit.isRbacAuthorized = true;
      if (!assignment) throw forbiddenByRbac(principal, this.deps.issuerOf(principal.tenantId), 'Keyledger/vaults/administer (Key Vault Administrator at scope "/")', '/', 'admin');
      audit.appliedAssignmentId = assignment;
    }

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
    const st = states.get(req);
    const problem = fromFastifyError(err as { code?: string; statusCode?: number; message?: string }) ?? toProblem(err, st?.origin ?? '');
    if (problem.status >= 500) {
      this.deps.logger.error({ err: err instanceof Error ? { name: err.name, message: err.message, code: (err as { code?: unknown }).code } : String(err), operation: st?.op.name }, 'vault request failed');
    }
    if (st) st.audit.errorCode = problem.inner ?? problem.code;
    for (const [k, v] of Object.entries(problem.headers)) reply.header(k, v);
    return reply.code(problem.status).send(problem.body());
  }

  private async onSend(req: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const st = states.get(req);
    if (!st) return payload;
    requestsTotal.inc({ operation: st.op.name, status: String(reply.statusCode) });
    const sendAt = performance.now();
    if (st.handlerStartedAt !== undefined) stageSeconds.observe({ stage: 'handler' }, (sendAt - st.handlerStartedAt) / 1000);
    if (st.audit.written) return payload;
    try {
      await this.deps.auditWriter.write(st.audit.build(reply.statusCode));
      st.audit.committed();
      stageSeconds.observe({ stage: 'audit' }, (performance.now() - sendAt) / 1000);
      return payload;
    } catch (err) {
      this.deps.logger.error({ err: err instanceof Error ? err.message : String(err), operation: st.op.name }, 'audit record not durable: answering 503');
      reply.code(503);
      reply.header('content-type', 'application/json; charset=utf-8');
      reply.removeHeader('www-authenticate');
      return JSON.stringify(new HttpProblem(503, 'ServiceUnavailable', 'The request could not be audited; no result is returned. Retry later.').body());
    }
  }
}

function forbiddenByRbac(principal: Principal, issuer: string, action: string, resource: string, vault: string): HttpProblem {
  const caller = `${principal.appId ? `appid=${principal.appId};` : ''}oid=${principal.objectId};iss=${issuer}`;
  const message =
    'Caller is not authorized to perform action on resource.\r\n' +
    'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.\r\n' +
    `Caller: ${caller}\r\n` +
    `Action: '${action}'\r\n` +
    `Resource: '${resource}'\r\n` +
    'Assignment: (not found)\r\n' +
    'DenyAssignmentId: null\r\n' +
    'DecisionReason: null \r\n' +
    `Vault: ${vault};location=local\r\n`;
  return new HttpProblem(403, 'Forbidden', message, 'ForbiddenByRbac');
}

/** `/secrets/:name/versions` → a regex matching that path shape (for 405 detection). */
function patternOf(url: string): RegExp {
  const body = url
    .split('/')
    .map((seg) => (seg.startsWith(':') ? '[^/]+' : seg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/');
  return new RegExp(`^${body}$`, 'i');
}
