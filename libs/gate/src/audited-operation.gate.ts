import type { Principal } from '#libs/auth';
import type { AuditIdentity } from '#libs/contracts';
import type { AuditSink } from '#libs/eventstore';
import { isDraining } from '#libs/kernel';
import { GateError, GateErrorCode } from './gate.errors.js';
import { assertStorable } from './input-hygiene.js';
import type { LoadShedder, SlotRelease } from './load-shedder.js';
import { OperationAudit, type RequestFacts } from './operation-audit.js';
import type { Collection, OperationDeclaration } from './operation.js';

/** What the gate needs to know about a container (vault or pool). */
export type ContainerFacts = {
  /** The name as stored (the record and messages use it). */
  readonly name: string;
  readonly tenantId: string;
  /** The RBAC scope of the container, e.g. `/vaults/dev`, `/managedHSMs/pool1` (names lower-cased). */
  readonly scope: string;
  /**
   * The collections the container serves; absent: all. A request for another one (secrets on a
   * Managed HSM pool) is answered as a path that does not exist, after authentication, as the
   * fallback route answers one (`OperationNotFound`).
   */
  readonly collections?: readonly Collection[];
};

export type RbacDecision = { readonly allowed: boolean; readonly assignmentId?: string };

/** The gate's view of the world, supplied once by the service that runs it. */
export type GatePorts<C> = {
  /** The service named in the audit records (`vault`). */
  readonly source: string;
  /** `kind`: the container kind the request's address names (`vault`, `managedHsm`), if the transport tells one. */
  readonly resolve: (name: string, kind: string | undefined) => Promise<C | undefined>;
  readonly describe: (container: C) => ContainerFacts;
  /**
   * The RBAC data action an operation needs on `container`: the declared one unless the
   * container's kind has its own (a Managed HSM pool: `Microsoft.KeyVault/managedHsm/...`).
   * Absent: as declared. Undefined from it: the operation does not exist on that container.
   */
  readonly actionFor?: (op: OperationDeclaration, container: C) => string | undefined;
  /** False while the service cannot authorise yet (it has not caught up with identity). */
  readonly ready: () => boolean | Promise<boolean>;
  /**
   * Request budgets (Azure's service limits): the seconds to wait when the container's or the
   * caller's budget for the operation's class is spent, else undefined. Absent: no throttling.
   */
  readonly throttle?: (containerScope: string, principalId: string, op: OperationDeclaration) => number | undefined;
  /**
   * Load shedding (a bound on the requests working at once in this process): a request that
   * gets no slot is refused quickly (`Overloaded`, retry after a second). Absent: no bound.
   */
  readonly shedder?: LoadShedder;
  /** True once the service shuts down (default: the process's state, `isDraining` of the kernel). */
  readonly draining?: () => boolean;
  /** Verifies the bearer credential; throws (the transport maps it, e.g. to a 401 whose challenge names the request's origin). */
  readonly authenticate: (authorization: string, req: GateRequest) => Promise<Principal>;
  /** Refusal when no credential was presented at all (thrown before anything else is judged). */
  readonly credentialMissing: (req: GateRequest) => Error;
  readonly check: (principalId: string, dataAction: string, resource: string) => RbacDecision;
  /** The assignment that lets the principal carry out an admin operation, if any (undefined: refused). */
  readonly administratorAssignment: (principalId: string, op: OperationDeclaration) => string | undefined | Promise<string | undefined>;
  /** The tenant a record is chained in when nothing else names one. */
  readonly fallbackTenant: () => string;
  readonly audit: AuditSink;
  /** Told when a record could not be made durable (the request then fails closed). */
  readonly onAuditFailure: (err: unknown, operation: string) => void;
};

/** One request as its transport presents it to the gate. */
export type GateRequest = {
  readonly op: OperationDeclaration;
  /** The container the request addresses (data operations): from the host name or a request field. */
  readonly containerName: string | undefined;
  /** The kind of container the address names (`vault`, `managedHsm`); undefined: the service's default. */
  readonly containerKind?: string | undefined;
  /** The client-visible origin, for object ids (`https://dev.vault.localhost:8443`). */
  readonly origin: string;
  /** The Authorization header / metadata value, undefined when none was sent. */
  readonly authorization: string | undefined;
  readonly objectName?: string | undefined;
  readonly objectVersion?: string | undefined;
  /** What the request carries beside its body (path parameters, query): refused if storage cannot hold it. */
  readonly inputs?: unknown;
  /**
   * The transport's protocol version (REST `api-version`, checked there; gRPC a constant): judged
   * after the credential's presence, so a request without one gets the challenge first, as Azure does.
   */
  readonly operationVersion: () => string;
};

/** A request the gate let through: who, on what, and its record under construction. */
export type Admission<C> = {
  readonly op: OperationDeclaration;
  readonly audit: OperationAudit;
  readonly container: C | undefined;
  readonly principal: Principal;
  readonly origin: string;
  readonly operationVersion: string;
};

