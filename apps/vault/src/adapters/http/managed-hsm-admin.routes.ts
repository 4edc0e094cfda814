import type { FastifyReply, FastifyRequest } from 'fastify';
import { DomainError } from '#libs/kernel';
import { BuiltInRoleIds, ManagedHsmAdminDataActions, MANAGED_HSM_BUILT_IN_ROLES, isBuiltInRoleId, normalizeRoleDefinitionId, type RoleAssignment, type RoleDefinition } from '#libs/auth';
import type { PoolAdministrationService } from '../../application/pool-administration/pool-administration.service.js';
import type { AccessControl } from '../../application/access/access-control.js';
import { poolScopeWithin, poolSettingName } from '../../domain/pool-administration/pool-administration.decider.js';
import type { PoolPermission, PoolRoleAssignment, PoolRoleDefinition } from '../../domain/pool-administration/pool-administration.events.js';
import { VaultErrorCode, badParameter } from '../../domain/vault.errors.js';
import type { VaultRecord } from '../persistence/vaults.repository.js';
import { dataPlane, type ApiPipeline, type OperationSpec } from './request-pipeline.js';

/**
 * A Managed HSM pool's administration plane on its own host (`{pool}.managedhsm.<domain>`), as
 * Azure's `rbac.json` and `settings.json` describe it and the recorded sessions answer:
 *
 *   /{scope}/providers/Microsoft.Authorization/roleAssignments[/{name}]   GET list/get, PUT, DELETE
 *   /{scope}/providers/Microsoft.Authorization/roleDefinitions[/{name}]   GET list/get, PUT, DELETE
 *   /settings, /settings/{name}                                           GET, GET, PATCH
 *
 * with `{scope}` one of `/` (sent as `/` by the JavaScript SDK, `//` by the Python one), `/keys`
 * and `/keys/{key name}`. Each route is one operation of the gate (RBAC on the pool with the
 * Managed HSM data action, one audit record); on a vault's host none of them exists (404).
 */
export type ManagedHsmAdminRoutesDeps = { readonly admin: PoolAdministrationService; readonly access: AccessControl };

const ROLE_DEFINITION_ID_PREFIX = 'Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/';
const GUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
const KEY_NAME = /^[0-9a-zA-Z-]{1,127}$/;
const DATA_ACTION = /^Microsoft\.KeyVault\/managedHsm\/[A-Za-z0-9*._/-]{1,200}$/i;
const CONTROL_ACTION = /^[A-Za-z0-9.]+(\/[A-Za-z0-9*._-]+)*$/;

const op = (name: string, action: string, withName: boolean): OperationSpec => ({ name, kind: 'data', action, ...(withName ? { nameParam: 'name' } : {}) });
const A = ManagedHsmAdminDataActions;

/** The audit operation names of the pool's administration plane (findable with `keyledger audit search --operation …`). */
export const POOL_ADMINISTRATION_OPERATIONS = {
  RoleAssignmentList: op('RoleAssignmentList', A.roleAssignmentsRead, false),
  RoleAssignmentGet: op('RoleAssignmentGet', A.roleAssignmentsRead, true),
  RoleAssignmentCreate: op('RoleAssignmentCreate', A.roleAssignmentsWrite, true),
  RoleAssignmentDelete: op('RoleAssignmentDelete', A.roleAssignmentsDelete, true),
  RoleDefinitionList: op('RoleDefinitionList', A.roleDefinitionsRead, false),
  RoleDefinitionGet: op('RoleDefinitionGet', A.roleDefinitionsRead, true),
  RoleDefinitionSet: op('RoleDefinitionSet', A.roleDefinitionsWrite, true),
  RoleDefinitionDelete: op('RoleDefinitionDelete', A.roleDefinitionsDelete, true),
  SettingList: op('SettingList', A.settingsRead, false),
  SettingGet: op('SettingGet', A.settingsRead, true),
  SettingUpdate: op('SettingUpdate', A.settingsWrite, true),
} as const;

