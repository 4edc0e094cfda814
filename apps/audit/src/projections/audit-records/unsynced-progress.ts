/** Where Elasticsearch put one bulk's operations in an index: its shard's primary term and the highest sequence number. */
export type ShardMark = { readonly term: number; readonly seqNo: number };

/** What the shard of an index has made durable: its primary term now and its persisted local checkpoint. */
export type ShardState = { readonly term: number; readonly persisted: number };

type Pending = { readonly target: string; readonly progress: ReadonlyMap<string, number>; readonly marks: ReadonlyMap<string, ShardMark> };

/** Elasticsearch may have lost operations it acknowledged: index again from the committed progress. */
export class OperationsLostError extends Error {
  constructor(index: string) {
    super(`Elasticsearch may have lost acknowledged operations of ${index} (its shard restarted before a translog sync); indexing again from the committed progress`);
    this.name = 'OperationsLostError';
  }
}

/**
 * The indexer's progress that waits for Elasticsearch's translog sync. With
 * `index.translog.durability: async` a bulk is acknowledged before its operations are fsynced;
 * killed before the next sync, the node comes back without them. So a step's progress (chain
 * → seq indexed) is kept here, in step order, with the shard positions its bulk got, and is
 * written to PostgreSQL only once every shard it touched has persisted those positions
 * (`seq_no.local_checkpoint` of the shard stats is the persisted checkpoint) under the same
 * primary term. A higher term, or an index gone, means the shard restarted: what it
 * acknowledged after its last sync may be gone, and indexing resumes from the committed
 * progress (same `_id`s: replays overwrite).
 */
export class UnsyncedProgress {
  private queue: Pending[] = [];

  get size(): number {
    return this.queue.length;
  }

  /** Indices with operations not yet known to be synced. */
  indices(): string[] {
    return [...new Set(this.queue.flatMap((p) => [...p.marks.keys()]))];
  }

  add(target: string, progress: ReadonlyMap<string, number>, marks: ReadonlyMap<string, ShardMark>): void {
    this.queue.push({ target, progress, marks });
  }

  clear(): void {
    this.queue = [];
  }

  /**
   * Takes the steps (oldest first, stopping at the first that is not synced yet) whose
   * operations the shards have persisted, and returns their progress merged (per chain, the
   * highest seq) for `target`; entries of another target (a generation a rebuild replaced) are
   * dropped. Throws OperationsLostError, and forgets everything, when a shard restarted.
   */
  takeSynced(target: string, states: ReadonlyMap<string, ShardState>): Map<string, number> {
    const out = new Map<string, number>();
    let taken = 0;
    for (const p of this.queue) {
      let synced = true;
      for (const [index, mark] of p.marks) {
        const state = states.get(index);
        if (!state || state.term > mark.term) {
          this.queue = [];
          throw new OperationsLostError(index);
        }
        if (state.persisted < mark.seqNo) synced = false;
      }
      if (!synced) break;
      taken++;
      if (p.target !== target) continue;
      for (const [chain, seq] of p.progress) out.set(chain, Math.max(out.get(chain) ?? 0, seq));
    }
    this.queue = this.queue.slice(taken);
    return out;
  }
}
