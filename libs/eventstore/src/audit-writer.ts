import { assertAuditSafe, type AuditRecord } from '#libs/contracts';
import { counter, type Database } from '#libs/platform';
import { auditMessage, insertOutbox } from './event-store.js';

const auditFailures = counter('keyledger_audit_write_failures_total', 'Audit records that could not be made durable', ['source']);

export class AuditUnavailableError extends Error {
  readonly code = 'AuditUnavailable';
  constructor(cause: unknown) {
    super(`audit record could not be made durable: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'AuditUnavailableError';
  }
}

type Pending = { record: AuditRecord; resolve: () => void; reject: (e: Error) => void };

/**
 * Makes audit records durable (committed to the outbox, from where they reach the audit
 * topic) before the caller answers. Group commit: while one transaction is in flight,
 * new records queue and go together in the next one, so throughput rises with load
 * without adding latency when idle. A failed write rejects every waiting caller: the
 * request fails closed.
 */
export class AuditWriter {
  private queue: Pending[] = [];
  private flushing = false;

  constructor(
    private readonly db: Database,
    private readonly source: string,
    private readonly maxBatch = 500,
  ) {}

  write(record: AuditRecord): Promise<void> {
    assertAuditSafe(record);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ record, resolve, reject });
      if (!this.flushing) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        try {
          await this.db.transaction((tx) => insertOutbox(tx, this.db.schema, batch.map((p) => auditMessage(p.record, this.source))));
          for (const p of batch) p.resolve();
        } catch (err) {
          auditFailures.inc({ source: this.source }, batch.length);
          const e = new AuditUnavailableError(err);
          for (const p of batch) p.reject(e);
        }
      }
    } finally {
      this.flushing = false;
    }
  }
}