/** The built-in roles a pool lists, in the order the service lists them (recorded 2026). */
const POOL_BUILT_IN_ORDER = [
  BuiltInRoleIds.managedHsmEkmAdministrator,
  BuiltInRoleIds.managedHsmRestore,
  BuiltInRoleIds.managedHsmBackupUser,
  BuiltInRoleIds.managedHsmCryptoServiceEncryptionUser,
  BuiltInRoleIds.managedHsmCryptoServiceReleaseUser,
  BuiltInRoleIds.managedHsmCryptoAuditor,
  BuiltInRoleIds.managedHsmPolicyAdministrator,
  BuiltInRoleIds.managedHsmCryptoUser,
  BuiltInRoleIds.managedHsmCryptoOfficer,
  BuiltInRoleIds.managedHsmAdministrator,
];
const POOL_BUILT_INS: readonly RoleDefinition[] = POOL_BUILT_IN_ORDER.map((id) => MANAGED_HSM_BUILT_IN_ROLES.find((r) => r.id === id)).filter((r): r is RoleDefinition => r !== undefined);
const POOL_BUILT_IN_IDS: ReadonlySet<string> = new Set(POOL_BUILT_INS.map((r) => r.id));

/** An assignment as the pool answers it: its own, or one identity holds that reaches the pool. */
type ListedAssignment = PoolRoleAssignment & { readonly fromIdentity: boolean };

function assignmentView(a: PoolRoleAssignment): Record<string, unknown> {
  return {
    id: `${a.scope === '/' ? '' : a.scope}/providers/Microsoft.Authorization/roleAssignments/${a.assignmentId}`,
    name: a.assignmentId,
    properties: { principalId: a.principalId, roleDefinitionId: `${ROLE_DEFINITION_ID_PREFIX}${a.roleDefinitionId}`, scope: a.scope },
    type: 'Microsoft.Authorization/roleAssignments',
  };
}

function definitionView(d: PoolRoleDefinition, type: 'AKVBuiltInRole' | 'CustomRole'): Record<string, unknown> {
  return {
    id: `${ROLE_DEFINITION_ID_PREFIX}${d.roleDefinitionId}`,
    name: d.roleDefinitionId,
    properties: {
      assignableScopes: d.assignableScopes,
      description: d.description,
      permissions: d.permissions.map((p) => ({ actions: p.actions, dataActions: p.dataActions, notActions: p.notActions, notDataActions: p.notDataActions })),
      roleName: d.roleName,
      type,
    },
    type: 'Microsoft.Authorization/roleDefinitions',
  };
}

/** A built-in role as a pool reports it (the service answers its built-ins with an empty description). */
const builtInView = (r: RoleDefinition): Record<string, unknown> =>
  definitionView({ roleDefinitionId: r.id, roleName: r.roleName, description: '', assignableScopes: r.assignableScopes, permissions: r.permissions }, 'AKVBuiltInRole');

const roleDefinitionNotFound = (): DomainError => new DomainError(VaultErrorCode.RoleDefinitionNotFound, 'Requested role definition not found');
const roleAssignmentNotFound = (): DomainError => new DomainError(VaultErrorCode.RoleAssignmentNotFound, 'Requested role assignment not found');

/** The pool-local scope a route serves: `/`, `/keys` or `/keys/{name}` (key names lower-cased, as RBAC compares them). */
function scopeOf(req: FastifyRequest, kind: 'root' | 'keys' | 'key'): string {
  if (kind === 'root') return '/';
  if (kind === 'keys') return '/keys';
  const key = (req.params as { keyName?: string }).keyName ?? '';
  if (!KEY_NAME.test(key)) throw badParameter(`The scope '/keys/${key.slice(0, 128)}' is not a scope of this Managed HSM: use /, /keys or /keys/{key name}.`);
  return `/keys/${key.toLowerCase()}`;
}

/** `$filter`: `atScope()`, `principalId eq '{id}'`, or both joined by `and` (role assignments). */
function assignmentFilter(raw: string | null): { atScope: boolean; principalId?: string } {
  if (raw === null || raw.trim() === '') return { atScope: false };
  let atScope = false;
  let principalId: string | undefined;
  for (const term of raw.trim().split(/\s+and\s+/i)) {
    const t = term.trim();
    if (/^atScope\(\)$/i.test(t)) atScope = true;
    else {
      const id = /^principalId\s+eq\s+'([^']{1,128})'$/i.exec(t)?.[1];
      if (id === undefined) throw badParameter("The $filter is not supported: use atScope(), principalId eq '{id}', or both joined by 'and'.");
      principalId = id.toLowerCase();
    }
  }
  return { atScope, ...(principalId !== undefined ? { principalId } : {}) };
}

/** `$filter`: `roleName eq '{name}'` (role definitions). */
function definitionFilter(raw: string | null): string | undefined {
  if (raw === null || raw.trim() === '') return undefined;
  const name = /^\s*roleName\s+eq\s+'([^']{1,512})'\s*$/i.exec(raw)?.[1];
  if (name === undefined) throw badParameter("The $filter is not supported: use roleName eq '{name}'.");
  return name.toLowerCase();
}

