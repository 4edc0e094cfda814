import { lifecycleContracts } from '#libs/contracts';
import type { PgProjection, ProjectedEvent } from '#libs/projections';
import type { Sql } from '#libs/platform';
import type { LifecycleEventObserved } from '../../domain/audit.events.js';
import { classifyLifecycleEvent, evolveObjectState, type ClassifiedEvent, type ObjectState, type ObservedLifecycleEvent } from '../../domain/object-state.js';
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
      const folds: { key: string; observed: ObservedLifecycleEvent; c: ClassifiedEvent }[] = [];
      const refs = new Map<string, { tenant: string; vault: string; kind: string; name: string }>();
      for (const e of events) {
        const { message: stored, ...where } = e.data;
        // Pre-contract observations (v1, upcast with no message) are kept but not folded.
        if (!stored) continue;
        // Stored at the version current when observed: brought to today's version of its contract.
        const observed: ObservedLifecycleEvent = { ...where, message: lifecycleContracts.parse(stored.type, stored.schemaVersion, stored.data) };
        const c = classifyLifecycleEvent(observed.message);
        const key = objectKey(observed.tenant, c.ref.vault, c.ref.kind, c.ref.name);
        folds.push({ key, observed, c });
        refs.set(key, { tenant: observed.tenant, vault: c.ref.vault, kind: c.ref.kind, name: c.ref.name });
      }
      if (folds.length === 0) return;
      // Every object the batch touches, read and locked in ONE statement (in key order).
      const list = [...refs.values()];
      const rows = await tx.query<{ tenant: string; vault: string; kind: string; name: string; state: ObjectState }>(
        `SELECT o.tenant, o.vault, o.kind, o.name, o.state FROM ${schema}.object_state o
           JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS u(t, v, k, n) ON o.tenant = u.t AND o.vault = u.v AND o.kind = u.k AND o.name = u.n
          ORDER BY o.tenant, o.vault, o.kind, o.name
            FOR UPDATE OF o`,
        [list.map((r) => r.tenant), list.map((r) => r.vault), list.map((r) => r.kind), list.map((r) => r.name)],
      );
      const touched = new Map<string, ObjectState | undefined>();
      for (const r of rows) touched.set(objectKey(r.tenant, r.vault, r.kind, r.name), r.state);
      for (const f of folds) touched.set(f.key, evolveObjectState(touched.get(f.key), f.observed, f.c));
      const states = [...refs.keys()].map((key) => touched.get(key) as ObjectState);
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

const objectKey = (tenant: string, vault: string, kind: string, name: string): string => `${tenant}\u0000${vault}\u0000${kind}\u0000${name}`;
