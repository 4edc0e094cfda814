import {
  compileRoleAssignment,
  compileRoleDefinition,
  type CompiledRoleAssignment,
  type CompiledRoleDefinition,
  type RbacPolicySource,
} from '#libs/auth';
import type { PoolAdministrationState } from '../../domain/pool-administration/pool-administration.decider.js';

/** The deployment-wide RBAC scope of a pool-local one: `/` → `/managedHSMs/{pool}`, `/keys/k` → `/managedHSMs/{pool}/keys/k`. */
export const poolScopeToGlobal = (poolNameKey: string, localScope: string): string => `/managedHSMs/${poolNameKey}${localScope === '/' ? '' : localScope}`;

/** A pool's custom role as the evaluator looks it up: its GUID within its pool (pools are independent; a restore copies ids). */
const poolRoleKey = (poolId: string, roleDefinitionId: string): string => `${poolId}/${roleDefinitionId}`;

type PoolEntry = {
  readonly poolId: string;
  readonly nameKey: string;
  readonly version: number;
  readonly assignments: readonly CompiledRoleAssignment[];
  readonly definitions: ReadonlyMap<string, CompiledRoleDefinition>;
};

/**
 * Every pool's local role assignments and custom role definitions, compiled for the RBAC
 * evaluator (the same one identity's assignments go through): an assignment at pool scope
 * `/keys` is one at `/managedHSMs/{pool}/keys`. A pool's entry is replaced whole from its folded
 * stream (on this instance at once after an append, on the others by the refresher).
 */
export class PoolLocalRbac implements RbacPolicySource {
  private readonly pools = new Map<string, PoolEntry>();
  private byPrincipal = new Map<string, CompiledRoleAssignment[]>();

  versionOf(poolId: string): number {
    return this.pools.get(poolId)?.version ?? 0;
  }

  poolIds(): string[] {
    return [...this.pools.keys()];
  }

  /** Installs a pool's state at `version`, unless a newer one is already held. */
  replace(poolId: string, nameKey: string, version: number, state: PoolAdministrationState): void {
    const held = this.pools.get(poolId);
    if (held && held.version >= version && held.nameKey === nameKey) return;
    const definitions = new Map<string, CompiledRoleDefinition>();
    for (const d of state.definitions.values()) {
      definitions.set(
        poolRoleKey(poolId, d.roleDefinitionId),
        compileRoleDefinition({
          id: poolRoleKey(poolId, d.roleDefinitionId),
          roleName: d.roleName,
          description: d.description,
          roleType: 'CustomRole',
          assignableScopes: d.assignableScopes.map((s) => poolScopeToGlobal(nameKey, s)),
          permissions: d.permissions,
        }),
      );
    }
    // An assignment of one of the pool's custom roles names it by its key within the pool; a built-in by its GUID.
    const assignments = [...state.assignments.values()].map((a) => {
      const compiled = compileRoleAssignment({ id: a.assignmentId, principalId: a.principalId, roleDefinitionId: a.roleDefinitionId, scope: poolScopeToGlobal(nameKey, a.scope) });
      return state.definitions.has(a.roleDefinitionId) ? Object.freeze({ ...compiled, roleDefinitionKey: poolRoleKey(poolId, a.roleDefinitionId) }) : compiled;
    });
    this.pools.set(poolId, { poolId, nameKey, version, assignments, definitions });
    this.reindex();
  }

  remove(poolId: string): void {
    if (this.pools.delete(poolId)) this.reindex();
  }

  assignmentsOf(principalKey: string): readonly CompiledRoleAssignment[] {
    return this.byPrincipal.get(principalKey) ?? [];
  }

  /** `roleDefinitionKey`: `{poolId}/{guid}`, as the pool's assignments name their pool's custom roles. */
  roleDefinition(roleDefinitionKey: string): CompiledRoleDefinition | undefined {
    const poolId = roleDefinitionKey.slice(0, roleDefinitionKey.indexOf('/'));
    return this.pools.get(poolId)?.definitions.get(roleDefinitionKey);
  }

  private reindex(): void {
    const next = new Map<string, CompiledRoleAssignment[]>();
    for (const p of this.pools.values()) {
      for (const a of p.assignments) {
        const list = next.get(a.principalKey);
        if (list) list.push(a);
        else next.set(a.principalKey, [a]);
      }
    }
    this.byPrincipal = next;
  }
}
