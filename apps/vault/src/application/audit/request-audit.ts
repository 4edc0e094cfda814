import { newAuditRecord, type AuditIdentity, type AuditRecord } from '#libs/contracts';

/**
 * The one audit record of one request, filled in as the request goes through the pipeline
 * (operation, caller, RBAC decision, object, outcome).
 *
 * Exactly one record per request: a mutation commits it inside its own append transaction
 * (`forCommit` + `committed`); every other request — reads, denials, validation failures,
 * errors — has it written by the HTTP pipeline before the answer leaves (fail closed).
 */
export class RequestAudit {
  operationName = 'Unknown';
  operationVersion = '';
  identity: AuditIdentity = {};
  tenant: string | undefined;
  vault: string | undefined;
  collection: string | undefined;
  objectName: string | undefined;
  objectVersion: string | undefined;
  /** The object's URL id as the client sees it. */
  objectId: string | undefined;
  /** The algorithm of a key operation (RS256, RSA-OAEP-256…): a name, never an input. */
  algorithm: string | undefined;
  appliedAssignmentId: string | undefined;
  isRbacAuthorized: boolean | undefined;
  errorCode: string | undefined;
  private done = false;

  constructor(
    /** x-ms-request-id: also the record id, so a client can find the record of its request. */
    readonly requestId: string,
    readonly correlationId: string,
    readonly startedAt: number,
    readonly callerIp: string,
    readonly httpMethod: string,
    readonly requestUri: string,
    readonly clientInfo: string,
    private readonly fallbackTenant: () => string,
  ) {}

  /** Whether the record is already durable (committed with a mutation). */
  get written(): boolean {
    return this.done;
  }

  /** The record for a mutation that is about to commit with `status`. */
  forCommit(status: number): AuditRecord {
    return this.build(status, performance.now());
  }

  /** The mutation's transaction committed: the pipeline must not write another record. */
  committed(): void {
    this.done = true;
  }

  build(status: number, now: number = performance.now()): AuditRecord {
    const tenant = this.tenant ?? this.identity.tid ?? this.fallbackTenant();
    return newAuditRecord({
      id: this.requestId,
      tenant: tenant || 'unknown',
      source: 'vault',
      resourceId: this.vault ? `/vaults/${this.vault}` : '/',
      operationName: this.operationName,
      operationVersion: this.operationVersion,
      resultType: status < 400 ? 'Success' : 'Failure',
      resultSignature: String(status),
      ...(this.errorCode ? { resultDescription: this.errorCode } : {}),
      durationMs: Math.max(0, Math.round(now - this.startedAt)),
      callerIpAddress: this.callerIp,
      correlationId: this.correlationId,
      identity: this.identity,
      properties: {
        requestUri: this.requestUri,
        httpMethod: this.httpMethod,
        ...(this.objectId ? { id: this.objectId } : {}),
        ...(this.algorithm ? { algorithm: this.algorithm } : {}),
        ...(this.isRbacAuthorized !== undefined ? { isRbacAuthorized: this.isRbacAuthorized } : {}),
        ...(this.appliedAssignmentId ? { appliedAssignmentId: this.appliedAssignmentId } : {}),
        ...(this.clientInfo ? { clientInfo: this.clientInfo.slice(0, 256) } : {}),
        ...(this.errorCode ? { errorCode: this.errorCode } : {}),
        ...(this.vault ? { vault: this.vault } : {}),
        ...(this.collection ? { collection: this.collection } : {}),
        ...(this.objectName ? { objectName: this.objectName } : {}),
        ...(this.objectVersion ? { objectVersion: this.objectVersion } : {}),
      },
    });
  }
}
