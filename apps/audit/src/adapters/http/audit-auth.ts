import type { FastifyRequest } from 'fastify';
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

  async authenticate(req: FastifyRequest): Promise<Principal> {
    // Tenants and role assignments come from identity events: wait for the replay at start.
    if (!(await this.rbac.ready(5_000))) throw new HttpError(503, 'ServiceUnavailable', 'identity data is still loading; try again');
    try {
      return await this.verifier.verifyAuthorizationHeader(req.headers.authorization);
    } catch (err) {
      if (err instanceof DomainError && err.code === 'JwksUnavailable') throw new HttpError(503, 'ServiceUnavailable', 'token signing keys are unavailable; try again');
      const code = err instanceof DomainError ? err.code : 'TokenInvalid';
      throw new HttpError(401, 'Unauthorized', code === 'TokenMissing' ? 'a bearer token for the audit API is required' : `the access token was rejected (${code})`, true);
    }
  }

  async authorize(principal: Principal, dataAction: AuditDataAction): Promise<AuthorizedCaller> {
    if (!(await this.rbac.ready(5_000))) throw new HttpError(503, 'ServiceUnavailable', 'role assignments are still loading; try again');
    const decision = this.evaluator.checkDataAction({ principalId: principal.objectId, dataAction, resource: AUDIT_RBAC_RESOURCE });
    if (!decision.allowed) {
      throw new HttpError(
        403,
        'Forbidden',
        `Caller is not authorized to perform action on resource. Caller: oid=${principal.objectId}; Action: '${dataAction}'; Resource: '${AUDIT_RBAC_RESOURCE}'; Decision: '${decision.reason}'. Assign the "Keyledger Auditor" role at scope "/".`,
      );
    }
    const operator = this.rbac.defaultTenant !== undefined && principal.tenantId === this.rbac.defaultTenant;
    return { principal, operator, ...(decision.assignmentId ? { assignmentId: decision.assignmentId } : {}) };
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
