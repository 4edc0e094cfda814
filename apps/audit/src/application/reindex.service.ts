import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AuditRecord } from '#libs/contracts';
import { DomainError } from '#libs/kernel';
import type { ProjectionRunner } from '#libs/projections';
import type { Database } from '#libs/platform';
import type { LedgerRepository } from '../adapters/persistence/ledger.repository.js';
import type { ObjectUsageRepository } from '../adapters/persistence/object-usage.repository.js';
import type { AuditRecordsIndexer, ReindexProgress } from '../projections/audit-records/audit-records.indexer.js';
import type { ObjectStateIndexer } from '../projections/object-state/object-state.indexer.js';

export type ReindexTarget = 'records' | 'objects' | 'all';

export type ReindexJob = {
  readonly id: string;
  readonly target: ReindexTarget;
  status: 'running' | 'succeeded' | 'failed';
  readonly startedAt: string;
  finishedAt?: string;
  /** Latest progress per step (records, object state, usage, objects index). */
  progress: Record<string, ReindexProgress | { phase: string; done: number; total: number; elapsedMs: number }>;
  result?: Record<string, unknown>;
  error?: string;
};

/**
 * Rebuilds the projections on request (`keyledger audit reindex`): the audit-record index from
 * the ledger, and the object state (PostgreSQL projection from the observed lifecycle events,
 * usage from the ledger) with its index. One job at a time per instance; progress is polled.
 */
export class ReindexService {
  private readonly jobs = new Map<string, ReindexJob>();
  private running: ReindexJob | undefined;

  constructor(
    private readonly db: Database,
    private readonly ledger: LedgerRepository,
    private readonly usage: ObjectUsageRepository,
    private readonly records: AuditRecordsIndexer,
    private readonly objectState: ProjectionRunner,
    private readonly objects: ObjectStateIndexer,
    private readonly logger: Logger,
  ) {}

  start(target: ReindexTarget): ReindexJob {
    if (this.running) throw new DomainError('Conflict', `a reindex is already running (job ${this.running.id})`);
    const job: ReindexJob = { id: randomUUID(), target, status: 'running', startedAt: new Date().toISOString(), progress: {} };
    this.jobs.set(job.id, job);
    this.running = job;
    void this.run(job).finally(() => {
      this.running = undefined;
    });
    return job;
  }

  get(id: string): ReindexJob | undefined {
    return this.jobs.get(id);
  }

  private async run(job: ReindexJob): Promise<void> {
    const result: Record<string, unknown> = {};
    try {
      if (job.target === 'records' || job.target === 'all') {
        result['records'] = await this.records.rebuild((p) => (job.progress['records'] = p));
      }
      if (job.target === 'objects' || job.target === 'all') {
        result['objectState'] = await this.objectState.rebuild({
          onProgress: (p) => (job.progress['objectState'] = { phase: p.phase, done: p.events, total: p.events, elapsedMs: p.elapsedMs }),
        });
        result['usage'] = await this.rebuildUsage((p) => (job.progress['usage'] = p));
        result['objects'] = await this.objects.rebuild((p) => (job.progress['objects'] = p));
      }
      job.result = result;
      job.status = 'succeeded';
    } catch (err) {
      job.status = 'failed';
      job.error = err instanceof Error ? err.message : String(err);
      this.logger.error({ job: job.id, err: job.error }, 'reindex failed');
    } finally {
      job.finishedAt = new Date().toISOString();
    }
  }

  /** Recounts object usage from the whole ledger; ledger appends wait for it (table lock). */
  private async rebuildUsage(onProgress: (p: { phase: string; done: number; total: number; elapsedMs: number }) => void): Promise<{ records: number }> {
    const started = performance.now();
    let done = 0;
    await this.db.transaction(async (tx) => {
      await this.usage.resetLocked(tx);
      const heads = await this.ledger.heads(tx);
      const total = heads.reduce((n, h) => n + h.seq, 0);
      for (const h of heads) {
        for (let at = 1; at <= h.seq; ) {
          const page = await this.ledger.entries(h.chain, at, h.seq, 2_000, tx);
          if (page.length === 0) break;
          await this.usage.apply(
            tx,
            page.map((e) => JSON.parse(e.record) as AuditRecord),
          );
          done += page.length;
          at = page[page.length - 1]!.seq + 1;
          onProgress({ phase: 'replay', done, total, elapsedMs: Math.round(performance.now() - started) });
        }
      }
    });
    onProgress({ phase: 'done', done, total: done, elapsedMs: Math.round(performance.now() - started) });
    return { records: done };
  }
}
