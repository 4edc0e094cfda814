import { DomainError, assertNever, type Decider } from '#libs/kernel';
import { VaultErrorCode, badParameter } from '../vault.errors.js';
import type { PoolAdministrationEvent, PoolRoleAssignment, PoolRoleDefinition } from './pool-administration.events.js';

/**
 * The rules of a pool's local RBAC and settings (pure). Names of assignments and definitions
 * are client-chosen GUIDs (lower-cased by the caller); scopes are pool-local (`/`, `/keys`,
 * `/keys/{name}`, lower-cased). Whether a role definition id is a built-in Managed HSM role is
 * told by the command (the catalogue lives in libs/auth, which the domain does not import).
 */
export type PoolAdministrationState = {
  readonly assignments: ReadonlyMap<string, PoolRoleAssignment>;
  readonly definitions: ReadonlyMap<string, PoolRoleDefinition>;
  readonly settings: ReadonlyMap<string, string>;
};

export type PoolAdministrationCommand =
  | { readonly type: 'CreateRoleAssignment'; readonly data: PoolRoleAssignment & { readonly poolId: string; readonly builtInRole: boolean } }
  | { readonly type: 'DeleteRoleAssignment'; readonly data: { readonly poolId: string; readonly assignmentId: string } }
  | { readonly type: 'SetRoleDefinition'; readonly data: PoolRoleDefinition & { readonly poolId: string } }
  | { readonly type: 'DeleteRoleDefinition'; readonly data: { readonly poolId: string; readonly roleDefinitionId: string } }
  | { readonly type: 'UpdateSetting'; readonly data: { readonly poolId: string; readonly setting: string; readonly value: string } };

/** The settings a pool exposes (Azure's `GET /settings`), with their type and initial value. */
export const POOL_SETTINGS: Readonly<Record<string, { readonly type: 'boolean'; readonly initial: string }>> = Object.freeze({
  AllowKeyManagementOperationsThroughARM: { type: 'boolean', initial: 'false' },
});

/** A pool setting's canonical name (settings are matched case-insensitively), or undefined. */
export function poolSettingName(name: string): string | undefined {
  return Object.keys(POOL_SETTINGS).find((k) => k.toLowerCase() === name.toLowerCase());
}

/** True when an assignment at pool-local `scope` is inside `assignable` (`/` holds everything, `/keys` every key). */
export function poolScopeWithin(scope: string, assignable: string): boolean {
  if (assignable === '/') return true;
  return scope === assignable || scope.startsWith(`${assignable}/`);
}

export const poolAdministrationDecider: Decider<PoolAdministrationState, PoolAdministrationCommand, PoolAdministrationEvent> = {
  initialState: () => ({ assignments: new Map(), definitions: new Map(), settings: new Map() }),
  decide(command, state) {
    switch (command.type) {
      case 'CreateRoleAssignment': {
        const { poolId, assignmentId, principalId, roleDefinitionId, scope, builtInRole } = command.data;
        if (state.assignments.has(assignmentId)) throw new DomainError(VaultErrorCode.RoleAssignmentExists, 'The role assignment already exists.', { name: assignmentId });
        const custom = state.definitions.get(roleDefinitionId);
        if (!builtInRole && custom === undefined) throw new DomainError(VaultErrorCode.RoleDefinitionNotFound, 'Requested role definition not found', { name: roleDefinitionId });
        if (custom && !custom.assignableScopes.some((a) => poolScopeWithin(scope, a))) {
          throw badParameter(`The role definition '${roleDefinitionId}' is not assignable at scope '${scope}'.`);
        }
        for (const a of state.assignments.values()) {
          if (a.principalId === principalId && a.roleDefinitionId === roleDefinitionId && a.scope === scope) {
            throw new DomainError(VaultErrorCode.RoleAssignmentExists, 'The role assignment already exists.', { name: a.assignmentId });
          }
        }
        return [{ type: 'ManagedHsmRoleAssignmentCreated', data: { poolId, assignmentId, principalId, roleDefinitionId, scope } }];
      }
      case 'DeleteRoleAssignment':
        if (!state.assignments.has(command.data.assignmentId)) throw new DomainError(VaultErrorCode.RoleAssignmentNotFound, 'Requested role assignment not found', { name: command.data.assignmentId });
        return [{ type: 'ManagedHsmRoleAssignmentDeleted', data: command.data }];
      case 'SetRoleDefinition': {
        const d = command.data;
        const existing = state.definitions.get(d.roleDefinitionId);
        if (existing) {
          // Narrowing a definition must not strand its assignments outside its assignable scopes.
          for (const a of state.assignments.values()) {
            if (a.roleDefinitionId === d.roleDefinitionId && !d.assignableScopes.some((s) => poolScopeWithin(a.scope, s))) {
              throw badParameter(`The role definition is assigned at scope '${a.scope}', which its new assignable scopes do not include.`);
            }
          }
        }
        return [{ type: 'ManagedHsmRoleDefinitionSet', data: d }];
      }
      case 'DeleteRoleDefinition': {
        const { roleDefinitionId } = command.data;
        if (!state.definitions.has(roleDefinitionId)) throw new DomainError(VaultErrorCode.RoleDefinitionNotFound, 'Requested role definition not found', { name: roleDefinitionId });
        const used = [...state.assignments.values()].filter((a) => a.roleDefinitionId === roleDefinitionId).length;
        if (used > 0) throw new DomainError(VaultErrorCode.RoleDefinitionInUse, `The role definition is in use by ${used} role assignment(s); delete them first.`, { name: roleDefinitionId, assignments: used });
        return [{ type: 'ManagedHsmRoleDefinitionDeleted', data: command.data }];
      }
      case 'UpdateSetting': {
        const setting = poolSettingName(command.data.setting);
        const spec = setting === undefined ? undefined : POOL_SETTINGS[setting];
        if (setting === undefined || spec === undefined) throw new DomainError(VaultErrorCode.SettingNotFound, `The setting '${command.data.setting.slice(0, 128)}' does not exist.`, { name: command.data.setting.slice(0, 128) });
        const value = command.data.value.toLowerCase();
        if (value !== 'true' && value !== 'false') throw badParameter(`The value of setting '${setting}' must be "true" or "false" (type boolean).`);
        return [{ type: 'ManagedHsmSettingUpdated', data: { poolId: command.data.poolId, setting, settingType: spec.type, settingValue: value } }];
      }
      default:
        return assertNever(command, 'command');
    }
  },
  evolve(state, event) {
    switch (event.type) {
      case 'ManagedHsmRoleAssignmentCreated': {
        const { poolId: _p, ...a } = event.data;
        return { ...state, assignments: new Map(state.assignments).set(a.assignmentId, a) };
      }
      case 'ManagedHsmRoleAssignmentDeleted': {
        const assignments = new Map(state.assignments);
        assignments.delete(event.data.assignmentId);
        return { ...state, assignments };
      }
      case 'ManagedHsmRoleDefinitionSet': {
        const { poolId: _p, ...d } = event.data;
        return { ...state, definitions: new Map(state.definitions).set(d.roleDefinitionId, d) };
      }
      case 'ManagedHsmRoleDefinitionDeleted': {
        const definitions = new Map(state.definitions);
        definitions.delete(event.data.roleDefinitionId);
        return { ...state, definitions };
      }
      case 'ManagedHsmSettingUpdated':
        return { ...state, settings: new Map(state.settings).set(event.data.setting, event.data.settingValue) };
      default:
        return assertNever(event, 'event');
    }
  },
};