type Body = Record<string, unknown>;
const isObject = (x: unknown): x is Body => typeof x === 'object' && x !== null && !Array.isArray(x);

function propertiesOf(req: FastifyRequest): Body {
  const b = req.body;
  if (!isObject(b) || !isObject(b.properties)) throw badParameter('The request body must be a JSON object with "properties".');
  return b.properties;
}

function stringList(v: unknown, field: string, test: RegExp, max: number): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v) || v.length > max) throw badParameter(`"${field}" must be an array of at most ${max} strings.`);
  return v.map((x) => {
    if (typeof x !== 'string' || !test.test(x)) throw badParameter(`"${field}" contains "${String(x).slice(0, 200)}", which is not a permission of a Managed HSM.`);
    return x;
  });
}

function poolLocalScope(v: unknown): string {
  if (typeof v !== 'string') throw badParameter('A scope must be a string.');
  const s = v.length > 1 ? v.replace(/\/+$/, '') : v;
  if (s === '/' || s.toLowerCase() === '/keys') return s.toLowerCase();
  const key = /^\/keys\/([0-9a-zA-Z-]{1,127})$/i.exec(s)?.[1];
  if (key !== undefined) return `/keys/${key.toLowerCase()}`;
  throw badParameter(`The scope '${v.slice(0, 256)}' is not a scope of this Managed HSM: use /, /keys or /keys/{key name}.`);
}

/** A custom role definition from a PUT body; the name is the definition's id (a GUID). */
function definitionFromBody(req: FastifyRequest, roleDefinitionId: string): PoolRoleDefinition {
  const p = propertiesOf(req);
  if (typeof p.roleName !== 'string' || p.roleName.trim() === '' || p.roleName.length > 512) throw badParameter('"roleName" is required (1-512 characters).');
  if (p.type !== undefined && p.type !== null && p.type !== 'CustomRole') throw badParameter('Only role definitions of type "CustomRole" can be created or updated.');
  if (p.description !== undefined && p.description !== null && (typeof p.description !== 'string' || p.description.length > 4096)) throw badParameter('"description" must be a string of at most 4096 characters.');
  const rawPermissions = p.permissions ?? [];
  if (!Array.isArray(rawPermissions) || rawPermissions.length > 16) throw badParameter('"permissions" must be an array of at most 16 permission objects.');
  const permissions = rawPermissions.map((x): PoolPermission => {
    if (!isObject(x)) throw badParameter('Each permission must be an object.');
    return {
      actions: stringList(x.actions, 'actions', CONTROL_ACTION, 256),
      notActions: stringList(x.notActions, 'notActions', CONTROL_ACTION, 256),
      dataActions: stringList(x.dataActions, 'dataActions', DATA_ACTION, 256),
      notDataActions: stringList(x.notDataActions, 'notDataActions', DATA_ACTION, 256),
    };
  });
  const rawScopes = p.assignableScopes ?? ['/'];
  if (!Array.isArray(rawScopes) || rawScopes.length === 0 || rawScopes.length > 64) throw badParameter('"assignableScopes" must be a non-empty array of scopes.');
  return {
    roleDefinitionId,
    roleName: p.roleName.trim(),
    description: typeof p.description === 'string' ? p.description : '',
    assignableScopes: [...new Set(rawScopes.map(poolLocalScope))],
    permissions,
  };
}

/** The pool-local scope of one of identity's assignments that reaches `pool` (its `/` or the pool's own scopes), if it does. */
function localScopeOfIdentityAssignment(a: RoleAssignment, poolNameKey: string): string | undefined {
  const scope = a.scope.toLowerCase().replace(/\/+$/, '') || '/';
  if (scope === '/') return '/';
  const base = `/managedhsms/${poolNameKey}`;
  if (scope === base) return '/';
  return scope.startsWith(`${base}/keys`) ? scope.slice(base.length) : undefined;
}

