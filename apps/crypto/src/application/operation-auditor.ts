import { randomUUID } from 'node:crypto';
import { newAuditRecord, type AuditRecord } from '#libs/contracts';
import type { AuditWriter } from '#libs/eventstore';
import { counter } from '#libs/platform';
import type { Logger } from 'pino';
import { AuditUnavailable, classifyError, ErrorCode, STATUS_OF, type ClassifiedError } from '../domain/crypto.errors.js';
import { resourceIdOf, type Ref, type RefInput } from '../domain/object-ref.js';

/** The caller as the calling service passed it (proto CallContext). */
export interface CallerContext {
  readonly tenantId?: string | null;
  readonly objectId?: string | null;
  readonly appId?: string | null;
  readonly callerIp?: string | null;
  readonly correlationId?: string | null;
  readonly requestUri?: string | null;
  readonly operationName?: string | null;
}

export interface AuditedOperation {
  /** KeySign, KeyEncrypt, DataKeyGenerate, BackupSeal, ... */
  readonly operationName: string;
  readonly ctx: CallerContext | null | undefined;
  /** The raw ref of the request (used until the body supplies the canonical one). */
  readonly ref?: RefInput | null;
  readonly algorithm?: string;
}

/** What the body learns while it runs and wants in the audit record. */
export class AuditScope {
  ref: Ref | undefined;
  algorithm: string | undefined;
  hsm: boolean | undefined;
  readonly extra: Record<string, string> = {};
  /** The success record went into the body's own transaction. */
  written = false;
  private record: AuditRecord | undefined;

  constructor(
    private readonly build: (scope: AuditScope, outcome: { ok: true } | { ok: false; error: ClassifiedError }) => AuditRecord,
  ) {}

  /** The success record for the body to commit with its own change (events + audit in one transaction). */
  successRecord(): AuditRecord {
    this.record ??= this.build(this, { ok: true });
    return this.record;
  }

  /** Call once the transaction holding `successRecord()` committed. */
  markWritten(): void {
    this.written = true;
  }
}

const operations = counter('keyledger_crypto_operations_total', 'Crypto operations by name and result code', ['operation', 'result']);

const clip = (s: string | null | undefined, max = 256): string => (s ? (s.length > max ? s.slice(0, max) : s) : '');
const NO_CONTEXT: CallerContext = {};
const NO_REF: RefInput = {};

/**
 * Runs each operation so that exactly one audit record is durable before any answer
 * leaves: success (written here through the group-committing AuditWriter, or by the body in
 * its own transaction) or failure (whatever the refusal). If the record cannot be written
 * the caller gets `AuditUnavailable` and never the result.
 */
export class OperationAuditor {
  constructor(
    private readonly writer: AuditWriter,
    private readonly logger: Logger,
    private readonly source = 'crypto',
  ) {}

  /**
   * `withheld` runs when the body succeeded but its audit record could not be written: the
   * result is dropped (zero its secrets, undo what only the caller could have used).
   */
  async run<T>(op: AuditedOperation, body: (scope: AuditScope) => Promise<T>, withheld?: (result: T) => void | Promise<void>): Promise<T> {
    const started = performance.now();
    const correlationId = clip(op.ctx?.correlationId, 128) || randomUUID();
    const scope = new AuditScope((s, outcome) => this.build(op, s, outcome, correlationId, started));
    if (op.algorithm) scope.algorithm = clip(op.algorithm, 40);
    let result: T;
    try {
      result = await body(scope);
    } catch (err) {
      const error = classifyError(err);
      if (!error.expected) this.logger.error({ err, operation: op.operationName, correlationId }, 'crypto operation failed');
      try {
        await this.writer.write(this.build(op, scope, { ok: false, error }, correlationId, started));
      } catch (auditErr) {
        this.logger.error({ err: auditErr instanceof Error ? auditErr.message : String(auditErr), operation: op.operationName, correlationId }, 'audit record not durable: refusing');
        operations.inc({ operation: op.operationName, result: ErrorCode.AuditUnavailable });
        throw new AuditUnavailable();
      }
      operations.inc({ operation: op.operationName, result: error.code });
      throw err;
    }
    if (!scope.written) {
      try {
        await this.writer.write(scope.successRecord());
      } catch (auditErr) {
        this.logger.error({ err: auditErr instanceof Error ? auditErr.message : String(auditErr), operation: op.operationName, correlationId }, 'audit record not durable: result withheld');
        operations.inc({ operation: op.operationName, result: ErrorCode.AuditUnavailable });
        try {
          await withheld?.(result);
        } catch {
          /* best effort */
        }
        throw new AuditUnavailable();
      }
    }
    operations.inc({ operation: op.operationName, result: 'OK' });
    return result;
  }