/** Several commands decided in order against the state each leaves (a restore appends them as one). */
export type PoolAdministrationBatch = { readonly type: 'PoolAdministrationBatch'; readonly data: { readonly commands: readonly PoolAdministrationCommand[] } };

export const poolAdministrationBatchDecider: Decider<PoolAdministrationState, PoolAdministrationBatch, PoolAdministrationEvent> = {
  initialState: poolAdministrationDecider.initialState,
  evolve: poolAdministrationDecider.evolve,
  decide(batch, state) {
    let s = state;
    const out: PoolAdministrationEvent[] = [];
    for (const c of batch.data.commands) {
      for (const e of poolAdministrationDecider.decide(c, s)) {
        s = poolAdministrationDecider.evolve(s, e);
        out.push(e);
      }
    }
    return out;
  },
};

const sameDefinition = (a: PoolRoleDefinition, b: PoolRoleDefinition): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * The commands that bring `snapshot`'s administration (e.g. a full backup's) into a pool holding
 * `current`, additively: definitions first (unless equal to the pool's), then assignments the pool
 * lacks — skipped when the pool has one of the same id, or one granting the same principal the
 * same role at the same scope (e.g. the pool's own administrator, named by the backup too) — then
 * settings not already at their value. Nothing the pool holds is removed.
 */
export function restoreCommandsFor(poolId: string, current: PoolAdministrationState, snapshot: PoolAdministrationState, isBuiltInRole: (roleDefinitionId: string) => boolean): PoolAdministrationCommand[] {
  const held = new Set([...current.assignments.values()].map((a) => `${a.principalId}|${a.roleDefinitionId}|${a.scope}`));
  const commands: PoolAdministrationCommand[] = [];
  for (const d of snapshot.definitions.values()) {
    const existing = current.definitions.get(d.roleDefinitionId);
    if (existing === undefined || !sameDefinition(canonicalDefinition(existing), canonicalDefinition(d))) commands.push({ type: 'SetRoleDefinition', data: { poolId, ...canonicalDefinition(d) } });
  }
  for (const a of snapshot.assignments.values()) {
    const triple = `${a.principalId}|${a.roleDefinitionId}|${a.scope}`;
    if (current.assignments.has(a.assignmentId) || held.has(triple)) continue;
    held.add(triple);
    commands.push({ type: 'CreateRoleAssignment', data: { poolId, assignmentId: a.assignmentId, principalId: a.principalId, roleDefinitionId: a.roleDefinitionId, scope: a.scope, builtInRole: isBuiltInRole(a.roleDefinitionId) } });
  }
  for (const [setting, value] of snapshot.settings.entries()) {
    if (current.settings.get(setting) !== value) commands.push({ type: 'UpdateSetting', data: { poolId, setting, value } });
  }
  return commands;
}

/** A definition with its fields in one order (the state may hold objects built in different orders). */
function canonicalDefinition(d: PoolRoleDefinition): PoolRoleDefinition {
  return {
    roleDefinitionId: d.roleDefinitionId,
    roleName: d.roleName,
    description: d.description,
    assignableScopes: [...d.assignableScopes],
    permissions: d.permissions.map((p) => ({ actions: [...p.actions], notActions: [...p.notActions], dataActions: [...p.dataActions], notDataActions: [...p.notDataActions] })),
  };
}
