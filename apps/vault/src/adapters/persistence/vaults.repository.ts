import { assertNever } from '#libs/kernel';
import { type RecordedEvent } from '#libs/eventstore';
import type { Database, Row, Sql } from '#libs/platform';
import type { ContainerKind, VaultEvent, VaultTags } from '../../domain/vault/vault.events.js';

/** A container: a key vault, or a Managed HSM pool (`kind`). Same lifecycle, separate namespaces. */
export type VaultRecord = {
  readonly kind: ContainerKind;
  readonly vaultId: string;
  readonly name: string;
  readonly nameKey: string;
  readonly tenantId: string;
  readonly retentionDays: number;
  readonly purgeProtection: boolean;
  readonly tags: VaultTags;
  readonly status: 'active' | 'deleted';
  readonly created: number;
  readonly updated: number;
  readonly deletedDate: number | null;
  readonly scheduledPurgeDate: number | null;
};

type DbRow = Row & {
  name_key: string;
  vault_id: string;
  name: string;
  tenant_id: string;
  retention_days: number;
  purge_protection: boolean;
  tags: VaultTags;
  status: 'active' | 'deleted';
  created: string;
  updated: string;
  deleted_date: string | null;
  scheduled_purge_date: string | null;
};

const COLUMNS = `name_key, vault_id::text, name, tenant_id, retention_days, purge_protection, tags, status, created::text, updated::text, deleted_date::text, scheduled_purge_date::text`;

function toRecord(r: DbRow, kind: ContainerKind): VaultRecord {
  return {
    kind,
    vaultId: r.vault_id,
    name: r.name,
    nameKey: r.name_key,
    tenantId: r.tenant_id,
    retentionDays: r.retention_days,
    purgeProtection: r.purge_protection,
    tags: r.tags,
    status: r.status,
    created: Number(r.created),
    updated: Number(r.updated),
    deletedDate: r.deleted_date === null ? null : Number(r.deleted_date),
    scheduledPurgeDate: r.scheduled_purge_date === null ? null : Number(r.scheduled_purge_date),
  };
}

/** The RBAC scope of a container: `/vaults/{name}` or `/managedHSMs/{name}` (lower-cased). */
export const scopeOf = (c: Pick<VaultRecord, 'kind' | 'nameKey'>): string => (c.kind === 'managedHsm' ? `/managedHSMs/${c.nameKey}` : `/vaults/${c.nameKey}`);

/**
 * The container segment of a crypto service reference: a vault's name, or `{pool}.managedhsm`
 * for a pool (container names never hold a dot, so a pool's keys never meet a vault's).
 */
export const cryptoVaultOf = (c: Pick<VaultRecord, 'kind' | 'nameKey'>): string => (c.kind === 'managedHsm' ? `${c.nameKey}.managedhsm` : c.nameKey);

/**
 * The read model of one kind of container (`vaults`, or `managed_hsms` for pools), updated
 * inside each append's transaction.
 */
export class VaultsRepository {
  private readonly table: string;

  constructor(
    private readonly db: Database,
    readonly kind: ContainerKind = 'vault',
  ) {
    this.table = kind === 'managedHsm' ? 'managed_hsms' : 'vaults';
  }

  async find(nameKey: string): Promise<VaultRecord | undefined> {
    const rows = await this.db.query<DbRow>(`SELECT ${COLUMNS} FROM ${this.db.schema}.${this.table} WHERE name_key = $1`, [nameKey]);
    return rows[0] ? toRecord(rows[0], this.kind) : undefined;
  }

  async findById(vaultId: string): Promise<VaultRecord | undefined> {
    const rows = await this.db.query<DbRow>(`SELECT ${COLUMNS} FROM ${this.db.schema}.${this.table} WHERE vault_id = $1`, [vaultId]);
    return rows[0] ? toRecord(rows[0], this.kind) : undefined;
  }

  async list(status: 'active' | 'deleted'): Promise<VaultRecord[]> {
    const rows = await this.db.query<DbRow>(`SELECT ${COLUMNS} FROM ${this.db.schema}.${this.table} WHERE status = $1 ORDER BY name_key`, [status]);
    return rows.map((r) => toRecord(r, this.kind));
  }

  async dueForPurge(now: number, limit: number): Promise<string[]> {
    const rows = await this.db.query<Row & { name_key: string }>(
      `SELECT name_key FROM ${this.db.schema}.${this.table} WHERE status = 'deleted' AND scheduled_purge_date <= $1 ORDER BY scheduled_purge_date LIMIT $2`,
      [now, limit],
    );
    return rows.map((r) => r.name_key);
  }

  async project(tx: Sql, nameKey: string, events: readonly RecordedEvent<VaultEvent>[]): Promise<void> {
    const s = this.db.schema;
    for (const e of events) {
      switch (e.type) {
        case 'VaultCreated': {
          const d = e.data;
          await tx.query(
            `INSERT INTO ${s}.${this.table} (name_key, vault_id, name, tenant_id, retention_days, purge_protection, tags, status, created, updated, stream_version)
             VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, 'active', $8, $8, $9)`,
            [nameKey, d.vaultId, d.name, d.tenantId, d.retentionDays, d.purgeProtection, JSON.stringify(d.tags), d.created, e.streamVersion],
          );
          break;
        }
        case 'VaultUpdated':
          await tx.query(`UPDATE ${s}.${this.table} SET tags = $2::jsonb, purge_protection = $3, updated = $4, stream_version = $5 WHERE name_key = $1`, [
            nameKey,
            JSON.stringify(e.data.tags),
            e.data.purgeProtection,
            e.data.updated,
            e.streamVersion,
          ]);
          break;
        case 'VaultDeleted':
          await tx.query(`UPDATE ${s}.${this.table} SET status = 'deleted', deleted_date = $2, scheduled_purge_date = $3, stream_version = $4 WHERE name_key = $1`, [
            nameKey,
            e.data.deletedDate,
            e.data.scheduledPurgeDate,
            e.streamVersion,
          ]);
          break;
        case 'VaultRecovered':
          await tx.query(`UPDATE ${s}.${this.table} SET status = 'active', deleted_date = NULL, scheduled_purge_date = NULL, stream_version = $2 WHERE name_key = $1`, [nameKey, e.streamVersion]);
          break;
        case 'VaultPurged':
          await tx.query(`DELETE FROM ${s}.${this.table} WHERE name_key = $1`, [nameKey]);
          break;
        default:
          assertNever(e, 'vault event');
      }
    }
  }
}
