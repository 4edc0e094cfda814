import { v, type EventRegistry, type PublishContext } from '#libs/kernel';
import {
  ManagedHsmRoleAssignmentCreatedV1,
  ManagedHsmRoleAssignmentDeletedV1,
  ManagedHsmRoleDefinitionDeletedV1,
  ManagedHsmRoleDefinitionSetV1,
  ManagedHsmSettingUpdatedV1,
} from '#libs/contracts';

/**
 * A Managed HSM pool's own administration — its local role assignments, custom role
 * definitions and settings — as Azure keeps them inside the HSM (not in Entra ID / ARM). One
 * stream per pool, `hsmadmin-{poolId}` (the pool's id, so a pool created again under a purged
 * pool's name starts with nothing). Scopes are the pool's local ones: `/`, `/keys`,
 * `/keys/{name}`. Published as `ManagedHsm…` contracts (libs/contracts, not lifecycle events).
 */
export type PoolPermission = {
  readonly actions: readonly string[];
  readonly notActions: readonly string[];
  readonly dataActions: readonly string[];
  readonly notDataActions: readonly string[];
};

export type PoolRoleAssignment = { readonly assignmentId: string; readonly principalId: string; readonly roleDefinitionId: string; readonly scope: string };
export type PoolRoleDefinition = {
  readonly roleDefinitionId: string;
  readonly roleName: string;
  readonly description: string;
  readonly assignableScopes: readonly string[];
  readonly permissions: readonly PoolPermission[];
};

export type PoolRoleAssignmentCreated = { readonly type: 'ManagedHsmRoleAssignmentCreated'; readonly data: { readonly poolId: string } & PoolRoleAssignment };
export type PoolRoleAssignmentDeleted = { readonly type: 'ManagedHsmRoleAssignmentDeleted'; readonly data: { readonly poolId: string; readonly assignmentId: string } };
export type PoolRoleDefinitionSet = { readonly type: 'ManagedHsmRoleDefinitionSet'; readonly data: { readonly poolId: string } & PoolRoleDefinition };
export type PoolRoleDefinitionDeleted = { readonly type: 'ManagedHsmRoleDefinitionDeleted'; readonly data: { readonly poolId: string; readonly roleDefinitionId: string } };
export type PoolSettingUpdated = { readonly type: 'ManagedHsmSettingUpdated'; readonly data: { readonly poolId: string; readonly setting: string; readonly settingType: 'boolean'; readonly settingValue: string } };

export type PoolAdministrationEvent = PoolRoleAssignmentCreated | PoolRoleAssignmentDeleted | PoolRoleDefinitionSet | PoolRoleDefinitionDeleted | PoolSettingUpdated;

export const poolAdministrationStreamId = (poolId: string): string => `hsmadmin-${poolId}`;

/** The pool an administration event is about, as the appending code names it (AppendOptions.object, collection null). */
function poolIdentity(ctx: PublishContext, type: string): { vault: string; collection: null; name: string; version: null } {
  const o = ctx.object;
  if (!o || o.collection !== null) throw new Error(`${type} appended without its pool identity (AppendOptions.object)`);
  return { vault: o.vault, collection: null, name: o.vault, version: null };
}

const strings = v.arrayOf(v.string);
const permissions = v.arrayOf((p) => {
  if (typeof p !== 'object' || p === null) return false;
  const o = p as Record<string, unknown>;
  return strings(o.actions) && strings(o.notActions) && strings(o.dataActions) && strings(o.notDataActions);
});

export function registerPoolAdministrationEvents(r: EventRegistry): EventRegistry {
  const publish = (type: string) => (d: Record<string, unknown>, ctx: PublishContext) => ({ ...poolIdentity(ctx, type), ...d });
  return r
    .define({
      type: 'ManagedHsmRoleAssignmentCreated',
      schemaVersion: 1,
      validate: v.object({ poolId: v.nonEmpty, assignmentId: v.nonEmpty, principalId: v.nonEmpty, roleDefinitionId: v.nonEmpty, scope: v.nonEmpty }),
      contract: ManagedHsmRoleAssignmentCreatedV1,
      publish: publish('ManagedHsmRoleAssignmentCreated'),
    })
    .define({
      type: 'ManagedHsmRoleAssignmentDeleted',
      schemaVersion: 1,
      validate: v.object({ poolId: v.nonEmpty, assignmentId: v.nonEmpty }),
      contract: ManagedHsmRoleAssignmentDeletedV1,
      publish: publish('ManagedHsmRoleAssignmentDeleted'),
    })
    .define({
      type: 'ManagedHsmRoleDefinitionSet',
      schemaVersion: 1,
      validate: v.object({ poolId: v.nonEmpty, roleDefinitionId: v.nonEmpty, roleName: v.nonEmpty, description: v.string, assignableScopes: strings, permissions }),
      contract: ManagedHsmRoleDefinitionSetV1,
      publish: publish('ManagedHsmRoleDefinitionSet'),
    })
    .define({
      type: 'ManagedHsmRoleDefinitionDeleted',
      schemaVersion: 1,
      validate: v.object({ poolId: v.nonEmpty, roleDefinitionId: v.nonEmpty }),
      contract: ManagedHsmRoleDefinitionDeletedV1,
      publish: publish('ManagedHsmRoleDefinitionDeleted'),
    })
    .define({
      type: 'ManagedHsmSettingUpdated',
      schemaVersion: 1,
      validate: v.object({ poolId: v.nonEmpty, setting: v.nonEmpty, settingType: (x) => x === 'boolean', settingValue: v.string }),
      contract: ManagedHsmSettingUpdatedV1,
      publish: publish('ManagedHsmSettingUpdated'),
    });
}
