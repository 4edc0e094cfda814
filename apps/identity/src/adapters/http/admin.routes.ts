import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AuditedOperationGate, GateError, GateErrorCode, type OperationDeclaration } from '#libs/gate';
import { BUILT_IN_ROLE_DEFINITIONS, BuiltInRoleIds, type TokenVerifier } from '#libs/auth';
import { DomainError } from '#libs/kernel';
import type { AuditSink } from '#libs/eventstore';
import { currentContext } from '#libs/platform';
import type { IdentityRepository } from '../persistence/identity.repository.js';
import type { Caller, IdentityService } from '../../application/identity.service.js';
import type { SignInService } from '../../application/sign-in.service.js';

const STATUS: Record<string, number> = {
  PrincipalNotFound: 404,
  CredentialNotFound: 404,
  RoleDefinitionNotFound: 404,
  RoleAssignmentNotFound: 404,
  PrincipalExists: 409,
  CredentialExists: 409,
  RoleAssignmentExists: 409,
  RoleDefinitionExists: 409,
  RoleDefinitionInUse: 409,
  BadParameter: 400,
  InvalidScope: 400,
};

const ADMIN_ROLES = new Set<string>([BuiltInRoleIds.keyVaultAdministrator]);
/** The admin capability of role definitions and assignments (Key Vault Data Access Administrator may too). */
const ROLE_ADMINISTRATION = 'Keyledger/roleAssignments/write';
const ROLE_ADMIN_ROLES = new Set<string>([BuiltInRoleIds.keyVaultAdministrator, BuiltInRoleIds.keyVaultDataAccessAdministrator]);

type Body = Record<string, unknown>;

/**
 * The administration API behind the `keyledger` CLI. Callers need a token for
 * `https://identity.<domain>` and, at scope "/", Key Vault Administrator (principals and
 * credentials) or Key Vault Data Access Administrator (role assignments).
 */