  /**
   * Runs several operations (a batch), each exactly as `run` would — its own scope, its own
   * record with its own caller context and outcome — and commits ALL their records in one
   * commit (`AuditWriter.writeAll`): either every record is durable and the outcomes are
   * returned (in input order; an operation's own failure is its `reason`), or none is and the
   * caller gets `AuditUnavailable`, every successful result first handed to `withheld`.
   */
  async runAll<T>(
    ops: readonly AuditedOperation[],
    body: (index: number, scope: AuditScope) => Promise<T>,
    withheld?: (result: T) => void | Promise<void>,
  ): Promise<PromiseSettledResult<T>[]> {
    const started = performance.now();
    const entries = ops.map((op) => {
      const correlationId = clip(op.ctx?.correlationId, 128) || randomUUID();
      const entry = { op, correlationId, ended: started, scope: undefined as unknown as AuditScope };
      entry.scope = new AuditScope((s, outcome) => this.build(op, s, outcome, correlationId, started, entry.ended));
      if (op.algorithm) entry.scope.algorithm = clip(op.algorithm, 40);
      return entry;
    });
    const settled = await Promise.allSettled(
      entries.map(async (e, i) => {
        try {
          return await body(i, e.scope);
        } finally {
          e.ended = performance.now();
        }
      }),
    );
    const records: AuditRecord[] = [];
    const results: string[] = [];
    for (const [i, e] of entries.entries()) {
      const outcome = settled[i]!;
      if (outcome.status === 'fulfilled') {
        if (!e.scope.written) records.push(e.scope.successRecord());
        results.push('OK');
        continue;
      }
      const error = classifyError(outcome.reason);
      if (!error.expected) this.logger.error({ err: outcome.reason, operation: e.op.operationName, correlationId: e.correlationId }, 'crypto operation failed');
      records.push(this.build(e.op, e.scope, { ok: false, error }, e.correlationId, started, e.ended));
      results.push(error.code);
    }
    try {
      await this.writer.writeAll(records);
    } catch (auditErr) {
      this.logger.error({ err: auditErr instanceof Error ? auditErr.message : String(auditErr), operations: entries.length, correlationId: entries[0]?.correlationId }, 'audit records of a batch not durable: every result withheld');
      for (const e of entries) operations.inc({ operation: e.op.operationName, result: ErrorCode.AuditUnavailable });
      for (const outcome of settled) {
        if (outcome.status !== 'fulfilled') continue;
        try {
          await withheld?.(outcome.value);
        } catch {
          /* best effort */
        }
      }
      throw new AuditUnavailable();
    }
    for (const [i, e] of entries.entries()) operations.inc({ operation: e.op.operationName, result: results[i]! });
    return settled;
  }

  /**
   * The record of one operation. Built field by field (no spread-of-conditional objects):
   * it runs once per call on the hot path. Optional fields are present exactly when they
   * have a value.
   */
  private build(op: AuditedOperation, scope: AuditScope, outcome: { ok: true } | { ok: false; error: ClassifiedError }, correlationId: string, started: number, ended = performance.now()): AuditRecord {
    const ctx = op.ctx ?? NO_CONTEXT;
    let ref: Partial<Ref>;
    if (scope.ref) ref = scope.ref;
    else {
      const raw = op.ref ?? NO_REF;
      ref = {
        tenant: clip(raw.tenant, 128).toLowerCase(),
        vault: clip(raw.vault, 127).toLowerCase(),
        collection: clip(raw.collection, 20).toLowerCase() as Ref['collection'],
        name: clip(raw.name, 127).toLowerCase(),
        version: clip(raw.version, 64).toLowerCase(),
      };
    }
    let extra: Record<string, string> | undefined;
    for (const k in scope.extra) (extra ??= {})[k] = scope.extra[k]!;
    if (ctx.operationName) (extra ??= {}).callerOperation = clip(ctx.operationName, 64);
    if (scope.hsm !== undefined) (extra ??= {}).hsm = String(scope.hsm);
    const resourceId = resourceIdOf(ref);
    const identity: { oid?: string; appid?: string; tid?: string } = {};
    if (ctx.objectId) identity.oid = clip(ctx.objectId, 128);
    if (ctx.appId) identity.appid = clip(ctx.appId, 128);
    if (ctx.tenantId) identity.tid = clip(ctx.tenantId, 128);
    const properties: { -readonly [K in keyof AuditRecord['properties']]: AuditRecord['properties'][K] } = {};
    if (ctx.requestUri) properties.requestUri = clip(ctx.requestUri, 2048);
    properties.id = resourceId;
    if (scope.algorithm) properties.algorithm = scope.algorithm;
    if (!outcome.ok) properties.errorCode = outcome.error.code;
    if (ref.vault) properties.vault = ref.vault;
    if (ref.collection) properties.collection = ref.collection;
    if (ref.name) properties.objectName = ref.name;
    if (ref.version) properties.objectVersion = ref.version;
    if (extra) properties.extra = extra;
    return newAuditRecord({
      tenant: clip(ctx.tenantId, 128) || ref.tenant || 'unknown',
      source: this.source,
      resourceId,
      operationName: op.operationName,
      operationVersion: 'keyledger.crypto.v1',
      resultType: outcome.ok ? 'Success' : 'Failure',
      resultSignature: outcome.ok ? 'OK' : STATUS_OF[outcome.error.code],
      ...(outcome.ok ? {} : { resultDescription: `${outcome.error.code}: ${outcome.error.message.slice(0, 300)}` }),
      durationMs: Math.round((ended - started) * 100) / 100,
      callerIpAddress: clip(ctx.callerIp, 64),
      correlationId,
      identity,
      properties,
    });
  }
}
