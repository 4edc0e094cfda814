import { KeyledgerAuditDataActions, type Principal, type RbacEvaluator, type RbacReadModelConsumer, type TokenVerifier } from '#libs/auth';
import { DomainError } from '#libs/kernel';

export type AuditDataAction = (typeof KeyledgerAuditDataActions)[keyof typeof KeyledgerAuditDataActions];

/** An HTTP failure with Azure's error envelope; `challenge` adds the 401 WWW-Authenticate header. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly challenge = false,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export type AuthorizedCaller = {
  readonly principal: Principal;
  readonly assignmentId?: string;
  /** The deployment's operator tenant may look at other tenants' chains. */
  readonly operator: boolean;
};

/** The resource audit data actions are checked on: the deployment root (assignments at "/"). */
export const AUDIT_RBAC_RESOURCE = '/';

/**
 * Token verification (audience https://audit.<domain>) and RBAC with Keyledger's audit data
 * actions, against the read model fed by identity events. Deny by default.
 */
export class AuditAuthorizer {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly evaluator: RbacEvaluator,
    private readonly rbac: RbacReadModelConsumer,
  ) {}

  /** Tenants and role assignments come from identity events: false until the replay at start is done (waits up to 5 s). */
  ready(): Promise<boolean> {
    return this.rbac.ready(5_000);
  }

  /** The 401 of a request without a bearer token (with the challenge). */
  credentialMissing(): HttpError {
    return new HttpError(401, 'Unauthorized', 'a bearer token for the audit API is required', true);
  }

  async authenticate(authorization: string | undefined): Promise<Principal> {
    try {
      return await this.verifier.verifyAuthorizationHeader(authorization);
    } catch (err) {
      if (err instanceof DomainError && err.code === 'JwksUnavailable') throw new HttpError(503, 'ServiceUnavailable', 'token signing keys are unavailable; try again');
      const code = err instanceof DomainError ? err.code : 'TokenInvalid';
      throw new HttpError(401, 'Unauthorized', code === 'TokenMissing' ? 'a bearer token for the audit API is required' : `the access token was rejected (${code})`, true);
    }
  }

  /** RBAC with the audit data actions (the gate asks; deny by default). */
  check(principalId: string, dataAction: string, resource: string): { allowed: boolean; assignmentId?: string } {
    const decision = this.evaluator.checkDataAction({ principalId, dataAction, resource });
    return { allowed: decision.allowed, ...(decision.assignmentId ? { assignmentId: decision.assignmentId } : {}) };
  }

  /** The caller the gate admitted: the deployment's operator tenant may look at other tenants' chains. */
  callerOf(principal: Principal, assignmentId: string | undefined): AuthorizedCaller {
    const operator = this.rbac.defaultTenant !== undefined && principal.tenantId === this.rbac.defaultTenant;
    return { principal, operator, ...(assignmentId ? { assignmentId } : {}) };
  }

  /**
   * The chain(s) a caller may read: its own tenant; the operator tenant's callers may name
   * another tenant (or `*`, all of them, where `allowAll`).
   */
  tenantScope(caller: AuthorizedCaller, requested: string | undefined, allowAll: boolean): string {
    const own = caller.principal.tenantId;
    if (!requested || requested.toLowerCase() === own) return own;
    if (!caller.operator) throw new HttpError(403, 'Forbidden', 'only principals of the deployment operator tenant may read other tenants\' audit records');
    if (requested === '*') {
      if (!allowAll) throw new HttpError(400, 'BadParameter', 'name one tenant');
      return '*';
    }
    return requested;
  }
}
