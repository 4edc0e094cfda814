import type { Logger } from 'pino';
import type { EventStore } from '#libs/eventstore';
import { counter, type Database } from '#libs/platform';
import { checkpointSigningInput, type CheckpointPayload, type SignedCheckpoint } from '../domain/checkpoint.js';
import type { AuditCheckpointSigned } from '../domain/audit.events.js';
import type { LedgerRepository } from '../adapters/persistence/ledger.repository.js';
import type { CheckpointSigner } from './checkpoint-signer.js';

export type CheckpointPolicy = {
  /** A checkpoint after this many new records in a chain. */
  readonly everyRecords: number;
  /** And at least this often per chain, new records or not (idle chains too). */
  readonly intervalMs: number;
  /** How often the scheduler looks (default min(1 s, intervalMs)). */
  readonly tickMs?: number;
};

const checkpointsTotal = counter('keyledger_audit_checkpoints_total', 'Signed checkpoints written', ['reason']);

/**
 * Writes signed checkpoints per chain: when N records were added since the last one, when M
 * seconds passed (also for idle chains, so a verifier can tell "nothing happened" from "the
 * log stopped"), serialised per chain by an advisory lock so several instances never fork the
 * checkpoint sequence. Each checkpoint is also appended to audit's event store, which
 * publishes it on keyledger.audit.events.v1 — a copy outside the audit database.
 */
export class CheckpointService {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private busy: Promise<void> | undefined;
  private pending = false;
  private failingSince: number | undefined;
  private lastWarned = 0;

  constructor(
    private readonly db: Database,
    private readonly ledger: LedgerRepository,
    private readonly store: EventStore,
    private readonly signer: CheckpointSigner,
    private readonly policy: CheckpointPolicy,
    private readonly logger: Logger,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    const tick = this.policy.tickMs ?? Math.min(1_000, this.policy.intervalMs);
    this.timer = setInterval(() => this.poke(), tick);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    await this.busy;
  }

  /** Looks for due checkpoints now (after an append, or on the timer); never runs twice at once. */
  poke(): void {
    if (!this.running) return;
    if (this.busy) {
      this.pending = true;
      return;
    }
    this.busy = this.runDue()
      .then(() => {
        if (this.failingSince !== undefined) this.logger.info({ failedForMs: Date.now() - this.failingSince }, 'checkpoints are being signed again');
        this.failingSince = undefined;
      })
      .catch((err: unknown) => {
        // Once, then every 30 s while it lasts (the signer may be the crypto service, restarting).
        const now = Date.now();
        this.failingSince ??= now;
        if (now - this.lastWarned < 30_000) return;
        this.lastWarned = now;
        this.logger.warn({ err: err instanceof Error ? err.message : String(err), failingForMs: now - this.failingSince }, 'checkpoint round failed; retrying every tick (the ledger keeps appending)');
      })
      .finally(() => {
        this.busy = undefined;
        if (this.pending) {
          this.pending = false;
          this.poke();
        }
      });
  }

  /** Writes every checkpoint that is due; returns how many. */
  async runDue(now: Date = new Date()): Promise<number> {
    let written = 0;
    for (const s of await this.ledger.checkpointStatus()) {
      const byCount = s.seq - s.lastHeadSeq >= this.policy.everyRecords;
      const byTime = !s.lastCreatedAt || now.getTime() - s.lastCreatedAt.getTime() >= this.policy.intervalMs;
      if (!byCount && !byTime) continue;
      const cp = await this.checkpoint(s.chain, { everyRecords: this.policy.everyRecords, intervalMs: this.policy.intervalMs }, now);
      if (cp) {
        written++;
        checkpointsTotal.inc({ reason: byCount ? 'records' : s.seq > s.lastHeadSeq ? 'interval' : 'idle' });
      }
    }
    return written;
  }

  /**
   * Writes a checkpoint of `chain` now if it is (still) due under `due` — or unconditionally
   * when `due` is omitted. Returns it, or undefined when another instance just wrote one.
   */
  async checkpoint(chain: string, due?: CheckpointPolicy, now: Date = new Date()): Promise<SignedCheckpoint | undefined> {
    return this.db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`audit-checkpoint:${this.db.schema}:${chain}`]);
      const head = await this.ledger.head(chain, tx);
      if (!head) return undefined;
      const last = await this.ledger.lastCheckpoint(chain, tx);
      if (due && last) {
        const byCount = head.seq - last.headSeq >= due.everyRecords;
        const byTime = now.getTime() - Date.parse(last.createdAt) >= due.intervalMs;
        if (!byCount && !byTime) return undefined;
      }
      const lastHead = last?.headSeq ?? 0;
      const range = await this.ledger.timeRange(tx, chain, lastHead, head.seq);
      const createdAt = new Date(Math.max(now.getTime(), last ? Date.parse(last.createdAt) : 0)).toISOString();
      const unsigned: Omit<CheckpointPayload, 'keyId'> = {
        version: 1,
        chain,
        number: (last?.number ?? 0) + 1,
        headSeq: head.seq,
        headHash: head.hash,
        count: head.seq,
        fromSeq: lastHead + 1,
        fromTime: range.from,
        toTime: range.to,
        createdAt,
        previousSignature: last?.signature ?? null,
        algorithm: 'ES256',
      };
      const payload: CheckpointPayload = { ...unsigned, keyId: await this.signer.currentKeyId() };
      const { keyId, signature } = await this.signer.sign(checkpointSigningInput(payload));
      if (keyId !== payload.keyId) throw new Error('the checkpoint signing key changed while signing; retrying');
      const signed: SignedCheckpoint = { ...payload, signature: signature.toString('base64url') };
      await this.ledger.insertCheckpoint(tx, signed);
      const event: AuditCheckpointSigned = { type: 'AuditCheckpointSigned', data: signed };
      await this.store.appendInTransaction(tx, `audit-checkpoints-${chain}`, 'any', [event], { metadata: { actor: 'audit', tenant: chain } });
      return signed;
    });
  }
}