export type GateOutcome<R> =
  | { readonly kind: 'ok'; readonly value: R; readonly admission: Admission<unknown> }
  | { readonly kind: 'failed'; readonly error: unknown }
  /** The record could not be made durable: no result may leave (fail closed). */
  | { readonly kind: 'audit-unavailable'; readonly error: GateError };

/** A verified caller as the audit record names it. */
export function identityOf(principal: Principal): AuditIdentity {
  return { oid: principal.objectId, tid: principal.tenantId, ...(principal.appId ? { appid: principal.appId } : {}), ...(principal.upn ? { upn: principal.upn } : {}), idtyp: principal.idType };
}

/**
 * The one audited-operation gate: every request of the data plane and of the administration
 * API, whatever its transport, goes
 *
 *   resolve the container → credential present? → protocol version → authenticate →
 *   validate the object → authorise (RBAC data action, deny by default) → execute →
 *   exactly one durable audit record, else "audit unavailable" (503) and no result.
 *
 * Transports (the vault's REST pipeline, its gRPC server) only translate: they build a
 * `GateRequest`, map thrown errors to their wire (one table per transport) and, for HTTP,
 * split `admit` (before the body is read) from `finish` (before the answer leaves).
 *
 * A mutation commits its record inside its own append transaction (`audit.forCommit`, then
 * `audit.committed()`); `finish` then writes nothing more. Every other request gets its record
 * written by `finish`.
 */
export class AuditedOperationGate<C> {
  /** The load-shedding slots of admitted requests, released when their record is written (or by the transport when the exchange ends). */
  private readonly slots = new WeakMap<OperationAudit, SlotRelease>();

  constructor(private readonly ports: GatePorts<C>) {}

  /** Frees the request's load-shedding slot, if it holds one (idempotent; `finish` does it too). */
  release(audit: OperationAudit): void {
    const release = this.slots.get(audit);
    if (!release) return;
    this.slots.delete(audit);
    release();
  }

  /** The record of a request, opened as soon as the transport has the request's facts. */
  open(op: OperationDeclaration, facts: RequestFacts, startedAt: number = performance.now()): OperationAudit {
    const audit = new OperationAudit(this.ports.source, facts, startedAt, this.ports.fallbackTenant);
    audit.operationName = op.name;
    if (op.collection) audit.collection = op.collection;
    return audit;
  }

  /** Admits the request or throws the refusal (recorded on `audit` by the transport's error mapping and `finish`). */
  async admit(audit: OperationAudit, req: GateRequest): Promise<Admission<C>> {
    const { op } = req;
    let container: C | undefined;
    let facts: ContainerFacts | undefined;
    if (op.kind === 'data' || op.kind === 'fallback') {
      if (req.containerName === undefined || req.containerName === '') throw new GateError(GateErrorCode.ContainerNotFound, 'No vault is served at this address.');
      audit.vault = req.containerName.toLowerCase();
      container = await this.ports.resolve(req.containerName, req.containerKind);
      if (container === undefined) throw new GateError(GateErrorCode.ContainerNotFound, `The vault '${req.containerName}' was not found.`, { name: req.containerName });
      facts = this.ports.describe(container);
      audit.containerPath = facts.scope;
      audit.tenant = facts.tenantId;
    }
    if ((this.ports.draining ?? isDraining)()) {
      await this.describeRefusedCaller(audit, req);
      throw new GateError(GateErrorCode.NotReady, 'The service is shutting down. Retry later.');
    }
    if (!(await this.ports.ready())) {
      await this.describeRefusedCaller(audit, req);
      throw new GateError(GateErrorCode.NotReady, 'The service is starting (catching up with identity events). Retry later.');
    }
    if (req.authorization === undefined) throw this.ports.credentialMissing(req);
    const operationVersion = req.operationVersion();
    audit.operationVersion = operationVersion;
    const principal = await this.ports.authenticate(req.authorization, req);
    audit.identity = identityOf(principal);

    if (facts && this.ports.throttle) {
      const retryAfterSeconds = this.ports.throttle(facts.scope, principal.objectId, op);
      if (retryAfterSeconds !== undefined) {
        throw new GateError(
          GateErrorCode.Throttled,
          `Request was not processed because too many requests were received. Reason: A self-imposed limit on the number of allowed requests, has been exceeded. Please retry after ${retryAfterSeconds} seconds.`,
          { retryAfterSeconds },
        );
      }
    }
    if (this.ports.shedder) {
      const slot = await this.ports.shedder.acquire();
      if (!slot) throw new GateError(GateErrorCode.Overloaded, `The service is busy and did not process the request. Please retry after ${OVERLOAD_RETRY_SECONDS} seconds.`, { retryAfterSeconds: OVERLOAD_RETRY_SECONDS });
      this.slots.set(audit, slot);
    }
    if (req.inputs !== undefined) assertStorable(req.inputs);
    const name = req.objectName || undefined;
    const version = req.objectVersion || undefined;
    op.validate?.(name, version);
    if (name) audit.objectName = name;
    if (version) audit.objectVersion = version;
    if (name && op.collection) audit.objectId = `${req.origin}/${op.collection}/${name}${version ? `/${version}` : ''}`;

    if (facts && op.collection && facts.collections && !facts.collections.includes(op.collection)) {
      throw new GateError(GateErrorCode.OperationNotFound, 'The requested resource was not found.');
    }
    const action = op.kind === 'data' && op.action && container !== undefined && this.ports.actionFor ? this.ports.actionFor(op, container) : op.action;
    if (op.kind === 'data' && op.action && action === undefined) throw new GateError(GateErrorCode.OperationNotFound, 'The requested resource was not found.');
    if (op.kind === 'data' && action && facts) {
      const resource = `${facts.scope}${op.collection ? `/${op.collection}` : ''}${name && op.collection ? `/${name.toLowerCase()}` : ''}`;
      const decision = this.ports.check(principal.objectId, action, resource);
      audit.isRbacAuthorized = true;
      if (decision.assignmentId) audit.appliedAssignmentId = decision.assignmentId;
      if (!decision.allowed) throw forbidden(principal, action, resource, facts.name);
    } else if (op.kind === 'deployment' && op.action) {
      const decision = this.ports.check(principal.objectId, op.action, '/');
      audit.isRbacAuthorized = true;
      if (decision.assignmentId) audit.appliedAssignmentId = decision.assignmentId;
      if (!decision.allowed) throw forbidden(principal, op.action, '/', 'deployment');
    } else if (op.kind === 'admin') {
      const assignment = await this.ports.administratorAssignment(principal.objectId, op);
      audit.isRbacAuthorized = true;
      if (!assignment) throw forbidden(principal, op.action ?? 'Keyledger/vaults/administer (Key Vault Administrator at scope "/")', '/', 'admin');
      audit.appliedAssignmentId = assignment;
    }
    return { op, audit, container, principal, origin: req.origin, operationVersion };
  }

