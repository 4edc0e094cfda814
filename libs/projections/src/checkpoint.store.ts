import { START, type GlobalCheckpoint } from '#libs/eventstore';
import type { Sql } from '#libs/platform';

/** A projection's position in commit order, and (for Elasticsearch) the index it writes to. */
export type StoredCheckpoint = { readonly checkpoint: GlobalCheckpoint; readonly target: string | null };

export async function loadCheckpoint(sql: Sql, schema: string, name: string): Promise<StoredCheckpoint | null> {
  const rows = await sql.query<{ transaction_id: string; position: string; target: string | null }>(
    `SELECT transaction_id::text, position::text, target FROM ${schema}.checkpoints WHERE name = $1`,
    [name],
  );
  const r = rows[0];
  return r ? { checkpoint: { transactionId: r.transaction_id, position: r.position }, target: r.target } : null;
}

export async function saveCheckpoint(sql: Sql, schema: string, name: string, checkpoint: GlobalCheckpoint, target: string | null): Promise<void> {
  await sql.query(
    `INSERT INTO ${schema}.checkpoints (name, transaction_id, position, target) VALUES ($1, $2::xid8, $3::bigint, $4)
     ON CONFLICT (name) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, position = EXCLUDED.position, target = EXCLUDED.target, updated_at = now()`,
    [name, checkpoint.transactionId, checkpoint.position, target],
  );
}

/**
 * Serialises everyone who moves one projection (its runners in any process, and the final
 * phase of a rebuild) for the rest of the transaction. Takes no transaction id, so it does
 * not hold back commit-order readers.
 */
export async function lockProjection(tx: Sql, schema: string, name: string): Promise<void> {
  await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`projection:${schema}:${name}`]);
}

export const checkpointOrStart = (c: StoredCheckpoint | null): GlobalCheckpoint => c?.checkpoint ?? START;
