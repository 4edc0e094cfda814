import { assertAuditSafe, type AuditRecord } from '#libs/contracts';
import { counter, histogram, type Database } from '#libs/platform';
import { auditMessage } from './event-store.js';
import { localRelayWaker } from './outbox-relay.js';

const auditFailures = counter('keyledger_audit_write_failures_total', 'Audit records that could not be made durable', ['source']);
const auditBatches = counter('keyledger_audit_group_commits_total', 'Group commits of audit records', ['source']);
const auditBatchSize = histogram('keyledger_audit_group_commit_records', 'Audit records per group commit', ['source'], [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1000]);

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

/**
 * Records that commit together: their outbox rows, each serialised once when the records
 * arrive (`[topic, key, headers, payload]` as JSON, comma-separated), never split across commits.
 */
type Pending = { rows: string; count: number; resolve: () => void; reject: (e: Error) => void };

export interface AuditWriterOptions {
  /** Group commits in flight at once (default 2): more shortens waits, fewer makes larger (cheaper) batches. */
  readonly maxInFlight?: number;
  /** Most records in one commit (default 1000); a `writeAll` group larger than this commits alone. */
  readonly maxBatch?: number;
}

/**
 * Makes audit records of reads and refused requests durable (committed to the outbox, from
 * where the relay publishes them to the audit topic) before the caller answers; changes
 * commit theirs with their events instead. Group commit: records that arrive while commits
 * are in flight go together in the next one, each commit a single statement (outbox rows and,
 * unless a relay of the schema runs in this process and is woken directly, the relay's wake-up
 * notification) in its own implicit transaction — one WAL flush per batch — with at most
 * `maxInFlight` commits in flight. Throughput rises with load without
 * adding latency when idle. A failed write rejects every caller of that batch: the request
 * fails closed.
 *
 * The batch travels as ONE JSON array parameter of a named prepared statement (parsed and
 * planned once per connection) and is split by `jsonb_array_elements`: each record is
 * serialised once, here, and PostgreSQL parses it once, with no text[] literal quoting on
 * either side.
 */
export class AuditWriter implements AuditSink {
  private queue: Pending[] = [];
  private inFlight = 0;
  private readonly maxInFlight: number;
  private readonly maxBatch: number;
  private readonly statement: { readonly name: string; readonly text: string; readonly channel: string };
  /** The same without the NOTIFY, when a relay of this schema runs in this process (woken directly). */
  private readonly quiet: { readonly name: string; readonly text: string };

  constructor(
    private readonly db: Database,
    private readonly source: string,
    options: AuditWriterOptions = {},
  ) {
    this.maxInFlight = Math.max(1, options.maxInFlight ?? 2);
    this.maxBatch = Math.max(1, options.maxBatch ?? 1000);
    const s = db.schema;
    this.statement = {
      // Prepared statements are per connection; the pool belongs to this schema.
      name: `keyledger_audit_insert_${s}`,
      text: `WITH rows AS (
               INSERT INTO ${s}.outbox (topic, message_key, headers, payload)
               SELECT e->>0, e->>1, e->2, e->3 FROM jsonb_array_elements($1::jsonb) AS e
               RETURNING 1)
             SELECT pg_notify($2, '') FROM (SELECT count(*) FROM rows) AS written`,
      channel: `${s}_outbox`,
    };
    this.quiet = {
      name: `keyledger_audit_insert_quiet_${s}`,
      text: `INSERT INTO ${s}.outbox (topic, message_key, headers, payload)
             SELECT e->>0, e->>1, e->2, e->3 FROM jsonb_array_elements($1::jsonb) AS e`,
    };
  }

  write(record: AuditRecord): Promise<void> {
    return this.enqueue([record]);
  }

  /**
   * Several records that are durable together or not at all: they go into the same commit
   * (one statement, one transaction). Resolves when all are committed; rejects (nothing
   * written) otherwise.
   */
  writeAll(records: readonly AuditRecord[]): Promise<void> {
    return records.length === 0 ? Promise.resolve() : this.enqueue(records);
  }

  private enqueue(records: readonly AuditRecord[]): Promise<void> {
    let rows = '';
    try {
      for (const record of records) {
        assertAuditSafe(record);
        const m = auditMessage(record, this.source);
        rows += `${rows === '' ? '' : ','}[${JSON.stringify(m.topic)},${JSON.stringify(m.key)},${JSON.stringify(m.headers)},${JSON.stringify(m.payload)}]`;
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ rows, count: records.length, resolve, reject });
      if (this.inFlight < this.maxInFlight) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.inFlight++;
    try {
      while (this.queue.length > 0) {
        // As many waiting groups as fit in maxBatch records (at least one group).
        let take = 0;
        let count = 0;
        while (take < this.queue.length && (take === 0 || count + this.queue[take].count <= this.maxBatch)) count += this.queue[take++].count;
        const batch = take === this.queue.length ? this.queue : this.queue.slice(0, take);
        this.queue = batch === this.queue ? [] : this.queue.slice(take);
        let rows = '[';
        for (let i = 0; i < batch.length; i++) rows += i === 0 ? batch[i].rows : `,${batch[i].rows}`;
        rows += ']';
        try {
          this.db.counted();
          // A relay in this process is woken directly after the commit; otherwise NOTIFY wakes one elsewhere.
          const wake = localRelayWaker(this.db.schema);
          if (wake) {
            await this.db.pool.query({ name: this.quiet.name, text: this.quiet.text, values: [rows] });
            wake();
          } else {
            await this.db.pool.query({ name: this.statement.name, text: this.statement.text, values: [rows, this.statement.channel] });
          }
          auditBatches.inc({ source: this.source });
          auditBatchSize.observe({ source: this.source }, count);
          for (const p of batch) p.resolve();
        } catch (err) {
          auditFailures.inc({ source: this.source }, count);
          const e = new AuditUnavailableError(err);
          for (const p of batch) p.reject(e);
        }
      }
    } finally {
      this.inFlight--;
    }
  }
}
