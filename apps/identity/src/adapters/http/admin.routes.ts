import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BUILT_IN_ROLE_DEFINITIONS, BuiltInRoleIds, type Principal, type TokenVerifier } from '#libs/auth';
import { DomainError } from '#libs/kernel';
import { currentContext } from '#libs/platform';
import type { IdentityRepository } from '../persistence/identity.repository.js';
import type { Caller, IdentityService } from '../../application/identity.service.js';

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
const ROLE_ADMIN_ROLES = new Set<string>([BuiltInRoleIds.keyVaultAdministrator, BuiltInRoleIds.keyVaultDataAccessAdministrator]);

type Body = Record<string, unknown>;

/**
 * The administration API behind the `keyledger` CLI. Callers need a token for
 * `https://identity.<domain>` and, at scope "/", Key Vault Administrator (principals and
 * credentials) or Key Vault Data Access Administrator (role assignments).
 */
export function registerAdminRoutes(fastify: FastifyInstance, identity: IdentityService, repo: IdentityRepository, verifier: TokenVerifier): void {
  const authorize = async (req: FastifyRequest, roles: ReadonlySet<string>): Promise<Caller> => {
    let principal: Principal;
    try {
      principal = await verifier.verifyAuthorizationHeader(req.headers.authorization);
    } catch (err) {
      throw new HttpError(401, 'Unauthorized', err instanceof DomainError ? err.message : 'authentication failed');
    }
    const held = await repo.assignments({ principalId: principal.objectId, scope: '/' });
    if (!held.some((a) => roles.has(a.role_definition_id))) {
      throw new HttpError(403, 'Forbidden', `principal ${principal.objectId} needs ${[...roles].map((r) => BUILT_IN_ROLE_DEFINITIONS.find((d) => d.id === r)?.roleName).join(' or ')} at scope "/"`);
    }
    return {
      objectId: principal.objectId,
      tenantId: principal.tenantId,
      ...(principal.appId ? { appId: principal.appId } : {}),
      ip: req.ip,
      requestUri: req.url,
      correlationId: currentContext()?.correlationId ?? '',
    };
  };

  const route = (method: 'GET' | 'POST' | 'DELETE', url: string, roles: ReadonlySet<string>, handler: (req: FastifyRequest, caller: Caller) => Promise<unknown>, status = 200) => {
    fastify.route({
      method,
      url,
      handler: async (req: FastifyRequest, reply: FastifyReply) => {
        try {
          const caller = await authorize(req, roles);
          const result = await handler(req, caller);
          return reply.code(status).header('cache-control', 'no-store').send(result ?? {});
        } catch (err) {
          if (err instanceof HttpError) return reply.code(err.status).send({ error: { code: err.code, message: err.message } });
          if (err instanceof DomainError) return reply.code(STATUS[err.code] ?? 400).send({ error: { code: err.code, message: err.message } });
          req.log.error({ err: err instanceof Error ? err.message : String(err) }, 'admin request failed');
          return reply.code(500).send({ error: { code: 'InternalError', message: 'internal error' } });
        }
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
      const created = await identity.createPrincipal(caller.tenantId, str(b, 'displayName'), kind, caller, {
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

function principalView(p: { object_id: string; app_id: string; tenant_id: string; kind: string; display_name: string; bound_to: string | null; enabled: boolean; created_at: Date }) {
  return { objectId: p.object_id, appId: p.app_id, tenantId: p.tenant_id, kind: p.kind, displayName: p.display_name, boundTo: p.bound_to, enabled: p.enabled, created: p.created_at };
}
