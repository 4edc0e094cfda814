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
        d.roleDefinitionId,
        compileRoleDefinition({
          id: d.roleDefinitionId,
          roleName: d.roleName,
          description: d.description,
          roleType: 'CustomRole',
          assignableScopes: d.assignableScopes.map((s) => poolScopeToGlobal(nameKey, s)),
          permissions: d.permissions,
        }),
      );
    }
    const assignments = [...state.assignments.values()].map((a) =>
      compileRoleAssignment({ id: a.assignmentId, principalId: a.principalId, roleDefinitionId: a.roleDefinitionId, scope: poolScopeToGlobal(nameKey, a.scope) }),
    );
    this.pools.set(poolId, { poolId, nameKey, version, assignments, definitions });
    this.reindex();
  }

  remove(poolId: string): void {
    if (this.pools.delete(poolId)) this.reindex();
  }

  /** The pool whose custom role definition has this id, if any (ids are unique across pools). */
  definitionOwner(roleDefinitionId: string): string | undefined {
    for (const p of this.pools.values()) if (p.definitions.has(roleDefinitionId)) return p.poolId;
    return undefined;
  }

  assignmentsOf(principalKey: string): readonly CompiledRoleAssignment[] {
    return this.byPrincipal.get(principalKey) ?? [];
  }

  roleDefinition(roleDefinitionKey: string): CompiledRoleDefinition | undefined {
    for (const p of this.pools.values()) {
      const d = p.definitions.get(roleDefinitionKey);
      if (d) return d;
    }
    return undefined;
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
