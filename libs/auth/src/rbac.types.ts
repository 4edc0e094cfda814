/**
 * Azure RBAC shapes, as Azure's role-definition JSON has them (`properties.permissions[]` with
 * `actions`, `notActions`, `dataActions`, `notDataActions`).
 */

/** `BuiltInRole` (Azure RBAC), `AKVBuiltInRole` (Managed HSM local RBAC), `CustomRole`. */
export type RoleType = 'BuiltInRole' | 'AKVBuiltInRole' | 'CustomRole';

export type RolePermission = {
  /** Control-plane actions (kept for fidelity and for the admin API; the data plane ignores them). */
  readonly actions: readonly string[];
  readonly notActions: readonly string[];
  readonly dataActions: readonly string[];
  /** Subtracted from this permission's `dataActions` only; not a deny (another role may still grant). */
  readonly notDataActions: readonly string[];
  /** ABAC condition (Azure syntax). A permission with a condition grants nothing unless the caller evaluates it. */
  readonly condition?: string;
  readonly conditionVersion?: string;
};

export type RoleDefinition = {
  /** The role definition GUID, lower case. */
  readonly id: string;
  readonly roleName: string;
  readonly description: string;
  readonly roleType: RoleType;
  readonly assignableScopes: readonly string[];
  readonly permissions: readonly RolePermission[];
};

export type RoleAssignment = {
  /** The role assignment id (a GUID); reported as `appliedAssignmentId` in audit records. */
  readonly id: string;
  /** Object id (`oid`) of the user, service principal or managed identity. */
  readonly principalId: string;
  /** GUID, or an Azure-style id ending in `/roleDefinitions/{guid}`. */
  readonly roleDefinitionId: string;
  /** `/`, `/vaults/{v}`, `/vaults/{v}/secrets`, `/vaults/{v}/secrets/{name}`, `/managedHSMs/{pool}/keys/{name}`, … */
  readonly scope: string;
};