  /**
   * For the record of a request refused because the service is starting: the caller, when its
   * token verifies already, and the object it named — best effort (a caller or object that
   * cannot be established yet is recorded as unknown, never guessed).
   */
  private async describeRefusedCaller(audit: OperationAudit, req: GateRequest): Promise<void> {
    if (req.authorization !== undefined) {
      try {
        audit.identity = identityOf(await this.ports.authenticate(req.authorization, req));
      } catch {
        // not verifiable yet (unknown tenant while catching up) or not valid: no identity
      }
    }
    const name = req.objectName || undefined;
    const version = req.objectVersion || undefined;
    try {
      req.op.validate?.(name, version);
    } catch {
      return;
    }
    if (name) audit.objectName = name;
    if (version) audit.objectVersion = version;
    if (name && req.op.collection) audit.objectId = `${req.origin}/${req.op.collection}/${name}${version ? `/${version}` : ''}`;
  }

  /**
   * Makes the request's record durable with its outcome, unless its mutation already committed
   * it. False when it could not be: the transport must answer "audit unavailable" (503) and
   * return no result.
   */
  async finish(audit: OperationAudit, status: number, errorCode?: string): Promise<boolean> {
    try {
      if (audit.written) return true;
      if (errorCode !== undefined) audit.errorCode = errorCode;
      await this.ports.audit.write(audit.build(status));
      audit.committed();
      return true;
    } catch (err) {
      this.ports.onAuditFailure(err, audit.operationName);
      return false;
    } finally {
      this.release(audit);
    }
  }

  /**
   * The whole gate for transports that hold a request at once (gRPC, internal calls): admit,
   * execute, record. `classify` is the transport's error table (status and code of a refusal).
   */
  async run<R>(
    audit: OperationAudit,
    req: GateRequest,
    execute: (admission: Admission<C>) => Promise<R>,
    classify: (err: unknown) => { readonly status: number; readonly code: string },
    /** The status a successful result is answered with (recorded as its resultSignature). */
    statusOf: (value: R) => number = () => 200,
  ): Promise<GateOutcome<R>> {
    let outcome: GateOutcome<R>;
    let status = 200;
    let errorCode: string | undefined;
    try {
      const admission = await this.admit(audit, req);
      const value = await execute(admission);
      status = statusOf(value);
      outcome = { kind: 'ok', value, admission };
    } catch (error) {
      const c = classify(error);
      status = c.status;
      errorCode = c.code;
      outcome = { kind: 'failed', error };
    }
    if (!(await this.finish(audit, status, errorCode))) {
      return { kind: 'audit-unavailable', error: new GateError(GateErrorCode.AuditUnavailable, 'The request could not be audited; no result is returned. Retry later.') };
    }
    return outcome;
  }
}

/** Retry-After of a request refused by load shedding: soon, the work in flight finishes in well under a second. */
const OVERLOAD_RETRY_SECONDS = 1;

function forbidden(principal: Principal, action: string, resource: string, container: string): GateError {
  return new GateError(GateErrorCode.Forbidden, 'Caller is not authorized to perform action on resource.', {
    action,
    resource,
    container,
    objectId: principal.objectId,
    tenantId: principal.tenantId,
    ...(principal.appId ? { appId: principal.appId } : {}),
  });
}