export function registerAdminRoutes(fastify: FastifyInstance, identity: IdentityService, repo: IdentityRepository, verifier: TokenVerifier, writer: AuditSink, signIn: SignInService): void {
  // The chain of a record whose caller is unknown (no or a bad token): the default tenant's.
  let defaultTenant = '';
  const learnDefaultTenant = async (): Promise<void> => {
    if (defaultTenant === '') defaultTenant = (await repo.tenants()).find((t) => t.is_default)?.tenant_id ?? '';
  };
  // Every admin route is one admin operation: admitted, and recorded exactly once, by the gate.
  // A change commits the gate's record with its events; reads and refusals get it from the gate.
  const gate = new AuditedOperationGate<never>({
    source: 'identity',
    resolve: async () => undefined,
    describe: () => ({ name: '', tenantId: '', scope: '/' }),
    ready: () => true,
    authenticate: async (authorization) => {
      try {
        return await verifier.verifyAuthorizationHeader(authorization);
      } catch (err) {
        throw new HttpError(401, 'Unauthorized', err instanceof DomainError ? err.message : 'authentication failed');
      }
    },
    credentialMissing: () => new HttpError(401, 'Unauthorized', 'no access token'),
    check: () => ({ allowed: false }),
    administratorAssignment: async (principalId, op) => {
      const roles = op.action === ROLE_ADMINISTRATION ? ROLE_ADMIN_ROLES : ADMIN_ROLES;
      const held = await repo.assignments({ principalId, scope: '/' });
      return held.find((a) => roles.has(a.role_definition_id))?.assignment_id;
    },
    fallbackTenant: () => defaultTenant,
    audit: writer,
    onAuditFailure: (err, operation) => fastify.log.error({ err: err instanceof Error ? err.message : String(err), operation }, 'audit record of an admin request could not be made durable'),
  });

  /** The identity admin API's error table (its own envelope; the gate's refusals included). */
  const problemOf = (err: unknown): HttpError => {
    if (err instanceof HttpError) return err;
    if (err instanceof GateError) {
      if (err.code === GateErrorCode.Forbidden) {
        const roles = err.details.action === ROLE_ADMINISTRATION ? ROLE_ADMIN_ROLES : ADMIN_ROLES;
        return new HttpError(403, 'Forbidden', `principal ${String(err.details.objectId)} needs ${[...roles].map((r) => BUILT_IN_ROLE_DEFINITIONS.find((d) => d.id === r)?.roleName).join(' or ')} at scope "/"`);
      }
      if (err.code === GateErrorCode.InputRejected) return new HttpError(400, 'BadParameter', err.message);
      return new HttpError(503, 'ServiceUnavailable', err.message);
    }
    if (err instanceof DomainError) return new HttpError(STATUS[err.code] ?? 400, err.code, err.message);
    return new HttpError(500, 'InternalError', 'internal error');
  };

  const route = (method: 'GET' | 'POST' | 'DELETE', url: string, roles: ReadonlySet<string>, handler: (req: FastifyRequest, caller: Caller) => Promise<unknown>, status = 200) => {
    const op: OperationDeclaration = { name: operationName(method, url), kind: 'admin', ...(roles === ROLE_ADMIN_ROLES ? { action: ROLE_ADMINISTRATION } : {}) };
    fastify.route({
      method,
      url,
      handler: async (req: FastifyRequest, reply: FastifyReply) => {
        const audit = gate.open(op, {
          requestId: randomUUID(),
          correlationId: currentContext()?.correlationId ?? '',
          callerIp: req.ip,
          method: req.method,
          requestUri: req.url,
          userAgent: String(req.headers['user-agent'] ?? ''),
        });
        audit.containerPath = req.routeOptions?.url ?? url;
        await learnDefaultTenant();
        const result = await gate.run(
          audit,
          { op, containerName: undefined, origin: '', authorization: req.headers.authorization, inputs: { params: req.params, query: req.query, body: req.body }, operationVersion: () => '1.0' },
          (admission) => {
            const p = admission.principal;
            const caller: Caller = {
              objectId: p.objectId,
              tenantId: p.tenantId,
              ...(p.appId ? { appId: p.appId } : {}),
              ip: req.ip,
              requestUri: req.url,
              correlationId: audit.correlationId,
              audit,
              successStatus: status,
            };
            return handler(req, caller);
          },
          (err) => {
            const e = problemOf(err);
            if (e.status >= 500) req.log.error({ err: err instanceof Error ? err.message : String(err) }, 'admin request failed');
            return { status: e.status, code: e.code };
          },
          () => status,
        );
        if (result.kind === 'audit-unavailable') return reply.code(503).header('cache-control', 'no-store').send({ error: { code: 'AuditUnavailable', message: 'The request could not be audited; no result is returned. Retry later.' } });
        if (result.kind === 'failed') {
          const e = problemOf(result.error);
          return reply.code(e.status).header('cache-control', 'no-store').send({ error: { code: e.code, message: e.message } });
        }
        return reply.code(status).header('cache-control', 'no-store').send(result.value ?? {});
      },
    });
  };

  const body = (req: FastifyRequest): Body => (typeof req.body === 'object' && req.body !== null ? (req.body as Body) : {});
  function str(b: Body, k: string): string;
  function str(b: Body, k: string, required: boolean): string | undefined;
  function str(b: Body, k: string, required = true): string | undefined {
    const v = b[k];
    if (v === undefined || v === null || v === '') {
      if (required) throw new HttpError(400, 'BadParameter', `"${k}" is required`);
      return undefined;
    }
    if (typeof v !== 'string') throw new HttpError(400, 'BadParameter', `"${k}" must be a string`);
    return v;
  }
  const param = (req: FastifyRequest, k: string): string => (req.params as Record<string, string>)[k] ?? '';

  route('GET', '/admin/tenants', ADMIN_ROLES, async () => ({ value: (await repo.tenants()).map((t) => ({ tenantId: t.tenant_id, name: t.name, isDefault: t.is_default, created: t.created_at })) }));

  route('GET', '/admin/principals', ADMIN_ROLES, async (_req, caller) => ({ value: (await repo.principals(caller.tenantId)).map(principalView) }));

  route('GET', '/admin/principals/:id', ADMIN_ROLES, async (req, caller) => {
    const p = await identity.principal(param(req, 'id'), caller.tenantId);
    const secrets = await repo.secrets(p.object_id);
    return { ...principalView(p), secrets: secrets.map((s) => ({ secretId: s.secret_id, hint: s.hint, expires: s.expires_at, revoked: s.revoked_at })) };
  });

  route(
    'POST',
    '/admin/principals',
    ADMIN_ROLES,
    async (req, caller) => {
      const b = body(req);
      const kind = str(b, 'kind', false) ?? 'servicePrincipal';
      if (kind !== 'servicePrincipal' && kind !== 'managedIdentity' && kind !== 'user') throw new HttpError(400, 'BadParameter', '"kind" is servicePrincipal, managedIdentity or user');
      const cert = str(b, 'certificatePem', false);
      const tenantId = (str(b, 'tenantId', false) ?? caller.tenantId).toLowerCase();
      if (!(await repo.tenantExists(tenantId))) throw new HttpError(400, 'BadParameter', `tenant "${tenantId.slice(0, 64)}" does not exist`);
      const created = await identity.createPrincipal(tenantId, str(b, 'displayName'), kind, caller, {
        withSecret: kind === 'user' || (kind === 'servicePrincipal' && (b.withSecret !== false || !cert)),
        ...(cert ? { certificatePem: cert } : {}),
        boundTo: kind === 'managedIdentity' ? (str(b, 'boundTo', false) ?? '127.0.0.1') : null,
      });
      return created;
    },
    201,
  );

  route(
    'POST',
    '/admin/principals/:id/secrets',
    ADMIN_ROLES,
    async (req, caller) => {
      const days = body(req).expiresInDays;
      if (days !== undefined && (typeof days !== 'number' || !Number.isInteger(days) || days < 1 || days > 3650)) throw new HttpError(400, 'BadParameter', '"expiresInDays" is 1-3650');
      return identity.addSecret(param(req, 'id'), caller, days as number | undefined);
    },
    201,
  );

  route('DELETE', '/admin/principals/:id/secrets/:secretId', ADMIN_ROLES, async (req, caller) => {
    await identity.revokeSecret(param(req, 'id'), param(req, 'secretId'), caller);
    return { revoked: param(req, 'secretId') };
  });

  route('DELETE', '/admin/principals/:id/certificates/:thumbprint', ADMIN_ROLES, async (req, caller) => {
    await identity.revokeCertificate(param(req, 'id'), param(req, 'thumbprint'), caller);
    return { revoked: param(req, 'thumbprint') };
  });

  route(
    'POST',
    '/admin/principals/:id/password',
    ADMIN_ROLES,
    async (req, caller) => {
      const p = await identity.principal(param(req, 'id'), caller.tenantId);
      if (p.kind !== 'user') throw new HttpError(400, 'BadParameter', 'only users have a sign-in password');
      const reset = await identity.resetPassword(p.object_id, caller);
      const revoked = await signIn.revokeSessions(p.object_id, 'PasswordReset');
      return { ...reset, revokedSessions: revoked.refreshTokens, revokedSignInSessions: revoked.signInSessions };
    },
    201,
  );

  // Signs a user out everywhere: every refresh token revoked (access tokens live until they expire).
  route('DELETE', '/admin/principals/:id/sessions', ADMIN_ROLES, async (req, caller) => {
    const p = await identity.principal(param(req, 'id'), caller.tenantId);
    if (caller.audit) caller.audit.operationName = 'UserSessionsRevoke';
    const revoked = await signIn.revokeSessions(p.object_id, 'RevokedByAdministrator');
    return { objectId: p.object_id, revokedSessions: revoked.refreshTokens, revokedSignInSessions: revoked.signInSessions };
  });

  // Disables a principal (a user can no longer sign in; its sessions and refresh tokens stop working).
  route('POST', '/admin/principals/:id/disable', ADMIN_ROLES, async (req, caller) => {
    const p = await identity.principal(param(req, 'id'), caller.tenantId);
    const reason = str(body(req), 'reason', false) ?? 'disabled by an administrator';
    if (reason.length > 200 || /[\u0000-\u001f\u007f]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(reason)) {
      throw new HttpError(400, 'BadParameter', '"reason" is at most 200 characters, without control characters or lone surrogates');
    }
    await identity.disablePrincipal(p.object_id, reason, caller);
    const revoked = await signIn.revokeSessions(p.object_id, 'UserDisabled');
    return { objectId: p.object_id, enabled: false, revokedSessions: revoked.refreshTokens, revokedSignInSessions: revoked.signInSessions };
  });

  route('GET', '/admin/applications', ADMIN_ROLES, async (_req, caller) => ({
    value: (await repo.applications(caller.tenantId)).map((a) => ({ appId: a.app_id, tenantId: a.tenant_id, displayName: a.display_name, publicClient: a.public_client, redirectUris: a.redirect_uris, created: a.created_at })),
  }));

  route(
    'POST',
    '/admin/applications',
    ADMIN_ROLES,
    async (req, caller) => {
      const b = body(req);
      if (b.publicClient !== true) throw new HttpError(400, 'BadParameter', '"publicClient" must be true (confidential applications are service principals: keyledger sp create)');
      const uris = b.redirectUris ?? [];
      if (!Array.isArray(uris) || !uris.every((u) => typeof u === 'string')) throw new HttpError(400, 'BadParameter', '"redirectUris" must be an array of strings');
      const tenantId = (str(b, 'tenantId', false) ?? caller.tenantId).toLowerCase();
      if (!(await repo.tenantExists(tenantId))) throw new HttpError(400, 'BadParameter', `tenant "${tenantId.slice(0, 64)}" does not exist`);
      return identity.registerPublicClient(tenantId, str(b, 'displayName'), uris as string[], caller);
    },
    201,
  );

  route('GET', '/admin/roleDefinitions', ROLE_ADMIN_ROLES, async () => ({
    value: [...BUILT_IN_ROLE_DEFINITIONS, ...(await repo.customRoles())].map((d) => ({
      id: d.id,
      roleName: d.roleName,
      roleType: d.roleType,
      description: d.description,
      assignableScopes: d.assignableScopes,
      permissions: d.permissions,
    })),
  }));

  route(
    'POST',
    '/admin/roleDefinitions',
    ROLE_ADMIN_ROLES,
    async (req, caller) => {
      const b = body(req);
      function list(k: string, required: true): string[];
      function list(k: string, required: false): string[] | undefined;
      function list(k: string, required: boolean): string[] | undefined {
        const v = b[k];
        if (v === undefined && !required) return undefined;
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new HttpError(400, 'BadParameter', `"${k}" must be an array of strings`);
        return v as string[];
      }
      const notDataActions = list('notDataActions', false);
      const assignableScopes = list('assignableScopes', false);
      const description = str(b, 'description', false);
      return identity.createRoleDefinition(
        {
          roleName: str(b, 'roleName'),
          dataActions: list('dataActions', true),
          ...(notDataActions ? { notDataActions } : {}),
          ...(assignableScopes ? { assignableScopes } : {}),
          ...(description ? { description } : {}),
        },
        caller,
      );
    },
    201,
  );

  route('DELETE', '/admin/roleDefinitions/:id', ROLE_ADMIN_ROLES, async (req, caller) => {
    await identity.deleteRoleDefinition(param(req, 'id'), caller);
    return { deleted: param(req, 'id') };
  });

  route('GET', '/admin/roleAssignments', ROLE_ADMIN_ROLES, async (req) => {
    const q = req.query as Record<string, string | undefined>;
    const rows = await repo.assignments({ ...(q.principalId ? { principalId: q.principalId } : {}), ...(q.scope ? { scope: q.scope } : {}) });
    const custom = await repo.customRoles();
    return {
      value: rows.map((a) => ({
        id: a.assignment_id,
        principalId: a.principal_id,
        roleDefinitionId: a.role_definition_id,
        roleName: BUILT_IN_ROLE_DEFINITIONS.find((d) => d.id === a.role_definition_id)?.roleName ?? custom.find((d) => d.id === a.role_definition_id)?.roleName ?? a.role_definition_id,
        scope: a.scope,
        created: a.created_at,
      })),
    };
  });

  route(
    'POST',
    '/admin/roleAssignments',
    ROLE_ADMIN_ROLES,
    async (req, caller) => {
      const b = body(req);
      return identity.assignRole(str(b, 'principal'), str(b, 'role'), str(b, 'scope'), caller);
    },
    201,
  );

  route('DELETE', '/admin/roleAssignments/:id', ROLE_ADMIN_ROLES, async (req, caller) => {
    await identity.unassignRole(param(req, 'id'), caller);
    return { deleted: param(req, 'id') };
  });
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** The audit operationName of an admin route (`GET /admin/principals/:id` → `AdminGetPrincipalsId`); a change refines it (e.g. ServicePrincipalCreate). */
function operationName(method: string, url: string): string {
  const words = url
    .replace(/^\/admin\//, '')
    .split('/')
    .map((seg) => seg.replace(/^:/, ''))
    .map((seg) => seg.charAt(0).toUpperCase() + seg.slice(1));
  return `Admin${method.charAt(0)}${method.slice(1).toLowerCase()}${words.join('')}`;
}

function principalView(p: { object_id: string; app_id: string; tenant_id: string; kind: string; display_name: string; bound_to: string | null; enabled: boolean; created_at: Date }) {
  return { objectId: p.object_id, appId: p.app_id, tenantId: p.tenant_id, kind: p.kind, displayName: p.display_name, boundTo: p.bound_to, enabled: p.enabled, created: p.created_at };
}
