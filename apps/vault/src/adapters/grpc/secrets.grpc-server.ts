import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type { Logger } from 'pino';
import { SecretDataActions, type Principal } from '#libs/auth';
import { DomainError } from '#libs/kernel';
import { correlationIdFrom, REPO_ROOT, type TlsMaterial } from '#libs/platform';
import type { AccessControl } from '../../application/access/access-control.js';
import type { Caller } from '../../application/access/caller.js';
import { pageSize } from '../../application/secrets/paging.js';
import type { SecretsService, SecretView } from '../../application/secrets/secrets.service.js';
import { assertSecretName, assertSecretVersion, MAX_BATCH_NAMES, parseSetSecret } from '../../domain/secret/secret.rules.js';
import { recoveryLevelOf } from '../../domain/vault/vault.decider.js';
import { HttpProblem, toProblem } from '../http/azure-errors.js';
import { resolveVaultHost } from '../http/vault-host.js';
import type { AuditedOperationGate, OperationAudit, OperationDeclaration } from '#libs/gate';
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
  /** Per-name RBAC of BatchGet. */
  readonly access: AccessControl;
  /** The vault's one audited-operation gate (the REST API uses the same). */
  readonly gate: AuditedOperationGate<VaultRecord>;
  readonly logger: Logger;
  readonly domain: string;
  readonly defaultVault: string;
  /** The REST origin of a vault, for object ids. */
  readonly originOf: (vault: string) => string;
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
    case 429:
      return grpc.status.RESOURCE_EXHAUSTED;
    case 503:
      return grpc.status.UNAVAILABLE;
    default:
      return grpc.status.INTERNAL;
  }
}

/** Seconds of the answer's Retry-After (throttled 429, shed 503), when it has one. */
export function retryAfterSecondsOf(p: HttpProblem): number | undefined {
  const raw = p.headers['retry-after'];
  if (raw === undefined) return undefined;
  const seconds = Number(raw);
  return Number.isInteger(seconds) && seconds >= 0 ? seconds : undefined;
}

type Context = { vault: VaultRecord; origin: string; caller: Caller; principal: Principal; audit: OperationAudit };

/** The RPCs' operations, declared once: the gate admits each call by its declaration. */
const op = (name: string, action: string | undefined, withName: boolean): OperationDeclaration => ({
  name,
  kind: 'data',
  collection: 'secrets',
  ...(action ? { action } : {}),
  ...(withName ? { nameParam: 'name' } : {}),
  validate: (n) => {
    if (n !== undefined) assertSecretName(n);
  },
});
const OPS = {
  get: op('SecretGet', SecretDataActions.getSecret, true),
  set: op('SecretSet', SecretDataActions.setSecret, true),
  list: op('SecretList', SecretDataActions.readMetadata, false),
  delete: op('SecretDelete', SecretDataActions.delete, true),
  batchGet: op('SecretBatchGet', undefined, false),
} as const;

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
      Get: this.unary<GetReq>(OPS.get, (r) => r.name, (r, c) => this.get(r, c)),
      Set: this.unary<SetReq>(OPS.set, (r) => r.name, (r, c) => this.set(r, c)),
      List: this.unary<ListReq>(OPS.list, () => undefined, (r, c) => this.list(r, c)),
      Delete: this.unary<DeleteReq>(OPS.delete, (r) => r.name, (r, c) => this.delete(r, c)),
      BatchGet: this.unary<BatchReq>(OPS.batchGet, () => undefined, (r, c) => this.batchGet(r, c)),
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

  private unary<Req extends { vault: string }>(operation: OperationDeclaration, nameOf: (req: Req) => string | undefined, handle: (req: Req, ctx: Context) => Promise<object>): grpc.handleUnaryCall<Req, object> {
    return (call, callback) => {
      void this.run(operation, nameOf, handle, call).then(
        (res) => callback(null, res),
        (p: HttpProblem) => {
          const trailers = new grpc.Metadata();
          trailers.set('keyledger-error-code', p.code);
          if (p.inner) trailers.set('keyledger-inner-error-code', p.inner);
          if (p.headers['www-authenticate']) trailers.set('www-authenticate', p.headers['www-authenticate']);
          const retryAfter = retryAfterSecondsOf(p);
          if (retryAfter !== undefined) {
            // A throttled or shed call says when to come back, as the REST answer's Retry-After does:
            // `retry-after` (seconds) for applications and gRPC's own pushback (milliseconds), which
            // the retry policy of a gRPC client's service config honours.
            trailers.set('retry-after', String(retryAfter));
            trailers.set('grpc-retry-pushback-ms', String(retryAfter * 1000));
          }
          callback({ code: grpcStatusOf(p.status, p.code), details: p.message.split('\r\n')[0] ?? p.message, metadata: trailers });
        },
      );
    };
  }

  /** One call through the gate: the transport only finds the vault, the token and the object name. */
  private async run<Req extends { vault: string }>(
    operation: OperationDeclaration,
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
    const audit = this.deps.gate.open(operation, { requestId: randomUUID(), correlationId: correlationIdFrom(first('x-ms-client-request-id')), callerIp: peer, method: 'GRPC', requestUri: `grpc:${call.getPath()}`, userAgent: first('user-agent') ?? '' });
    const req = call.request;
    const host = req.vault ? undefined : resolveVaultHost(first(':authority'), { domain: this.deps.domain, defaultVault: this.deps.defaultVault, publicUrl: '' });
    const vaultName = req.vault || host?.vault || this.deps.defaultVault;
    // An authority naming a Managed HSM pool addresses the pool, which has no secrets (NotFound), never the vault of the same name.
    const containerKind = host?.kind ?? 'vault';
    const origin = this.deps.originOf(vaultName);
    const classify = (err: unknown): { status: number; code: string } => {
      const p = toProblem(err, origin);
      if (p.status >= 500) this.deps.logger.error({ err: err instanceof Error ? { name: err.name, message: err.message } : String(err), operation: operation.name }, 'gRPC call failed');
      return { status: p.status, code: p.inner ?? p.code };
    };
    const outcome = await this.deps.gate.run(
      audit,
      { op: operation, containerName: vaultName, containerKind, origin, authorization: first('authorization'), objectName: nameOf(req), inputs: req, operationVersion: () => 'keyledger.v1' },
      (admission) => {
        const principal = admission.principal;
        const caller: Caller = {
          objectId: principal.objectId,
          tenantId: principal.tenantId,
          ...(principal.appId ? { appId: principal.appId } : {}),
          ip: peer,
          correlationId: audit.correlationId,
          requestUri: audit.requestUri,
          operationName: operation.name,
          audit,
        };
        // The gate admits a data operation only with the vault it addresses resolved.
        const vault = admission.container;
        if (!vault) throw new Error(`${operation.name} admitted without its vault`);
        return handle(req, { vault, origin, caller, principal, audit });
      },
      classify,
    );
    if (outcome.kind === 'ok') return outcome.value;
    throw toProblem(outcome.error, origin);
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
