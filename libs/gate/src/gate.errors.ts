import { DomainError } from '#libs/kernel';

/**
 * The gate's own refusals, by stable code. Each transport maps them once, in its own table
 * (Azure REST: `apps/vault/src/adapters/http/azure-errors.ts`; gRPC: the status of that
 * answer), so the gate never knows about HTTP statuses or gRPC codes.
 */
export const GateErrorCode = {
  /** No container (vault, pool) is served at the request's address, or it does not exist. */
  ContainerNotFound: 'VaultNotFound',
  /** The service has not caught up with what it needs to authorise (identity events). */
  NotReady: 'ServiceStarting',
  /** The operation does not exist on this container (secrets on a Managed HSM pool): answered as an unknown path. */
  OperationNotFound: 'OperationNotFound',
  /** The caller holds no role assignment that grants the operation's action on the resource. */
  Forbidden: 'ForbiddenByRbac',
  /** The input holds what storage cannot hold (U+0000, an unpaired surrogate) or is nested absurdly deep. */
  InputRejected: 'BadParameter',
  /** The container's or the caller's request budget for this class of operation is spent (details.retryAfterSeconds). */
  Throttled: 'Throttled',
  /** The process carries as much work as it may (load shedding): refused quickly instead of queued (details.retryAfterSeconds). */
  Overloaded: 'ServerBusy',
  /** The audit record could not be made durable: no result leaves. */
  AuditUnavailable: 'AuditUnavailable',
} as const;
export type GateErrorCode = (typeof GateErrorCode)[keyof typeof GateErrorCode];

export class GateError extends DomainError {
  constructor(code: GateErrorCode, message: string, details: Readonly<Record<string, string | number | boolean>> = {}) {
    super(code, message, details);
    this.name = 'GateError';
  }
}
