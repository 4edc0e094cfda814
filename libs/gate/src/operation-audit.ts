import { newAuditRecord, type AuditIdentity, type AuditProperties, type AuditRecord } from '#libs/contracts';

/** Where a request came from, as its transport saw it (for the record; nothing else is read). */
export type RequestFacts = {
  /** The request id (x-ms-request-id, or one made for a gRPC call): also the record id. */
  readonly requestId: string;
  readonly correlationId: string;
  readonly callerIp: string;
  /** HTTP method, or `GRPC`. */
  readonly method: string;
  /** The request URI as received, or `grpc:/package.Service/Method`. */
  readonly requestUri: string;
  readonly userAgent: string;
};

/**
 * The one audit record of one request, filled in as the gate admits it (operation, caller,
 * RBAC decision, object) and completed with its outcome.
 *
 * Exactly one record per request, and the gate is where that is decided: a mutation commits
 * the record inside its own append transaction (`forCommit`, then `committed`); for every
 * other request — reads, denials, validation failures, errors — `AuditedOperationGate.finish`
 * writes it before the answer leaves, or the answer becomes "audit unavailable" (fail closed).
 */
export class OperationAudit {
  operationName = 'Unknown';
  operationVersion = '';
  identity: AuditIdentity = {};
  tenant: string | undefined;
  /** The container's name (a vault or pool), lower-cased. */
  vault: string | undefined;
  /** The container's resource path (`/vaults/dev`, `/managedHSMs/pool1`); default `/vaults/{vault}`. */
  containerPath: string | undefined;
  collection: string | undefined;
  objectName: string | undefined;
  objectVersion: string | undefined;
  /** The object's URL id as the client sees it. */
  objectId: string | undefined;
  /** The algorithm of a cryptographic operation (never its input or output). */
  algorithm: string | undefined;
  appliedAssignmentId: string | undefined;
  /** The request was decided by RBAC (allowed or refused), as Azure's records say; unset when no role was consulted. */
  isRbacAuthorized: boolean | undefined;
  errorCode: string | undefined;
  /** The TLS protocol of the connection, where the transport knows it. */
  tlsVersion: string | undefined;
  /** Non-sensitive facts of the outcome (counts, a verdict), string values only. */
  extra: Record<string, string> | undefined;
  private done = false;

  constructor(
    readonly source: string,
    private readonly facts: RequestFacts,
    readonly startedAt: number,
    private readonly fallbackTenant: () => string,
  ) {}

  get requestId(): string {
    return this.facts.requestId;
  }

  get correlationId(): string {
    return this.facts.correlationId;
  }

  get requestUri(): string {
    return this.facts.requestUri;
  }

  get callerIp(): string {
    return this.facts.callerIp;
  }

  /** Whether the record is already durable (committed with a mutation). */
  get written(): boolean {
    return this.done;
  }

  /** The record for a mutation that is about to commit with `status`. */
  forCommit(status: number): AuditRecord {
    return this.build(status, performance.now());
  }

  /** The record is durable (the mutation's transaction committed, or the gate wrote it): no second one. */
  committed(): void {
    this.done = true;
  }

  build(status: number, now: number = performance.now()): AuditRecord {
    const tenant = this.tenant ?? this.identity.tid ?? this.fallbackTenant();
    const f = this.facts;
    return newAuditRecord({
      id: f.requestId,
      tenant: tenant || 'unknown',
      source: this.source,
      resourceId: this.containerPath ?? (this.vault ? `/vaults/${this.vault}` : '/'),
      operationName: this.operationName,
      operationVersion: this.operationVersion,
      resultType: status < 400 ? 'Success' : 'Failure',
      resultSignature: String(status),
      ...(this.errorCode ? { resultDescription: this.errorCode } : {}),
      durationMs: Math.max(0, Math.round(now - this.startedAt)),
      callerIpAddress: f.callerIp,
      correlationId: f.correlationId,
      identity: this.identity,
      properties: this.properties(),
    });
  }

  /** The record's properties, by assignment in their fixed order (one object, not one per optional field). */
  private properties(): AuditProperties {
    const f = this.facts;
    const p: { -readonly [K in keyof AuditProperties]: AuditProperties[K] } = { requestUri: f.requestUri, httpMethod: f.method };
    if (this.objectId) p.id = this.objectId;
    if (this.isRbacAuthorized !== undefined) p.isRbacAuthorized = this.isRbacAuthorized;
    if (this.appliedAssignmentId) p.appliedAssignmentId = this.appliedAssignmentId;
    if (f.userAgent) p.clientInfo = f.userAgent.slice(0, 256);
    if (this.errorCode) p.errorCode = this.errorCode;
    if (this.vault) p.vault = this.vault;
    if (this.collection) p.collection = this.collection;
    if (this.objectName) p.objectName = this.objectName;
    if (this.objectVersion) p.objectVersion = this.objectVersion;
    if (this.algorithm) p.algorithm = this.algorithm;
    if (this.tlsVersion) p.tlsVersion = this.tlsVersion;
    if (this.extra) p.extra = this.extra;
    return p;
  }
}
