import type { Logger } from 'pino';
import type { AuditSink } from '#libs/eventstore';
import { AuditedOperationGate, throttleClassOf, type LoadShedder, type RequestThrottle } from '#libs/gate';
import { managedHsmDataActionFor, type Principal } from '#libs/auth';
import { scopeOf, type VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import type { VaultsService } from '../vaults/vaults.service.js';
import type { AccessControl } from './access-control.js';

/** The vault's side of the gate: how it resolves vaults, checks tokens and roles, and records. */
export type VaultGateDeps = {
  readonly vaults: VaultsService;
  /** Managed HSM pools, resolved for requests to `{pool}.managedhsm.<domain>`. */
  readonly pools?: VaultsService;
  readonly access: AccessControl;
  readonly auditWriter: AuditSink;
  readonly identityEvents: { readonly ready: boolean };
  /** Pools' local RBAC, loaded once before the gate admits requests. */
  readonly poolAdministration?: { readonly ready: boolean };
};

const MANAGED_HSM_ACTION = 'Microsoft.KeyVault/managedHsm/';

/** How the vault verifies a bearer credential: the REST and gRPC transports share it. */
export type BearerAuthenticator = {
  /** `origin`: where the request reached the vault (its 401 challenge names the resource with that port). */
  authenticate(authorization: string, origin?: string): Promise<Principal>;
  unauthorized(code: string, origin?: string): Error;
};

/** The one audited-operation gate of the vault service, used by its REST and gRPC transports. */
export function vaultGate(c: VaultGateDeps, auth: BearerAuthenticator, logger: Logger, throttle?: RequestThrottle, shedder?: LoadShedder): AuditedOperationGate<VaultRecord> {
  return new AuditedOperationGate<VaultRecord>({
    // A bound on the requests working at once: beyond it, 503 with Retry-After at once.
    ...(shedder ? { shedder } : {}),
    // Azure's service limits per vault (and per caller): 429 Throttled with Retry-After.
    ...(throttle ? { throttle: (scope: string, principalId: string, op: Parameters<typeof throttleClassOf>[0]) => throttle.take(scope, principalId, throttleClassOf(op)) } : {}),
    source: 'vault',
    resolve: (name, kind) => (kind === 'managedHsm' ? (c.pools?.resolve(name) ?? Promise.resolve(undefined)) : c.vaults.resolve(name)),
    // A pool holds keys only: its secrets and certificates paths answer as unknown paths.
    describe: (v) => ({ name: v.name, tenantId: v.tenantId, scope: scopeOf(v), ...(v.kind === 'managedHsm' ? { collections: ['keys'] as const } : {}) }),
    // Operations declare their Key Vault action once; a pool needs the Managed HSM one (one table, libs/auth).
    // A pool's own administration (Managed HSM actions) does not exist on a vault's host.
    actionFor: (op, v) => (v.kind === 'managedHsm' ? (op.action ? managedHsmDataActionFor(op.name, op.action) : op.action) : op.action?.startsWith(MANAGED_HSM_ACTION) ? undefined : op.action),
    ready: () => c.identityEvents.ready && (c.poolAdministration?.ready ?? true),
    authenticate: (authorization, req) => auth.authenticate(authorization, req.origin || undefined),
    credentialMissing: (req) => auth.unauthorized('TokenMissing', req.origin || undefined),
    check: (principalId, action, resource) => c.access.check(principalId, action, resource),
    administratorAssignment: (principalId) => c.access.administratorAssignment(principalId),
    fallbackTenant: () => c.access.challengeTenant() ?? '',
    audit: c.auditWriter,
    onAuditFailure: (err, operation) => logger.error({ err: err instanceof Error ? err.message : String(err), operation }, 'audit record not durable: failing closed'),
  });
}
