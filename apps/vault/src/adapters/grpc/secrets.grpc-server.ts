import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from 'pino';
import { SecretDataActions, type Principal } from '#libs/auth';
import { DomainError } from '#libs/eventstore';
import { correlationIdFrom, REPO_ROOT, type TlsMaterial } from '#libs/platform';
import type { AccessControl } from '../../application/access/access-control.js';
import type { Caller } from '../../application/access/caller.js';
import { RequestAudit } from '../../application/audit/request-audit.js';
import { pageSize } from '../../application/secrets/paging.js';
import type { SecretsService, SecretView } from '../../application/secrets/secrets.service.js';
import type { VaultsService } from '../../application/vaults/vaults.service.js';
import { assertSecretName, assertSecretVersion, MAX_BATCH_NAMES, parseSetSecret } from '../../domain/secret/secret.rules.js';
import { recoveryLevelOf } from '../../domain/vault/vault.decider.js';
import { HttpProblem, toProblem } from '../http/azure-errors.js';
import type { TokenAuthenticator } from '../http/token-auth.js';
import { resolveVaultHost } from '../http/vault-host.js';
import type { AuditSink } from '#libs/eventstore';
import type { VaultRecord } from '../persistence/vaults.repository.js';
import { ReflectionService } from '@grpc/reflection';

export const SECRETS_PROTO_PATH = join(REPO_ROOT, 'libs', 'contracts', 'proto', 'keyledger', 'v1', 'secrets.proto');
const LOADER_OPTIONS = { keepCase: false, longs: Number, enums: String, defaults: true, arrays: true, oneofs: true } satisfies protoLoader.Options;

type ProtoSecret = {
  id: string;
  name: string;
  version: string;
  value: string;
  contentType: string;
  tags: Record<string, string>;
  attributes: { enabled: boolean; notBefore: number; expires: number; created: number; updated: number; recoveryLevel: string; recoverableDays: number };
  managed: boolean;
};
type GetReq = { vault: string; name: string; version: string };
type SetReq = { vault: string; name: string; value: string; contentType: string; tags: Record<string, string>; enabled?: boolean; notBefore: number; expires: number };
type ListReq = { vault: string; maxResults: number; pageToken: string };
type DeleteReq = { vault: string; name: string };
type BatchReq = { vault: string; names: string[] };

export type SecretsGrpcDeps = {
  readonly secrets: SecretsService;
  readonly vaults: VaultsService;
  readonly access: AccessControl;
  readonly auth: TokenAuthenticator;
  readonly auditWriter: AuditSink;
  readonly logger: Logger;
  readonly domain: string;
  readonly defaultVault: string;
  /** The REST origin of a vault, for object ids. */
  readonly originOf: (vault: string) => string;
  readonly ready: () => boolean;
};

/** Azure's HTTP status of an answer → the gRPC status it travels with. */
function grpcStatusOf(http: number, code: string): grpc.status {
  switch (http) {
    case 400:
    case 415:
      return grpc.status.INVALID_ARGUMENT;
    case 401:
      return grpc.status.UNAUTHENTICATED;
    case 403:
      return grpc.status.PERMISSION_DENIED;
    case 404:
      return grpc.status.NOT_FOUND;
    case 405:
      return grpc.status.UNIMPLEMENTED;
    case 409:
      return code === 'Conflict' ? grpc.status.ALREADY_EXISTS : grpc.status.ABORTED;
    case 413:
      return grpc.status.RESOURCE_EXHAUSTED;
    case 503:
      return grpc.status.UNAVAILABLE;
    default:
      return grpc.status.INTERNAL;
  }
}

type Context = { vault: VaultRecord; origin: string; caller: Caller; principal: Principal; audit: RequestAudit };

/**
 * `keyledger.v1.Secrets` over gRPC (TLS with the service certificate) for applications: Get,
 * Set, List, Delete and BatchGet, with server reflection. Same bearer tokens, RBAC data
 * actions and one audit record per call as the REST API; errors carry Azure's codes in the
 * `keyledger-error-code` / `keyledger-inner-error-code` trailers.
 */
export class SecretsGrpcServer {
  private readonly server = new grpc.Server({ 'grpc.max_receive_message_length': 1024 * 1024, 'grpc.max_send_message_length': 4 * 1024 * 1024 });

  constructor(private readonly deps: SecretsGrpcDeps) {
    const definition = protoLoader.loadSync(SECRETS_PROTO_PATH, LOADER_OPTIONS);
    const pkg = grpc.loadPackageDefinition(definition) as unknown as { keyledger: { v1: { Secrets: { service: grpc.ServiceDefinition } } } };
    this.server.addService(pkg.keyledger.v1.Secrets.service, {
      Get: this.unary<GetReq>('SecretGet', SecretDataActions.getSecret, (r) => r.name, (r, c) => this.get(r, c)),
      Set: this.unary<SetReq>('SecretSet', SecretDataActions.setSecret, (r) => r.name, (r, c) => this.set(r, c)),
      List: this.unary<ListReq>('SecretList', SecretDataActions.readMetadata, () => undefined, (r, c) => this.list(r, c)),
      Delete: this.unary<DeleteReq>('SecretDelete', SecretDataActions.delete, (r) => r.name, (r, c) => this.delete(r, c)),
      BatchGet: this.unary<BatchReq>('SecretBatchGet', undefined, () => undefined, (r, c) => this.batchGet(r, c)),
    });
    new ReflectionService(definition, { services: ['keyledger.v1.Secrets'] }).addToServer(this.server);
  }

