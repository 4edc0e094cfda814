import type { FastifyReply, FastifyRequest } from 'fastify';
import { randomUUID } from 'node:crypto';
import { BuiltInRoleIds } from '#libs/auth';
import type { PoolAdministrationService } from '../../application/pool-administration/pool-administration.service.js';
import type { VaultsService } from '../../application/vaults/vaults.service.js';
import { badParameter } from '../../domain/vault.errors.js';
import { parseVaultTags, recoveryLevelOf } from '../../domain/vault/vault.decider.js';
import type { VaultRecord } from '../persistence/vaults.repository.js';
import { apiRequest, type ApiPipeline, type OperationSpec } from './request-pipeline.js';

const op = (name: string): OperationSpec => ({ name, kind: 'admin' });

export type AdminRoutesDeps = {
  readonly vaults: VaultsService;
  readonly defaultRetentionDays: number;
  /** The data-plane URL of a vault, e.g. https://dev.vault.localhost:8443. */
  readonly vaultUri: (name: string) => string;
  /** Managed HSM pools (absent: no pool routes). */
  readonly pools?: VaultsService;
  /** The data-plane URL of a pool, e.g. https://dev.managedhsm.localhost:8443. */
  readonly poolUri?: (name: string) => string;
  /** A pool's local RBAC: `administrators` given at creation get Managed HSM Administrator at its `/`. */
  readonly poolAdministration?: PoolAdministrationService;
};

const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** `administrators` of a pool create: object ids (GUIDs) of principals, at most 32. */
function administratorsOf(b: Body): string[] {
  const v = b.administrators;
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > 32 || !v.every((x): x is string => typeof x === 'string' && GUID.test(x))) {
    throw badParameter('"administrators" must be an array of at most 32 principal object ids (GUIDs).');
  }
  return [...new Set(v.map((x) => x.toLowerCase()))];
}

type Body = Record<string, unknown>;

function body(req: FastifyRequest): Body {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== 'object' || Array.isArray(b)) throw badParameter('The request body must be a JSON object.');
  return b as Body;
}

function bool(b: Body, k: string): boolean | undefined {
  const v = b[k];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw badParameter(`"${k}" must be a boolean.`);
  return v;
}

/**
 * Keyledger's vault administration API (not Azure's: Azure manages vaults through ARM). The
 * caller needs Key Vault Administrator at scope "/"; every request is audited like the data
 * plane. Used by `keyledger vault …`.
 */
export function registerAdminVaultRoutes(api: ApiPipeline, deps: AdminRoutesDeps): void {
  registerContainerRoutes(api, deps.vaults, deps.defaultRetentionDays, deps.vaultUri, { kind: 'vault', path: 'vaults', deletedPath: 'deletedvaults', op: 'Vault', uriField: 'vaultUri' });
  if (deps.pools && deps.poolUri) {
    registerContainerRoutes(api, deps.pools, deps.defaultRetentionDays, deps.poolUri, { kind: 'managedHsm', path: 'managedhsms', deletedPath: 'deletedmanagedhsms', op: 'ManagedHsm', uriField: 'hsmUri' }, deps.poolAdministration);
  }
}

/** The admin routes of one kind of container: vaults (`/admin/vaults`, VaultCreate…) or Managed HSM pools (`/admin/managedhsms`, ManagedHsmCreate…). */
type Shape = { readonly kind: VaultRecord['kind']; readonly path: string; readonly deletedPath: string; readonly op: string; readonly uriField: string };

