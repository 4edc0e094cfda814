import type { AuditRecord } from '#libs/contracts';
import type { Database, Sql } from '#libs/platform';
import type { SignedCheckpoint } from '../../domain/checkpoint.js';
import { canonicalJson } from '../../domain/canonical-json.js';
import { GENESIS_HASH, nextEntry, type LedgerEntry, type ProofStep } from '../../domain/hash-chain.js';

export type ChainHead = { readonly chain: string; readonly seq: number; readonly hash: string; readonly firstAt: string; readonly lastAt: string };

type EntryRow = { chain: string; seq: string; record_id: string; appended_at: Date; record: string; entry_digest: string; prev_hash: string; hash: string };
type HeadRow = { chain: string; seq: string; hash: string; first_at: Date; last_at: Date };
type CheckpointRow = {
  chain: string;
  number: string;
  head_seq: string;
  head_hash: string;
  record_count: string;
  from_seq: string;
  from_time: Date | null;
  to_time: Date | null;
  created_at: Date;
  previous_signature: string | null;
  key_id: string;
  algorithm: string;
  signature: string;
};

const ENTRY_COLUMNS = 'chain, seq::text, record_id, appended_at, record, entry_digest, prev_hash, hash';
const CHECKPOINT_COLUMNS = 'chain, number::text, head_seq::text, head_hash, record_count::text, from_seq::text, from_time, to_time, created_at, previous_signature, key_id, algorithm, signature';

/** The chain a record belongs to: one chain per tenant (the audit topic's message key). */
export const chainOf = (record: AuditRecord): string => record.tenant;

/**
 * The ledger tables. Appends lock the chains' head rows (in chain order, so two writers never
 * deadlock), number the new entries after the head, hash them onto the chain and move the
 * head — all in the caller's transaction, so the entries, the head and whatever else the caller
 * writes commit together or not at all. Entries of one chain therefore become visible in seq order.
 */
export class LedgerRepository {
  constructor(readonly db: Database) {}

  get schema(): string {
    return this.db.schema;
  }

