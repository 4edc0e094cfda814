import { EventEmitter } from 'node:events';
import type { AuditRecord } from '#libs/contracts';
import type { Sql } from '#libs/platform';
import type { LedgerRepository } from '../adapters/persistence/ledger.repository.js';
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

  async append(records: readonly AuditRecord[], tx: Sql): Promise<void> {
    const entries = await this.ledger.append(tx, records);
    if (entries.length === 0) return;
    const appended = new Set(entries.map((e) => e.recordId));
    await this.usage.apply(
      tx,
      records.filter((r) => appended.has(r.id)),
    );
  }

  committed(records: readonly AuditRecord[]): void {
    this.events.emit('appended', [...new Set(records.map((r) => r.tenant))]);
  }
}
