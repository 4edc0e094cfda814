import { EventEmitter } from 'node:events';
import type { AuditRecord } from '#libs/contracts';
import type { Sql } from '#libs/platform';
import type { LedgerRepository } from '../adapters/persistence/ledger.repository.js';
import type { LedgerEntry } from '../domain/hash-chain.js';
import type { ObjectUsageRepository } from '../adapters/persistence/object-usage.repository.js';

/**
 * Appending to the ledger: the hash chains and the objects' usage counters in the consumer's
 * transaction; after the commit, whoever follows the ledger (the search indexer, the
 * checkpoint scheduler, live tails) is woken in-process.
 */
export class LedgerService {
  /** Emits `appended` (chains: string[]) after a commit. */
  readonly events = new EventEmitter();

  constructor(
    private readonly ledger: LedgerRepository,
    private readonly usage: ObjectUsageRepository,
  ) {
    this.events.setMaxListeners(1_000);
  }

  /** Appends the records not yet in the ledger (the append is idempotent by record id); returns the entries written. */
  async append(records: readonly AuditRecord[], tx: Sql): Promise<readonly LedgerEntry[]> {
    const entries = await this.ledger.append(tx, records);
    if (entries.length === 0) return entries;
    if (entries.length === records.length) {
      await this.usage.apply(tx, records);
      return entries;
    }
    const appended = new Set(entries.map((e) => e.recordId));
    // A record offered twice in one batch is appended (and counted) once.
    await this.usage.apply(
      tx,
      records.filter((r) => appended.delete(r.id)),
    );
    return entries;
  }

  committed(records: readonly AuditRecord[]): void {
    this.events.emit('appended', [...new Set(records.map((r) => r.tenant))]);
  }
}