function registerContainerRoutes(api: ApiPipeline, vaults: VaultsService, defaultRetentionDays: number, uriOf: (name: string) => string, shape: Shape, poolAdministration?: PoolAdministrationService): void {
  const deps = { defaultRetentionDays };
  const { path, deletedPath } = shape;
  const opName = (verb: string): OperationSpec => op(`${shape.op}${verb}`);
  const view = (v: VaultRecord): Record<string, unknown> => ({
    name: v.name,
    id: v.vaultId,
    kind: v.kind,
    [shape.uriField]: uriOf(v.name),
    tenantId: v.tenantId,
    properties: {
      enableSoftDelete: true,
      softDeleteRetentionInDays: v.retentionDays,
      enablePurgeProtection: v.purgeProtection,
      enableRbacAuthorization: true,
      recoveryLevel: recoveryLevelOf(v.retentionDays, v.purgeProtection),
    },
    tags: v.tags,
    created: v.created,
    updated: v.updated,
    ...(v.status === 'deleted' ? { deletedDate: v.deletedDate, scheduledPurgeDate: v.scheduledPurgeDate } : {}),
  });
  const caller = (req: FastifyRequest) => {
    const st = apiRequest(req);
    if (!st.caller) throw new Error('admin request without caller');
    return { st, caller: st.caller };
  };
  const nameOf = (req: FastifyRequest): string => {
    const name = (req.params as { name?: string }).name ?? '';
    const { st } = caller(req);
    st.audit.vault = name.toLowerCase();
    if (shape.kind === 'managedHsm') st.audit.containerPath = `/managedHSMs/${name.toLowerCase()}`;
    return name;
  };

  api.route('GET', `/admin/${path}`, opName('List'), async () => ({ value: (await vaults.list('active')).map(view) }));
  api.route('GET', `/admin/${deletedPath}`, opName('ListDeleted'), async () => ({ value: (await vaults.list('deleted')).map(view) }));
  api.route('GET', `/admin/${path}/:name`, opName('Get'), async (req) => view(await vaults.get(nameOf(req))));
  api.route('GET', `/admin/${deletedPath}/:name`, opName('GetDeleted'), async (req) => view(await vaults.getDeleted(nameOf(req))));

  api.route('POST', `/admin/${path}`, opName('Create'), async (req, reply: FastifyReply) => {
    const { st, caller: c } = caller(req);
    const b = body(req);
    if (typeof b.name !== 'string' || b.name === '') throw badParameter('"name" is required.');
    st.audit.vault = b.name.toLowerCase();
    if (shape.kind === 'managedHsm') st.audit.containerPath = `/managedHSMs/${b.name.toLowerCase()}`;
    const retention = b.softDeleteRetentionInDays ?? b.retentionDays ?? deps.defaultRetentionDays;
    if (typeof retention !== 'number') throw badParameter('"softDeleteRetentionInDays" must be a number.');
    // A pool awaits its security domain (download or upload) before it serves keys, unless the
    // caller asks for one usable at once (a development convenience, like the bootstrap pool).
    const pending = shape.kind === 'managedHsm' && bool(b, 'activateWithoutSecurityDomain') !== true;
    const administrators = shape.kind === 'managedHsm' && poolAdministration ? administratorsOf(b) : [];
    if (administrators.length > 0) st.audit.extra = { administrators: administrators.join(',') };
    const created = await vaults.create(
      {
        name: b.name,
        tenantId: typeof b.tenantId === 'string' && b.tenantId ? b.tenantId : c.tenantId,
        retentionDays: retention,
        purgeProtection: bool(b, 'enablePurgeProtection') ?? false,
        tags: parseVaultTags(b.tags),
        ...(pending ? { securityDomain: 'pending' as const } : {}),
      },
      c,
    );
    // Azure's `administrators`: each gets Managed HSM Administrator at the new pool's "/" (its local RBAC).
    for (const principalId of administrators) {
      await poolAdministration?.createAssignment(created, { assignmentId: randomUUID(), principalId, roleDefinitionId: BuiltInRoleIds.managedHsmAdministrator, scope: '/', builtInRole: true }, c);
    }
    return reply.code(201).send({ ...view(created), ...(shape.kind === 'managedHsm' ? { properties: { ...(view(created).properties as object), initialAdminObjectIds: administrators } } : {}) });
  });

  api.route('PATCH', `/admin/${path}/:name`, opName('Update'), async (req) => {
    const name = nameOf(req);
    const b = body(req);
    const purgeProtection = bool(b, 'enablePurgeProtection');
    return view(await vaults.update(name, { ...(b.tags !== undefined ? { tags: parseVaultTags(b.tags) } : {}), ...(purgeProtection !== undefined ? { purgeProtection } : {}) }, caller(req).caller));
  });

  api.route('DELETE', `/admin/${path}/:name`, opName('Delete'), async (req) => view(await vaults.delete(nameOf(req), caller(req).caller)));
  api.route('POST', `/admin/${deletedPath}/:name/recover`, opName('Recover'), async (req) => view(await vaults.recover(nameOf(req), caller(req).caller)));
  api.route('DELETE', `/admin/${deletedPath}/:name`, opName('Purge'), async (req, reply: FastifyReply) => {
    await vaults.purge(nameOf(req), 'request', caller(req).caller);
    return reply.code(204).send();
  });
}