export function registerManagedHsmAdminRoutes(api: ApiPipeline, deps: ManagedHsmAdminRoutesDeps): void {
  const { admin, access } = deps;
  const O = POOL_ADMINISTRATION_OPERATIONS;

  /** The pool's own assignments, then identity's that reach it with a Managed HSM role (read-only here). */
  const assignmentsOf = async (pool: VaultRecord): Promise<ListedAssignment[]> => {
    const own = [...(await admin.state(pool)).assignments.values()].map((a) => ({ ...a, fromIdentity: false }));
    const inherited = access.identityAssignments().flatMap((a): ListedAssignment[] => {
      const roleDefinitionId = normalizeRoleDefinitionId(a.roleDefinitionId);
      const scope = localScopeOfIdentityAssignment(a, pool.nameKey);
      if (roleDefinitionId === undefined || scope === undefined || !POOL_BUILT_IN_IDS.has(roleDefinitionId)) return [];
      return [{ assignmentId: a.id, principalId: a.principalId, roleDefinitionId, scope, fromIdentity: true }];
    });
    return [...own, ...inherited];
  };
  const nameOf = (req: FastifyRequest): string => (req.params as { name?: string }).name ?? '';

  for (const [scopeKind, prefixes] of [
    ['root', ['', '/']],
    ['keys', ['/keys', '//keys']],
    ['key', ['/keys/:keyName', '//keys/:keyName']],
  ] as const) {
    for (const prefix of prefixes) {
      const assignments = `${prefix}/providers/Microsoft.Authorization/roleAssignments`;
      const definitions = `${prefix}/providers/Microsoft.Authorization/roleDefinitions`;

      api.route('GET', assignments, O.RoleAssignmentList, async (req) => {
        const { st, vault } = dataPlane(req);
        const scope = scopeOf(req, scopeKind);
        const filter = assignmentFilter(st.query.get('$filter'));
        const value = (await assignmentsOf(vault)).filter(
          (a) =>
            (filter.atScope ? poolScopeWithin(scope, a.scope) : poolScopeWithin(scope, a.scope) || poolScopeWithin(a.scope, scope)) &&
            (filter.principalId === undefined || a.principalId.toLowerCase() === filter.principalId),
        );
        return { value: value.map(assignmentView) };
      });

      api.route('GET', `${assignments}/:name`, O.RoleAssignmentGet, async (req) => {
        const { vault } = dataPlane(req);
        scopeOf(req, scopeKind);
        const name = nameOf(req).toLowerCase();
        const found = GUID.test(name) ? (await assignmentsOf(vault)).find((a) => a.assignmentId.toLowerCase() === name) : undefined;
        if (!found) throw roleAssignmentNotFound();
        return assignmentView(found);
      });

      api.route('PUT', `${assignments}/:name`, O.RoleAssignmentCreate, async (req, reply: FastifyReply) => {
        const { st, vault, caller } = dataPlane(req);
        const scope = scopeOf(req, scopeKind);
        const name = nameOf(req);
        if (!GUID.test(name)) throw badParameter('Role assignment name must be a GUID');
        const p = propertiesOf(req);
        const roleDefinitionId = typeof p.roleDefinitionId === 'string' ? normalizeRoleDefinitionId(p.roleDefinitionId) : undefined;
        if (roleDefinitionId === undefined) throw badParameter('"roleDefinitionId" must be a role definition id (a GUID, or Microsoft.KeyVault/providers/Microsoft.Authorization/roleDefinitions/{GUID}).');
        if (typeof p.principalId !== 'string' || !GUID.test(p.principalId)) throw badParameter('"principalId" must be the object id (a GUID) of a user, service principal or managed identity.');
        if (p.scope !== undefined && p.scope !== null && poolLocalScope(p.scope) !== scope) throw badParameter('"scope" does not match the scope of the request URL.');
        const assignment = { assignmentId: name.toLowerCase(), principalId: p.principalId.toLowerCase(), roleDefinitionId, scope };
        if (access.identityAssignments().some((a) => a.id.toLowerCase() === assignment.assignmentId)) throw new DomainError(VaultErrorCode.RoleAssignmentExists, 'The role assignment already exists.');
        st.audit.extra = { principalId: assignment.principalId, roleDefinitionId, scope };
        await admin.createAssignment(vault, { ...assignment, builtInRole: POOL_BUILT_IN_IDS.has(roleDefinitionId) }, caller);
        return reply.code(201).send(assignmentView(assignment));
      });

      api.route('DELETE', `${assignments}/:name`, O.RoleAssignmentDelete, async (req) => {
        const { st, vault, caller } = dataPlane(req);
        scopeOf(req, scopeKind);
        const name = nameOf(req).toLowerCase();
        if (!GUID.test(name)) throw roleAssignmentNotFound();
        const found = (await assignmentsOf(vault)).find((a) => a.assignmentId.toLowerCase() === name);
        if (!found) throw roleAssignmentNotFound();
        if (found.fromIdentity) {
          throw badParameter('This role assignment is held by the identity service (a deployment-wide assignment); remove it with "keyledger role unassign".');
        }
        st.audit.extra = { principalId: found.principalId, roleDefinitionId: found.roleDefinitionId, scope: found.scope };
        await admin.deleteAssignment(vault, name, caller);
        return assignmentView(found);
      });

      api.route('GET', definitions, O.RoleDefinitionList, async (req) => {
        const { st, vault } = dataPlane(req);
        const scope = scopeOf(req, scopeKind);
        const roleName = definitionFilter(st.query.get('$filter'));
        const custom = [...(await admin.state(vault)).definitions.values()].filter((d) => d.assignableScopes.some((s) => poolScopeWithin(scope, s) || poolScopeWithin(s, scope)));
        const value = [...POOL_BUILT_INS.map((r) => ({ name: r.roleName, view: builtInView(r) })), ...custom.map((d) => ({ name: d.roleName, view: definitionView(d, 'CustomRole') }))];
        return { value: value.filter((v) => roleName === undefined || v.name.toLowerCase() === roleName).map((v) => v.view) };
      });

      api.route('GET', `${definitions}/:name`, O.RoleDefinitionGet, async (req) => {
        const { vault } = dataPlane(req);
        scopeOf(req, scopeKind);
        const name = nameOf(req).toLowerCase();
        if (!GUID.test(name)) throw roleDefinitionNotFound();
        const builtIn = POOL_BUILT_INS.find((r) => r.id === name);
        if (builtIn) return builtInView(builtIn);
        const custom = (await admin.state(vault)).definitions.get(name);
        if (!custom) throw roleDefinitionNotFound();
        return definitionView(custom, 'CustomRole');
      });

      api.route('PUT', `${definitions}/:name`, O.RoleDefinitionSet, async (req, reply: FastifyReply) => {
        const { st, vault, caller } = dataPlane(req);
        scopeOf(req, scopeKind);
        const name = nameOf(req);
        if (!GUID.test(name)) throw badParameter('Role definition name must be a GUID');
        const id = name.toLowerCase();
        if (isBuiltInRoleId(id)) throw badParameter('Cannot re-use the name/GUID matching that of a built-in role. Please use a unique role ID.');
        const definition = definitionFromBody(req, id);
        st.audit.extra = { roleDefinitionId: id, roleName: definition.roleName.slice(0, 128) };
        await admin.setDefinition(vault, definition, caller);
        return reply.code(201).send(definitionView(definition, 'CustomRole'));
      });

      api.route('DELETE', `${definitions}/:name`, O.RoleDefinitionDelete, async (req) => {
        const { st, vault, caller } = dataPlane(req);
        scopeOf(req, scopeKind);
        const name = nameOf(req).toLowerCase();
        if (GUID.test(name) && isBuiltInRoleId(name)) throw badParameter('Cannot re-use the name/GUID matching that of a built-in role. Please use a unique role ID.');
        const found = GUID.test(name) ? (await admin.state(vault)).definitions.get(name) : undefined;
        if (!found) throw roleDefinitionNotFound();
        st.audit.extra = { roleDefinitionId: name, roleName: found.roleName.slice(0, 128) };
        await admin.deleteDefinition(vault, name, caller);
        return definitionView(found, 'CustomRole');
      });
    }
  }

  api.route('GET', '/settings', O.SettingList, async (req) => {
    const { vault } = dataPlane(req);
    return { settings: await admin.settings(vault) };
  });

  const settingOf = async (vault: VaultRecord, raw: string) => {
    const name = poolSettingName(raw);
    const setting = name === undefined ? undefined : (await admin.settings(vault)).find((s) => s.name === name);
    if (!setting) throw new DomainError(VaultErrorCode.SettingNotFound, `The setting '${raw.slice(0, 128)}' does not exist.`, { name: raw.slice(0, 128) });
    return setting;
  };

  api.route('GET', '/settings/:name', O.SettingGet, async (req) => settingOf(dataPlane(req).vault, nameOf(req)));

  api.route('PATCH', '/settings/:name', O.SettingUpdate, async (req) => {
    const { st, vault, caller } = dataPlane(req);
    const current = await settingOf(vault, nameOf(req));
    const b = req.body;
    if (!isObject(b) || typeof b.value !== 'string') throw badParameter('The request body must be {"value": "<string>"}.');
    st.audit.extra = { setting: current.name, settingValue: b.value.slice(0, 16) };
    const state = await admin.updateSetting(vault, current.name, b.value, caller);
    return { ...current, value: state.settings.get(current.name) ?? current.value };
  });
}

/** Operations that exist only on a pool's host (a vault answers them as unknown paths). */
export const POOL_ONLY_OPERATION_NAMES: ReadonlySet<string> = new Set(Object.values(POOL_ADMINISTRATION_OPERATIONS).map((o) => o.name));
