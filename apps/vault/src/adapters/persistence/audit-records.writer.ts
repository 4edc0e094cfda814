import { assertAuditSafe, type AuditRecord } from '#libs/contracts';
import { auditMessage, AuditUnavailableError } from '#libs/eventstore';
import { counter, type Database } from '#libs/platform';

const failures = counter('keyledger_vault_audit_write_failures_total', 'Audit records of the vault API that could not be made durable');
const batches = counter('keyledger_vault_audit_batches_total', 'Group commits of vault audit records');

/** What the request pipeline needs: a record is durable when the promise resolves (fail closed otherwise). */
export interface AuditSink {
  write(record: AuditRecord): Promise<void>;
}

type Pending = { message: ReturnType<typeof auditMessage>; resolve: () => void; reject: (e: Error) => void };

/**
 * Makes the audit records of reads and rejected requests durable before their answer leaves
 * (mutations commit theirs with their events): group commit with several commits in flight,
 * each one statement in its own implicit transaction — the outbox rows and the relay's wake-up
 * notification, one round trip. Same rows and topic as `AuditWriter` of libs/eventstore, which
 * takes five round trips per commit and one commit at a time; under load that wait dominated
 * a GET.
 */
export class GroupCommitAuditWriter implements AuditSink {
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
          batches.inc();
          for (const p of batch) p.resolve();
        } catch (err) {
          failures.inc(batch.length);
          const e = new AuditUnavailableError(err);
          for (const p of batch) p.reject(e);
        }
      }
    } finally {
      this.inFlight--;
    }
  }
}