  /**
   * Appends records (in order) to their chains; records already in the ledger are skipped, so
   * the append is idempotent by itself (the record id is unique): a redelivered record, or the
   * same record offered by two writers at once, lands once. Two statements whatever the batch
   * size: one creates the heads of new chains and locks the others (in chain order); after the
   * entries are hashed here, one inserts them and moves the heads — unless some of the records
   * are already in the ledger, in which case it writes nothing and names them, and the rest is
   * hashed again from the same (still locked) heads. That check runs in the second statement,
   * whose snapshot is taken once the heads are locked: a record another writer of the chain
   * appended while this one waited for the lock is seen there (the first statement's snapshot
   * predates that commit).
   */
  async append(tx: Sql, records: readonly AuditRecord[], now: () => Date = () => new Date()): Promise<LedgerEntry[]> {
    if (records.length === 0) return [];
    const s = this.schema;
    const unique = new Map<string, AuditRecord>();
    for (const r of records) if (!unique.has(r.id)) unique.set(r.id, r);
    const chains = [...new Set([...unique.values()].map(chainOf))].sort();
    const clock = now().toISOString();
    const rows = await tx.query<{ chain: string; seq: string; hash: string; last_at: Date }>(
      `WITH created AS (
         INSERT INTO ${s}.chain_heads (chain, seq, hash, first_at, last_at)
         SELECT c, 0, $2, $3::timestamptz, $3::timestamptz FROM unnest($1::text[]) AS u(c) ORDER BY c
         ON CONFLICT (chain) DO NOTHING
         RETURNING chain, seq, hash, last_at
       ), locked AS (
         SELECT h.chain, h.seq, h.hash, h.last_at FROM ${s}.chain_heads h WHERE h.chain = ANY($1::text[]) ORDER BY h.chain FOR UPDATE
       )
       SELECT chain, seq::text, hash, last_at FROM created
       UNION ALL SELECT chain, seq::text, hash, last_at FROM locked`,
      [chains, GENESIS_HASH, clock],
    );
    const heads = new Map<string, { seq: string; hash: string; last_at: Date }>();
    for (const r of rows) heads.set(r.chain, r);
    // A head another writer created after this statement's snapshot was taken (and committed
    // while the insert above waited for it) is locked by a statement of its own.
    const missing = chains.filter((c) => !heads.has(c));
    if (missing.length > 0) {
      const late = await tx.query<{ chain: string; seq: string; hash: string; last_at: Date }>(
        `SELECT chain, seq::text, hash, last_at FROM ${s}.chain_heads WHERE chain = ANY($1::text[]) ORDER BY chain FOR UPDATE`,
        [missing],
      );
      for (const h of late) heads.set(h.chain, h);
    }
    // Ledger time never goes backwards within a chain, whatever the clocks of several instances say.
    const start = new Map([...heads].map(([chain, h]) => [chain, { seq: Number(h.seq), hash: h.hash, at: new Date(Math.max(Date.parse(clock), h.last_at.getTime())).toISOString() }]));
    // Canonical form once per record, even when a record already present makes the batch hash again.
    const canonical = new Map<string, string>();
    for (;;) {
      if (unique.size === 0) return [];
      const fresh = [...unique.values()];
      const tip = new Map(start);
      const n = fresh.length;
      const entries: LedgerEntry[] = new Array<LedgerEntry>(n);
      const cols = { chain: new Array<string>(n), seq: new Array<number>(n), id: new Array<string>(n), at: new Array<string>(n), record: new Array<string>(n), digest: new Array<string>(n), prev: new Array<string>(n), hash: new Array<string>(n) };
      fresh.forEach((r, i) => {
        const chain = chainOf(r);
        const prev = tip.get(chain);
        if (!prev) throw new Error(`no head for chain ${chain}`);
        let record = canonical.get(r.id);
        if (record === undefined) canonical.set(r.id, (record = canonicalJson(r)));
        const e = nextEntry(prev.seq > 0 ? prev : undefined, { chain, appendedAt: prev.at }, r.id, record);
        tip.set(chain, { seq: e.seq, hash: e.hash, at: prev.at });
        entries[i] = e;
        cols.chain[i] = e.chain;
        cols.seq[i] = e.seq;
        cols.id[i] = e.recordId;
        cols.at[i] = e.appendedAt;
        cols.record[i] = e.record;
        cols.digest[i] = e.entryDigest;
        cols.prev[i] = e.prevHash;
        cols.hash[i] = e.hash;
      });
      const moved = [...new Set(cols.chain)].map((chain) => ({ chain, ...(tip.get(chain) as { seq: number; hash: string; at: string }) }));
      const present = await tx.query<{ record_id: string }>(
        `WITH present AS (
           SELECT e.record_id FROM ${s}.ledger_entries e WHERE e.record_id = ANY($3::text[])
         ), entries AS (
           INSERT INTO ${s}.ledger_entries (chain, seq, record_id, appended_at, record, entry_digest, prev_hash, hash)
           SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[], $8::text[])
            WHERE NOT EXISTS (SELECT 1 FROM present)
         ), moved AS (
           UPDATE ${s}.chain_heads h SET seq = u.seq, hash = u.hash, last_at = u.at, first_at = CASE WHEN h.seq = 0 THEN u.at ELSE h.first_at END
             FROM unnest($9::text[], $10::bigint[], $11::text[], $12::timestamptz[]) AS u(chain, seq, hash, at)
            WHERE h.chain = u.chain AND NOT EXISTS (SELECT 1 FROM present)
         )
         SELECT record_id FROM present`,
        [
          cols.chain,
          cols.seq,
          cols.id,
          cols.at,
          cols.record,
          cols.digest,
          cols.prev,
          cols.hash,
          moved.map((m) => m.chain),
          moved.map((m) => m.seq),
          moved.map((m) => m.hash),
          moved.map((m) => m.at),
        ],
      );
      if (present.length === 0) return entries;
      // Nothing was written: leave out the records already in the ledger and hash the rest again.
      for (const p of present) unique.delete(p.record_id);
    }
  }

  async heads(sql: Sql = this.db): Promise<ChainHead[]> {
    const rows = await sql.query<HeadRow>(`SELECT chain, seq::text, hash, first_at, last_at FROM ${this.schema}.chain_heads WHERE seq > 0 ORDER BY chain`);
    return rows.map(toHead);
  }

  async head(chain: string, sql: Sql = this.db): Promise<ChainHead | undefined> {
    const rows = await sql.query<HeadRow>(`SELECT chain, seq::text, hash, first_at, last_at FROM ${this.schema}.chain_heads WHERE chain = $1 AND seq > 0`, [chain]);
    return rows[0] ? toHead(rows[0]) : undefined;
  }