  start(host: string, port: number, tls: TlsMaterial): Promise<number> {
    const credentials = grpc.ServerCredentials.createSsl(tls.ca, [{ private_key: tls.key, cert_chain: tls.cert }], false);
    return new Promise((resolve, reject) => this.server.bindAsync(`${host}:${port}`, credentials, (err, bound) => (err ? reject(err) : resolve(bound))));
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, 5_000);
      this.server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  // ---------- the pipeline of one call ----------

  private unary<Req extends { vault: string }>(
    operation: string,
    action: string | undefined,
    nameOf: (req: Req) => string | undefined,
    handle: (req: Req, ctx: Context) => Promise<object>,
  ): grpc.handleUnaryCall<Req, object> {
    return (call, callback) => {
      void this.run(operation, action, nameOf, handle, call).then(
        (res) => callback(null, res),
        (err: { problem: HttpProblem }) => {
          const p = err.problem;
          const trailers = new grpc.Metadata();
          trailers.set('keyledger-error-code', p.code);
          if (p.inner) trailers.set('keyledger-inner-error-code', p.inner);
          if (p.headers['www-authenticate']) trailers.set('www-authenticate', p.headers['www-authenticate']);
          callback({ code: grpcStatusOf(p.status, p.code), details: p.message.split('\r\n')[0] ?? p.message, metadata: trailers });
        },
      );
    };
  }

  private async run<Req extends { vault: string }>(
    operation: string,
    action: string | undefined,
    nameOf: (req: Req) => string | undefined,
    handle: (req: Req, ctx: Context) => Promise<object>,
    call: grpc.ServerUnaryCall<Req, object>,
  ): Promise<object> {
    const md = call.metadata;
    const first = (k: string): string | undefined => {
      const v = md.get(k)[0];
      return v === undefined ? undefined : String(v);
    };
    const peer = call.getPeer().replace(/^ipv[46]:/, '').replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
    const audit = new RequestAudit(randomUUID(), correlationIdFrom(first('x-ms-client-request-id')), performance.now(), peer, 'GRPC', `grpc:${call.getPath()}`, first('user-agent') ?? '', () => this.deps.access.challengeTenant() ?? '');
    audit.operationName = operation;
    audit.operationVersion = 'keyledger.v1';
    audit.collection = 'secrets';
    let status = 200;
    let result: object | undefined;
    let problem: HttpProblem | undefined;
    let origin = '';
    try {
      const req = call.request;
      const vaultName = req.vault || resolveVaultHost(first(':authority'), { domain: this.deps.domain, defaultVault: this.deps.defaultVault, publicUrl: '' })?.vault || this.deps.defaultVault;
      audit.vault = vaultName.toLowerCase();
      origin = this.deps.originOf(vaultName);
      const vault = await this.deps.vaults.resolve(vaultName);
      if (!vault) throw new HttpProblem(404, 'VaultNotFound', `The vault '${vaultName}' was not found.`);
      audit.tenant = vault.tenantId;
      if (!this.deps.ready()) throw new HttpProblem(503, 'ServiceUnavailable', 'The vault is starting (catching up with identity events). Retry later.');
      const authorization = first('authorization');
      if (authorization === undefined) throw this.deps.auth.unauthorized('TokenMissing');
      const principal = await this.deps.auth.authenticate(authorization);
      audit.identity = { oid: principal.objectId, tid: principal.tenantId, ...(principal.appId ? { appid: principal.appId } : {}), idtyp: principal.idType };
      const name = nameOf(req);
      if (name !== undefined) {
        assertSecretName(name);
        audit.objectName = name;
        audit.objectId = `${origin}/secrets/${name}`;
      }
      if (action) {
        const resource = name !== undefined ? `/vaults/${vault.nameKey}/secrets/${name.toLowerCase()}` : `/vaults/${vault.nameKey}/secrets`;
        const decision = this.deps.access.check(principal.objectId, action, resource);
        audit.isRbacAuthorized = true;
        if (decision.assignmentId) audit.appliedAssignmentId = decision.assignmentId;
        if (!decision.allowed) {
          throw new HttpProblem(403, 'Forbidden', `Caller is not authorized to perform action on resource.\r\nAction: '${action}'\r\nResource: '${resource}'`, 'ForbiddenByRbac');
        }
      }
      const caller: Caller = {
        objectId: principal.objectId,
        tenantId: principal.tenantId,
        ...(principal.appId ? { appId: principal.appId } : {}),
        ip: peer,
        correlationId: audit.correlationId,
        requestUri: audit.requestUri,
        operationName: operation,
        audit,
      };
      result = await handle(req, { vault, origin, caller, principal, audit });
    } catch (err) {
      problem = err instanceof HttpProblem ? err : toProblem(err, origin);
      if (problem.status >= 500) this.deps.logger.error({ err: err instanceof Error ? { name: err.name, message: err.message } : String(err), operation }, 'gRPC call failed');
      status = problem.status;
      audit.errorCode = problem.inner ?? problem.code;
    }
    if (!audit.written) {
      try {
        await this.deps.auditWriter.write(audit.build(status));
        audit.committed();
      } catch {
        problem = new HttpProblem(503, 'ServiceUnavailable', 'The request could not be audited; no result is returned. Retry later.');
      }
    }
    if (problem) throw { problem };
    return result as object;
  }

