import {
  BuiltInRoleIds,
  InMemoryRoleAssignmentReadModel,
  isRbacEventType,
  RbacEvaluator,
  type ApplyOutcome,
  type RbacChange,
  type RbacDecision,
  type RbacPolicySource,
  type RoleAssignment,
} from '#libs/auth';
import { PoolLocalRbac } from './pool-local-rbac.js';

/**
 * The vault's local view of identity: known tenants (for token checks and the challenge) and
 * role assignments (for RBAC), fed by identity's events in topic order — plus every Managed HSM
 * pool's local role assignments and custom roles (`pools`, kept by the vault itself). One
 * evaluator judges both: a request is allowed when an assignment of either kind grants it.
 * Deny by default: until an assignment arrives, nothing is granted.
 */
export class AccessControl {
  private readonly model = new InMemoryRoleAssignmentReadModel();
  /** Pool-local RBAC (Managed HSM local role assignments and custom roles), applied at once on append. */
  readonly pools = new PoolLocalRbac();
  private readonly policy: RbacPolicySource = {
    assignmentsOf: (principalKey) => {
      const fromIdentity = this.model.assignmentsOf(principalKey);
      const local = this.pools.assignmentsOf(principalKey);
      return local.length === 0 ? fromIdentity : fromIdentity.length === 0 ? local : [...fromIdentity, ...local];
    },
    roleDefinition: (roleDefinitionKey) => this.model.roleDefinition(roleDefinitionKey) ?? this.pools.roleDefinition(roleDefinitionKey),
  };
  private readonly evaluator = new RbacEvaluator(this.policy);
  private readonly tenants = new Set<string>();
  private defaultTenantId: string | undefined;

  constructor(private readonly configuredTenant: string = '') {
    if (configuredTenant) this.tenants.add(configuredTenant.toLowerCase());
  }

  /** Applies one identity event; `position` orders events of one entity (the Kafka offset). Returns what happened. */
  apply(type: string, data: unknown, position: string, eventId?: string): ApplyOutcome | 'tenant' | 'ignored' {
    if (type === 'TenantCreated') {
      const d = data as { tenantId?: unknown; isDefault?: unknown };
      if (typeof d.tenantId === 'string') {
        this.tenants.add(d.tenantId.toLowerCase());
        if (d.isDefault === true || this.defaultTenantId === undefined) this.defaultTenantId = d.tenantId.toLowerCase();
      }
      return 'tenant';
    }
    if (!isRbacEventType(type)) return 'ignored';
    return this.model.apply({ type, data, position, ...(eventId ? { eventId } : {}) } as RbacChange);
  }

  /** The tenant named in 401 challenges: configured, else identity's default tenant. */
  challengeTenant(): string | undefined {
    return this.configuredTenant || this.defaultTenantId;
  }

  isKnownTenant(tenantId: string): boolean {
    return this.tenants.has(tenantId.toLowerCase());
  }

  check(principalId: string, dataAction: string, resource: string): RbacDecision {
    return this.evaluator.checkDataAction({ principalId, dataAction, resource });
  }

  /** Identity's live role assignments (a pool lists those that reach it beside its own). */
  identityAssignments(): RoleAssignment[] {
    return this.model.listAssignments();
  }

  /** Vault administration (the /admin API) needs Key Vault Administrator at scope "/". */
  administratorAssignment(principalId: string): string | undefined {
    const held = this.model.assignmentsOf(principalId.toLowerCase());
    return held.find((a) => a.scopeKey === '/' && a.roleDefinitionKey === BuiltInRoleIds.keyVaultAdministrator)?.id;
  }
}
