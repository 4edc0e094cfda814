import type { AuditRecord } from '#libs/contracts';
import type { Database, Sql } from '#libs/platform';
import { objectRefOfRecord } from '../../domain/object-ref.js';

type Usage = { tenant: string; vault: string; kind: string; name: string; uses: number; failures: number; lastAt: string; lastOperation: string; lastCaller: string; byOperation: Record<string, number> };

/**
 * How vault objects are used, from the audit records: successful uses, failures, last use
 * (time, operation, caller) and counts per operation. Updated in the ledger's transaction, so
 * a record counts exactly once; every touched object is queued for its search document (once
 * while it waits there).
 */
export class ObjectUsageRepository {
  constructor(readonly db: Database) {}

  async apply(tx: Sql, records: readonly AuditRecord[]): Promise<number> {
    const byKey = new Map<string, Usage>();
    for (const r of records) {
      const ref = objectRefOfRecord(r);
      if (!ref) continue;
      const key = `${r.tenant}\u0000${ref.vault}\u0000${ref.kind}\u0000${ref.name}`;
      const u = byKey.get(key) ?? { tenant: r.tenant, vault: ref.vault, kind: ref.kind, name: ref.name, uses: 0, failures: 0, lastAt: '', lastOperation: '', lastCaller: '', byOperation: {} };
      if (r.resultType === 'Success') u.uses++;
      else u.failures++;
      u.byOperation[r.operationName] = (u.byOperation[r.operationName] ?? 0) + 1;
      const at = new Date(r.time).toISOString();
      if (at >= u.lastAt) {
        u.lastAt = at;
        u.lastOperation = r.operationName;
        u.lastCaller = r.identity?.oid ?? r.identity?.appid ?? '';
      }
      byKey.set(key, u);
    }
    if (byKey.size === 0) return 0;
    const list = [...byKey.values()];
    const s = this.db.schema;
    // The counters and the object's place in the search queue: one statement. An object already
    // queued and not yet taken by the object indexer is not queued again: its row is locked
    // instead (the indexer skips locked rows, so it takes the key only after this commit and
    // reads the counters written here); a row the indexer is taking (locked, SKIP LOCKED) or
    // has taken meanwhile does not count, and the key is queued anew. Under load that is one
    // queue row per object per indexer pass instead of one per object per ledger batch.
    await tx.query(
      `WITH used AS (
         INSERT INTO ${s}.object_usage AS o (tenant, vault, kind, name, use_count, failure_count, last_used_at, last_operation, last_caller, by_operation)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bigint[], $6::bigint[], $7::timestamptz[], $8::text[], $9::text[], $10::jsonb[])
         ON CONFLICT (tenant, vault, kind, name) DO UPDATE SET
           use_count = o.use_count + EXCLUDED.use_count,
           failure_count = o.failure_count + EXCLUDED.failure_count,
           last_used_at = GREATEST(o.last_used_at, EXCLUDED.last_used_at),
           last_operation = CASE WHEN o.last_used_at IS NULL OR EXCLUDED.last_used_at >= o.last_used_at THEN EXCLUDED.last_operation ELSE o.last_operation END,
           last_caller = CASE WHEN o.last_used_at IS NULL OR EXCLUDED.last_used_at >= o.last_used_at THEN EXCLUDED.last_caller ELSE o.last_caller END,
           by_operation = (SELECT coalesce(jsonb_object_agg(k, coalesce((o.by_operation->>k)::bigint, 0) + coalesce((EXCLUDED.by_operation->>k)::bigint, 0)), '{}'::jsonb)
                             FROM jsonb_object_keys(o.by_operation || EXCLUDED.by_operation) AS k)
       ), queued AS (
         SELECT q.tenant, q.vault, q.kind, q.name FROM ${s}.object_index_queue q
          WHERE (q.tenant, q.vault, q.kind, q.name) IN (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]))
          FOR UPDATE SKIP LOCKED
       )
       INSERT INTO ${s}.object_index_queue (tenant, vault, kind, name)
       SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(tenant, vault, kind, name)
        WHERE NOT EXISTS (SELECT 1 FROM queued q WHERE q.tenant = k.tenant AND q.vault = k.vault AND q.kind = k.kind AND q.name = k.name)`,
      [
        list.map((u) => u.tenant),
        list.map((u) => u.vault),
        list.map((u) => u.kind),
        list.map((u) => u.name),
        list.map((u) => u.uses),
        list.map((u) => u.failures),
        list.map((u) => u.lastAt),
        list.map((u) => u.lastOperation),
        list.map((u) => u.lastCaller),
        list.map((u) => JSON.stringify(u.byOperation)),
      ],
    );
    return list.length;
  }

  /** Empties the usage table; with the lock, ledger appends wait until the caller's transaction ends. */
  async resetLocked(tx: Sql): Promise<void> {
    await tx.query(`LOCK TABLE ${this.db.schema}.object_usage IN EXCLUSIVE MODE`);
    await tx.query(`DELETE FROM ${this.db.schema}.object_usage`);
  }
}

export async function enqueueObjects(tx: Sql, schema: string, keys: readonly { tenant: string; vault: string; kind: string; name: string }[]): Promise<void> {
  if (keys.length === 0) return;
  await tx.query(`INSERT INTO ${schema}.object_index_queue (tenant, vault, kind, name) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])`, [
    keys.map((k) => k.tenant),
    keys.map((k) => k.vault),
    keys.map((k) => k.kind),
    keys.map((k) => k.name),
  ]);
}
