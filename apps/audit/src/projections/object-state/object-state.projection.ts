import { lifecycleContracts } from '#libs/contracts';
import type { PgProjection, ProjectedEvent } from '#libs/projections';
import type { Sql } from '#libs/platform';
import type { LifecycleEventObserved } from '../../domain/audit.events.js';
import { classifyLifecycleEvent, evolveObjectState, type ObjectState, type ObservedLifecycleEvent } from '../../domain/object-state.js';
import { enqueueObjects } from '../../adapters/persistence/object-usage.repository.js';

/**
 * PostgreSQL projection `object_state`: the current state of every vault, secret, key and
 * certificate, folded from the lifecycle contract events the audit service observed (and
 * stored in its own event store), by type. Run by the libs/projections ProjectionRunner; rebuildable from the first
 * observed event. Each changed object is queued for its search document.
 */
export function objectStateProjection(schema: string): PgProjection<LifecycleEventObserved> {
  return {
    kind: 'postgres',
    name: 'object-state',
    handles: ['LifecycleEventObserved'],
    async handle(events: readonly ProjectedEvent<LifecycleEventObserved>[], tx: Sql): Promise<void> {
      const touched = new Map<string, ObjectState>();
      for (const e of events) {
        const { message: stored, ...where } = e.data;
        // Pre-contract observations (v1, upcast with no message) are kept but not folded.
        if (!stored) continue;
        // Stored at the version current when observed: brought to today's version of its contract.
        const observed: ObservedLifecycleEvent = { ...where, message: lifecycleContracts.parse(stored.type, stored.schemaVersion, stored.data) };
        const c = classifyLifecycleEvent(observed.message);
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
      // No longer written (contracts name their vault); emptied so a rebuild leaves nothing stale.
      await tx.query(`DELETE FROM ${schema}.vault_directory`);
    },
  };
}