  // ---------- operations ----------

  private toProto(s: SecretView, ctx: Context, withValue: boolean): ProtoSecret {
    return {
      id: `${ctx.origin}/secrets/${s.name}/${s.version}`,
      name: s.name,
      version: s.version,
      value: withValue ? (s.value ?? '') : '',
      contentType: s.contentType ?? '',
      tags: { ...(s.tags ?? {}) },
      attributes: {
        enabled: s.enabled,
        notBefore: s.nbf ?? 0,
        expires: s.exp ?? 0,
        created: s.created,
        updated: s.updated,
        recoveryLevel: recoveryLevelOf(ctx.vault.retentionDays, ctx.vault.purgeProtection),
        recoverableDays: ctx.vault.retentionDays,
      },
      managed: s.managed,
    };
  }

  private async get(req: GetReq, ctx: Context): Promise<ProtoSecret> {
    const version = req.version ? assertSecretVersion(req.version) : null;
    if (version) ctx.audit.objectVersion = version;
    return this.toProto(await this.deps.secrets.get(ctx.vault, req.name, version, ctx.caller), ctx, true);
  }

  private async set(req: SetReq, ctx: Context): Promise<ProtoSecret> {
    const input = parseSetSecret({
      value: req.value,
      ...(req.contentType ? { contentType: req.contentType } : {}),
      ...(Object.keys(req.tags ?? {}).length > 0 ? { tags: req.tags } : {}),
      attributes: { ...(req.enabled !== undefined && req.enabled !== null ? { enabled: req.enabled } : {}), ...(req.notBefore ? { nbf: req.notBefore } : {}), ...(req.expires ? { exp: req.expires } : {}) },
    });
    return this.toProto(await this.deps.secrets.set(ctx.vault, req.name, input, ctx.caller), ctx, true);
  }

  private async list(req: ListReq, ctx: Context): Promise<object> {
    const page = await this.deps.secrets.list(ctx.vault, req.pageToken || undefined, pageSize(req.maxResults ? String(req.maxResults) : undefined));
    return { secrets: page.items.map((s) => this.toProto(s, ctx, false)), nextPageToken: page.next ?? '' };
  }

  private async delete(req: DeleteReq, ctx: Context): Promise<object> {
    const d = await this.deps.secrets.delete(ctx.vault, req.name, ctx.caller);
    return { secret: this.toProto(d, ctx, false), recoveryId: `${ctx.origin}/deletedsecrets/${d.name}`, deletedDate: d.deletedDate ?? 0, scheduledPurgeDate: d.scheduledPurgeDate ?? 0 };
  }

  private async batchGet(req: BatchReq, ctx: Context): Promise<object> {
    const names = req.names ?? [];
    if (names.length === 0 || names.length > MAX_BATCH_NAMES) throw new HttpProblem(400, 'BadParameter', `names must list 1 to ${MAX_BATCH_NAMES} secret names.`);
    const unique = [...new Map(names.map((n) => [assertSecretName(n).toLowerCase(), n])).values()];
    ctx.audit.isRbacAuthorized = true;
    const allowed = (name: string): boolean => this.deps.access.check(ctx.principal.objectId, SecretDataActions.getSecret, `/vaults/${ctx.vault.nameKey}/secrets/${name.toLowerCase()}`).allowed;
    const items = await this.deps.secrets.batchGet(ctx.vault, unique, allowed, ctx.caller);
    return {
      items: items.map((i) => {
        if (i.secret) return { name: i.name, secret: this.toProto(i.secret, ctx, true) };
        const p = i.error instanceof DomainError && i.error.code === 'ForbiddenByRbac' ? new HttpProblem(403, 'Forbidden', i.error.message, 'ForbiddenByRbac') : toProblem(i.error, ctx.origin);
        return { name: i.name, error: { status: p.status, code: p.code, message: p.message, innerCode: p.inner ?? '' } };
      }),
    };
  }
}
