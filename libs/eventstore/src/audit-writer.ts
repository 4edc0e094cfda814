import { assertAuditSafe, type AuditRecord } from '#libs/contracts';
import { counter, type Database } from '#libs/platform';
import { auditMessage, type OutboxMessage } from './event-store.js';

const auditFailures = counter('keyledger_audit_write_failures_total', 'Audit records that could not be made durable', ['source']);
const auditBatches = counter('keyledger_audit_group_commits_total', 'Group commits of audit records', ['source']);

export class AuditUnavailableError extends Error {
  readonly code = 'AuditUnavailable';
  constructor(cause: unknown) {
    super(`audit record could not be made durable: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'AuditUnavailableError';
  }
}

/** What request pipelines need: a record is durable when the promise resolves (fail closed otherwise). */
export interface AuditSink {
  write(record: AuditRecord): Promise<void>;
}

type Pending = { message: OutboxMessage; resolve: () => void; reject: (e: Error) => void };

/**
 * Makes audit records of reads and refused requests durable (committed to the outbox, from
 * where the relay publishes them to the audit topic) before the caller answers; changes
 * commit theirs with their events instead. Group commit: records that arrive while commits
 * are in flight go together in the next one, each commit a single statement (outbox rows and
 * the relay's wake-up notification) in its own implicit transaction, with a few commits in
 * flight at once. Throughput rises with load without adding latency when idle. A failed
 * write rejects every waiting caller: the request fails closed.
 */
export class AuditWriter implements AuditSink {
  private queue: Pending[] = [];
  private inFlight = 0;

  constructor(
    private readonly db: Database,
    private readonly source: string,
    private readonly maxInFlight = 3,
    private readonly maxBatch = 1000,
  ) {}

  write(record: AuditRecord): Promise<void> {
    assertAuditSafe(record);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ message: auditMessage(record, this.source), resolve, reject });
      if (this.inFlight < this.maxInFlight) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.inFlight++;
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.maxBatch);
        const s = this.db.schema;
        try {
          await this.db.query(
            `WITH rows AS (
               INSERT INTO ${s}.outbox (topic, message_key, headers, payload)
               SELECT t, k, h::jsonb, p::jsonb FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(t, k, h, p)
               RETURNING 1)
             SELECT pg_notify($5, '') FROM (SELECT count(*) FROM rows) AS written`,
            [
              batch.map((p) => p.message.topic),
              batch.map((p) => p.message.key),
              batch.map((p) => JSON.stringify(p.message.headers)),
              batch.map((p) => JSON.stringify(p.message.payload)),
              `${s}_outbox`,
            ],
          );
          auditBatches.inc({ source: this.source });
          for (const p of batch) p.resolve();
        } catch (err) {
          auditFailures.inc({ source: this.source }, batch.length);
          const e = new AuditUnavailableError(err);
          for (const p of batch) p.reject(e);
        }
      }
    } finally {
      this.inFlight--;
    }
  }
}
