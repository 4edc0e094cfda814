import type { PgProjection, ProjectedEvent } from '#libs/projections';
import type { Sql } from '#libs/platform';
import type { LifecycleEventObserved } from '../../domain/audit.events.js';
import { classifyLifecycleEvent, evolveObjectState, vaultDirectoryEntry, type ObjectState } from '../../domain/object-state.js';
import { enqueueObjects } from '../../adapters/persistence/object-usage.repository.js';

/**
 * PostgreSQL projection `object_state`: the current state of every vault, secret, key and
 * certificate, folded from the lifecycle events the audit service observed (and stored in its
 * own event store). Run by the libs/projections ProjectionRunner; rebuildable from the first
 * observed event. Each changed object is queued for its search document.
 */
export function objectStateProjection(schema: string): PgProjection<LifecycleEventObserved> {
  return {
    kind: 'postgres',
    name: 'object-state',
    handles: ['LifecycleEventObserved'],
    async handle(events: readonly ProjectedEvent<LifecycleEventObserved>[], tx: Sql): Promise<void> {
      const touched = new Map<string, ObjectState>();
      const directory = await loadDirectory(tx, schema, events);
      for (const e of events) {
        const observed = e.data;
        const entry = vaultDirectoryEntry(observed);
        if (entry) {
          directory.set(`${observed.tenant}\u0000${entry.vaultId}`, entry.name);
          await tx.query(
            `INSERT INTO ${schema}.vault_directory (tenant, vault_id, name) VALUES ($1, $2, $3) ON CONFLICT (tenant, vault_id) DO UPDATE SET name = EXCLUDED.name`,
            [observed.tenant, entry.vaultId, entry.name],
          );
        }
        const c = classifyLifecycleEvent(observed, (tenant, vaultId) => directory.get(`${tenant}\u0000${vaultId}`));
        if (!c) continue;
        const key = `${observed.tenant}\u0000${c.ref.vault}\u0000${c.ref.kind}\u0000${c.ref.name}`;
        let current = touched.get(key);
        if (!current) {
          const rows = await tx.query<{ state: ObjectState }>(`SELECT state FROM ${schema}.object_state WHERE tenant = $1 AND vault = $2 AND kind = $3 AND name = $4 FOR UPDATE`, [
            observed.tenant,
            c.ref.vault,
            c.ref.kind,
            c.ref.name,
          ]);
          current = rows[0]?.state;
        }
        touched.set(key, evolveObjectState(current, observed, c));
      }
      if (touched.size === 0) return;
      const states = [...touched.values()];
      await tx.query(
        `INSERT INTO ${schema}.object_state (tenant, vault, kind, name, state, updated_at)
         SELECT t, v, k, n, s::jsonb, now() FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS u(t, v, k, n, s)
         ON CONFLICT (tenant, vault, kind, name) DO UPDATE SET state = EXCLUDED.state, updated_at = now()`,
        [states.map((s) => s.tenant), states.map((s) => s.vault), states.map((s) => s.kind), states.map((s) => s.name), states.map((s) => JSON.stringify(s))],
      );
      await enqueueObjects(tx, schema, states);
    },
    async reset(tx: Sql): Promise<void> {
      await tx.query(`DELETE FROM ${schema}.object_state`);
      await tx.query(`DELETE FROM ${schema}.vault_directory`);
    },
  };
}

const UUID_IN_STREAM = /^(?:secret|key|certificate)-([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})-/i;

/** The vault names already known for the vault ids this batch mentions. */
async function loadDirectory(tx: Sql, schema: string, events: readonly ProjectedEvent<LifecycleEventObserved>[]): Promise<Map<string, string>> {
  const wanted = new Map<string, { tenant: string; vaultId: string }>();
  for (const e of events) {
    const raw = e.data.data['vaultId'];
    const id = (typeof raw === 'string' ? raw : UUID_IN_STREAM.exec(e.data.subject)?.[1])?.toLowerCase();
    if (id) wanted.set(`${e.data.tenant}\u0000${id}`, { tenant: e.data.tenant, vaultId: id });
  }
  const map = new Map<string, string>();
  if (wanted.size === 0) return map;
  const list = [...wanted.values()];
  const rows = await tx.query<{ tenant: string; vault_id: string; name: string }>(
    `SELECT d.tenant, d.vault_id, d.name FROM ${schema}.vault_directory d JOIN unnest($1::text[], $2::text[]) AS u(tenant, vault_id) USING (tenant, vault_id)`,
    [list.map((w) => w.tenant), list.map((w) => w.vaultId)],
  );
  for (const r of rows) map.set(`${r.tenant}\u0000${r.vault_id}`, r.name);
  return map;
}