  /** Entries of a chain with fromSeq <= seq <= toSeq, ascending, at most `limit`. */
  async entries(chain: string, fromSeq: number, toSeq: number, limit: number, sql: Sql = this.db): Promise<LedgerEntry[]> {
    const rows = await sql.query<EntryRow>(
      `SELECT ${ENTRY_COLUMNS} FROM ${this.schema}.ledger_entries e WHERE e.chain = $1 AND e.seq >= $2 AND e.seq <= $3 ORDER BY e.seq LIMIT $4`,
      [chain, fromSeq, toSeq, limit],
    );
    return rows.map(toEntry);
  }

  async entryByRecordId(recordId: string): Promise<LedgerEntry | undefined> {
    const rows = await this.db.query<EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM ${this.schema}.ledger_entries WHERE record_id = $1`, [recordId]);
    return rows[0] ? toEntry(rows[0]) : undefined;
  }

  async entryAt(chain: string, seq: number): Promise<LedgerEntry | undefined> {
    const rows = await this.db.query<EntryRow>(`SELECT ${ENTRY_COLUMNS} FROM ${this.schema}.ledger_entries WHERE chain = $1 AND seq = $2`, [chain, seq]);
    return rows[0] ? toEntry(rows[0]) : undefined;
  }

  /** Entry digests of (fromSeq, toSeq], for a chain proof. */
  async proofSteps(chain: string, afterSeq: number, toSeq: number): Promise<ProofStep[]> {
    const rows = await this.db.query<{ seq: string; entry_digest: string }>(
      `SELECT seq::text, entry_digest FROM ${this.schema}.ledger_entries e WHERE e.chain = $1 AND e.seq > $2 AND e.seq <= $3 ORDER BY e.seq`,
      [chain, afterSeq, toSeq],
    );
    return rows.map((r) => ({ seq: Number(r.seq), entryDigest: r.entry_digest }));
  }

  /** The seq range of entries appended within [from, to] (ledger time); whole chain when open. */
  async seqRange(chain: string, from: Date | undefined, to: Date | undefined): Promise<{ fromSeq: number; toSeq: number } | undefined> {
    const head = await this.head(chain);
    if (!head) return undefined;
    let fromSeq = 1;
    let toSeq = head.seq;
    if (from) {
      const r = await this.db.query<{ seq: string | null }>(`SELECT min(seq)::text AS seq FROM ${this.schema}.ledger_entries WHERE chain = $1 AND appended_at >= $2`, [chain, from]);
      fromSeq = r[0]?.seq ? Number(r[0].seq) : head.seq + 1;
    }
    if (to) {
      const r = await this.db.query<{ seq: string | null }>(`SELECT max(seq)::text AS seq FROM ${this.schema}.ledger_entries WHERE chain = $1 AND appended_at <= $2`, [chain, to]);
      toSeq = r[0]?.seq ? Number(r[0].seq) : 0;
    }
    return { fromSeq, toSeq };
  }

  async checkpointsInRange(chain: string, fromHeadSeq: number, toHeadSeq: number): Promise<SignedCheckpoint[]> {
    const rows = await this.db.query<CheckpointRow>(
      `SELECT ${CHECKPOINT_COLUMNS} FROM ${this.schema}.ledger_checkpoints c WHERE c.chain = $1 AND c.head_seq >= $2 AND c.head_seq <= $3 ORDER BY c.number`,
      [chain, fromHeadSeq, toHeadSeq],
    );
    return rows.map(toCheckpoint);
  }

  async checkpoint(chain: string, number: number): Promise<SignedCheckpoint | undefined> {
    const rows = await this.db.query<CheckpointRow>(`SELECT ${CHECKPOINT_COLUMNS} FROM ${this.schema}.ledger_checkpoints WHERE chain = $1 AND number = $2`, [chain, number]);
    return rows[0] ? toCheckpoint(rows[0]) : undefined;
  }

  async lastCheckpoint(chain: string, sql: Sql = this.db): Promise<SignedCheckpoint | undefined> {
    const rows = await sql.query<CheckpointRow>(`SELECT ${CHECKPOINT_COLUMNS} FROM ${this.schema}.ledger_checkpoints WHERE chain = $1 ORDER BY ledger_checkpoints.number DESC LIMIT 1`, [chain]);
    return rows[0] ? toCheckpoint(rows[0]) : undefined;
  }

  /** The first checkpoint whose head is at or after `seq` (the one that seals that entry). */
  async checkpointCovering(chain: string, seq: number): Promise<SignedCheckpoint | undefined> {
    const rows = await this.db.query<CheckpointRow>(
      `SELECT ${CHECKPOINT_COLUMNS} FROM ${this.schema}.ledger_checkpoints WHERE chain = $1 AND head_seq >= $2 ORDER BY ledger_checkpoints.number LIMIT 1`,
      [chain, seq],
    );
    return rows[0] ? toCheckpoint(rows[0]) : undefined;
  }

  async listCheckpoints(chain: string, limit: number): Promise<SignedCheckpoint[]> {
    const rows = await this.db.query<CheckpointRow>(`SELECT ${CHECKPOINT_COLUMNS} FROM ${this.schema}.ledger_checkpoints WHERE chain = $1 ORDER BY ledger_checkpoints.number DESC LIMIT $2`, [chain, limit]);
    return rows.map(toCheckpoint);
  }

  /** Each chain with its head and last checkpoint: what the checkpoint scheduler looks at. */
  async checkpointStatus(): Promise<{ chain: string; seq: number; lastNumber: number; lastHeadSeq: number; lastCreatedAt: Date | null }[]> {
    const rows = await this.db.query<{ chain: string; seq: string; number: string | null; head_seq: string | null; created_at: Date | null }>(
      `SELECT h.chain, h.seq::text, c.number::text, c.head_seq::text, c.created_at
         FROM ${this.schema}.chain_heads h
         LEFT JOIN LATERAL (SELECT number, head_seq, created_at FROM ${this.schema}.ledger_checkpoints c WHERE c.chain = h.chain ORDER BY number DESC LIMIT 1) c ON true
        WHERE h.seq > 0`,
    );
    return rows.map((r) => ({ chain: r.chain, seq: Number(r.seq), lastNumber: Number(r.number ?? 0), lastHeadSeq: Number(r.head_seq ?? 0), lastCreatedAt: r.created_at }));
  }

  /** Ledger-time range of entries (afterSeq, toSeq]. */
  async timeRange(tx: Sql, chain: string, afterSeq: number, toSeq: number): Promise<{ from: string | null; to: string | null }> {
    const rows = await tx.query<{ from_time: Date | null; to_time: Date | null }>(
      `SELECT min(appended_at) AS from_time, max(appended_at) AS to_time FROM ${this.schema}.ledger_entries WHERE chain = $1 AND seq > $2 AND seq <= $3`,
      [chain, afterSeq, toSeq],
    );
    const r = rows[0];
    return { from: r?.from_time ? r.from_time.toISOString() : null, to: r?.to_time ? r.to_time.toISOString() : null };
  }

  async insertCheckpoint(tx: Sql, cp: SignedCheckpoint): Promise<void> {
    await tx.query(
      `INSERT INTO ${this.schema}.ledger_checkpoints (chain, number, head_seq, head_hash, record_count, from_seq, from_time, to_time, created_at, previous_signature, key_id, algorithm, signature)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
      [cp.chain, cp.number, cp.headSeq, cp.headHash, cp.count, cp.fromSeq, cp.fromTime, cp.toTime, cp.createdAt, cp.previousSignature, cp.keyId, cp.algorithm, cp.signature],
    );
  }
}

function toHead(r: HeadRow): ChainHead {
  return { chain: r.chain, seq: Number(r.seq), hash: r.hash, firstAt: r.first_at.toISOString(), lastAt: r.last_at.toISOString() };
}

function toEntry(r: EntryRow): LedgerEntry {
  return { chain: r.chain, seq: Number(r.seq), recordId: r.record_id, appendedAt: r.appended_at.toISOString(), record: r.record, entryDigest: r.entry_digest, prevHash: r.prev_hash, hash: r.hash };
}

function toCheckpoint(r: CheckpointRow): SignedCheckpoint {
  return {
    version: 1,
    chain: r.chain,
    number: Number(r.number),
    headSeq: Number(r.head_seq),
    headHash: r.head_hash,
    count: Number(r.record_count),
    fromSeq: Number(r.from_seq),
    fromTime: r.from_time ? r.from_time.toISOString() : null,
    toTime: r.to_time ? r.to_time.toISOString() : null,
    createdAt: r.created_at.toISOString(),
    previousSignature: r.previous_signature,
    keyId: r.key_id,
    algorithm: 'ES256',
    signature: r.signature,
  };
}
