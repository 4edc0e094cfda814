import type { Logger } from 'pino';
import { decideAndAppend, type EventStore } from '#libs/eventstore';
import { fold } from '#libs/kernel';
import type { Database } from '#libs/platform';
import type { VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import {
  POOL_SETTINGS,
  poolAdministrationBatchDecider,
  restoreCommandsFor,
  poolAdministrationDecider,
  type PoolAdministrationCommand,
  type PoolAdministrationState,
} from '../../domain/pool-administration/pool-administration.decider.js';
import { poolAdministrationStreamId, type PoolAdministrationEvent, type PoolRoleAssignment, type PoolRoleDefinition } from '../../domain/pool-administration/pool-administration.events.js';
import type { AccessControl } from '../access/access-control.js';
import type { Caller } from '../access/caller.js';

export type PoolSetting = { readonly name: string; readonly type: 'boolean'; readonly value: string };

/**
 * A Managed HSM pool's administration plane: its local role assignments, custom role
 * definitions and settings (load → decide → append with the request's audit record, one
 * transaction). Enforcement: after each append the pool's new state goes into the access
 * model at once, so this instance enforces it before the answer leaves; every instance also
 * compares the pools' stream versions (table `managed_hsm_administration`) every
 * `refreshMs` and folds the streams that moved — a change made elsewhere is enforced within
 * that interval. Pools purged meanwhile drop out of the model.
 */
export class PoolAdministrationService {
  private timer: NodeJS.Timeout | undefined;
  private loaded = false;
  private refreshing: Promise<void> | undefined;

  constructor(
    private readonly store: EventStore,
    private readonly db: Database,
    private readonly access: AccessControl,
    private readonly logger: Logger,
    private readonly refreshMs = 250,
  ) {}

  /** False until every pool's administration has been loaded once (the gate answers 503 meanwhile). */
  get ready(): boolean {
    return this.loaded;
  }

  start(): void {
    if (this.timer) return;
    const tick = (): void => {
      this.refresh().catch((err: unknown) => this.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'pool administration not refreshed; retrying'));
    };
    tick();
    this.timer = setInterval(tick, this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Folds the streams of pools whose version moved; forgets pools that no longer exist. */
  refresh(): Promise<void> {
    this.refreshing ??= this.doRefresh().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async doRefresh(): Promise<void> {
    const s = this.db.schema;
    const rows = await this.db.query<{ pool_id: string; stream_version: string; name_key: string | null }>(
      `SELECT a.pool_id::text, a.stream_version::text, m.name_key FROM ${s}.managed_hsm_administration a LEFT JOIN ${s}.managed_hsms m ON m.vault_id = a.pool_id`,
    );
    const seen = new Set<string>();
    for (const r of rows) {
      if (r.name_key === null) continue;
      seen.add(r.pool_id);
      const version = Number(r.stream_version);
      if (version > this.access.pools.versionOf(r.pool_id)) {
        const { state, version: folded } = await this.load(r.pool_id);
        this.access.pools.replace(r.pool_id, r.name_key, folded, state);
      }
    }
    for (const id of this.access.pools.poolIds()) if (!seen.has(id)) this.access.pools.remove(id);
    this.loaded = true;
  }

  private async load(poolId: string): Promise<{ state: PoolAdministrationState; version: number }> {
    const history = await this.store.readStream<PoolAdministrationEvent>(poolAdministrationStreamId(poolId));
    return { state: fold(poolAdministrationDecider.evolve, poolAdministrationDecider.initialState(), history), version: history.at(-1)?.streamVersion ?? 0 };
  }

  /** The pool's administration as its event stream has it now (reads). */
  async state(pool: VaultRecord): Promise<PoolAdministrationState> {
    return (await this.load(pool.vaultId)).state;
  }

  async settings(pool: VaultRecord): Promise<PoolSetting[]> {
    const state = await this.state(pool);
    return Object.entries(POOL_SETTINGS).map(([name, spec]) => ({ name, type: spec.type, value: state.settings.get(name) ?? spec.initial }));
  }

  createAssignment(pool: VaultRecord, a: PoolRoleAssignment & { readonly builtInRole: boolean }, caller: Caller): Promise<PoolAdministrationState> {
    return this.run(pool, { type: 'CreateRoleAssignment', data: { poolId: pool.vaultId, ...a } }, caller, 201);
  }

  deleteAssignment(pool: VaultRecord, assignmentId: string, caller: Caller): Promise<PoolAdministrationState> {
    return this.run(pool, { type: 'DeleteRoleAssignment', data: { poolId: pool.vaultId, assignmentId } }, caller, 200);
  }

  setDefinition(pool: VaultRecord, d: PoolRoleDefinition, caller: Caller): Promise<PoolAdministrationState> {
    return this.run(pool, { type: 'SetRoleDefinition', data: { poolId: pool.vaultId, ...d } }, caller, 201);
  }

  deleteDefinition(pool: VaultRecord, roleDefinitionId: string, caller: Caller): Promise<PoolAdministrationState> {
    return this.run(pool, { type: 'DeleteRoleDefinition', data: { poolId: pool.vaultId, roleDefinitionId } }, caller, 200);
  }

  updateSetting(pool: VaultRecord, setting: string, value: string, caller: Caller): Promise<PoolAdministrationState> {
    return this.run(pool, { type: 'UpdateSetting', data: { poolId: pool.vaultId, setting, value } }, caller, 200);
  }

  /**
   * Restores a pool's administration (e.g. from a full backup of another pool) into `pool`:
   * every custom role definition, then every assignment and setting `snapshot` holds that `pool`
   * lacks, decided one by one and appended together (one transaction, the caller's record).
   * Additive: nothing `pool` holds is removed. Skipped, so that restoring twice, or into a pool
   * whose own administrator the backup also names, appends nothing twice and is not refused:
   * a definition equal to the one `pool` has, an assignment whose id `pool` already has, or
   * whose principal, role and scope an assignment of `pool` already grants, and a setting
   * already at its value. Built-in role ids are told by `isBuiltInRole` (libs/auth's catalogue).
   */
  async restore(pool: VaultRecord, snapshot: PoolAdministrationState, isBuiltInRole: (roleDefinitionId: string) => boolean, caller: Caller): Promise<PoolAdministrationState> {
    const current = await this.state(pool);
    const commands = restoreCommandsFor(pool.vaultId, current, snapshot, isBuiltInRole);
    return commands.length === 0 ? current : this.run(pool, commands, caller, 200);
  }

  /**
   * Decides `restore` against `pool`'s present state without appending: throws the DomainError
   * the restore would meet (e.g. a backed-up definition narrower than an assignment of `pool`
   * needs), so a full restore can refuse before it writes any key.
   */
  async checkRestore(pool: VaultRecord, snapshot: PoolAdministrationState, isBuiltInRole: (roleDefinitionId: string) => boolean): Promise<void> {
    const current = await this.state(pool);
    const commands = restoreCommandsFor(pool.vaultId, current, snapshot, isBuiltInRole);
    if (commands.length > 0) poolAdministrationBatchDecider.decide({ type: 'PoolAdministrationBatch', data: { commands } }, current);
  }

  private async run(pool: VaultRecord, command: PoolAdministrationCommand | readonly PoolAdministrationCommand[], caller: Caller, successStatus: number): Promise<PoolAdministrationState> {
    const commands = Array.isArray(command) ? command : [command as PoolAdministrationCommand];
    const audit = caller.audit;
    const s = this.db.schema;
    let version = 0;
    const result = await decideAndAppend(this.store, poolAdministrationBatchDecider, poolAdministrationStreamId(pool.vaultId), { type: 'PoolAdministrationBatch', data: { commands } }, {
      metadata: { actor: caller.objectId, tenant: caller.tenantId, correlationId: caller.correlationId },
      object: { vault: pool.nameKey, collection: null, name: pool.nameKey },
      ...(audit && !audit.written ? { audit: [audit.forCommit(successStatus)] } : {}),
      inTransaction: async (tx, recorded) => {
        version = recorded.at(-1)?.streamVersion ?? 0;
        await tx.query(
          `INSERT INTO ${s}.managed_hsm_administration (pool_id, stream_version) VALUES ($1, $2)
           ON CONFLICT (pool_id) DO UPDATE SET stream_version = GREATEST(${s}.managed_hsm_administration.stream_version, EXCLUDED.stream_version)`,
          [pool.vaultId, version],
        );
      },
    });
    if (audit && !audit.written) audit.committed();
    // Enforced here before the answer leaves; the other instances follow within refreshMs.
    this.access.pools.replace(pool.vaultId, pool.nameKey, version, result.state);
    return result.state;
  }
}
