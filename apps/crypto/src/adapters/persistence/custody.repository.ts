import type { Database, Sql } from '#libs/platform';

export interface VaultKekRow {
  readonly kekId: string;
  readonly tenant: string;
  readonly vault: string;
  readonly rootId: string;
  readonly wrapped: Buffer;
}

export interface DataKeyRow {
  readonly keyId: string;
  readonly tenant: string;
  readonly vault: string;
  readonly collection: string;
  readonly name: string;
  readonly version: string;
  readonly kekId: string;
  /** null once destroyed. */
  readonly wrapped: Buffer | null;
}

type KekDbRow = { kek_id: string; tenant: string; vault: string; root_id: string; wrapped: Buffer };
const kekOf = (r: KekDbRow): VaultKekRow => ({ kekId: r.kek_id, tenant: r.tenant, vault: r.vault, rootId: r.root_id, wrapped: r.wrapped });

/** Vault KEKs and data keys: the mutable custody tables (wrapped material only). */
export class CustodyRepository {
  constructor(private readonly db: Database) {}

  private get s(): string {
    return this.db.schema;
  }

  async activeKek(tenant: string, vault: string): Promise<VaultKekRow | null> {
    const rows = await this.db.query<KekDbRow>(`SELECT kek_id, tenant, vault, root_id, wrapped FROM ${this.s}.vault_keks WHERE tenant = $1 AND vault = $2 AND active`, [tenant, vault]);
    return rows[0] ? kekOf(rows[0]) : null;
  }

  async kekById(kekId: string): Promise<VaultKekRow | null> {
    const rows = await this.db.query<KekDbRow>(`SELECT kek_id, tenant, vault, root_id, wrapped FROM ${this.s}.vault_keks WHERE kek_id = $1`, [kekId]);
    return rows[0] ? kekOf(rows[0]) : null;
  }

  /** Inserts the vault's active KEK unless another instance did first; false when it lost the race. */
  async insertActiveKek(row: VaultKekRow): Promise<boolean> {
    const rows = await this.db.query(
      `INSERT INTO ${this.s}.vault_keks (kek_id, tenant, vault, root_id, wrapped) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (tenant, vault) WHERE active DO NOTHING RETURNING kek_id`,
      [row.kekId, row.tenant, row.vault, row.rootId, row.wrapped],
    );
    return rows.length === 1;
  }

  /** Whether any KEK was ever wrapped here (then a missing root key object is an error, not a first start). */
  async hasAnyKek(): Promise<boolean> {
    const rows = await this.db.query(`SELECT 1 FROM ${this.s}.vault_keks LIMIT 1`);
    return rows.length > 0;
  }

  async insertDataKey(row: DataKeyRow & { readonly wrapped: Buffer }): Promise<void> {
    await this.db.query(
      `INSERT INTO ${this.s}.data_keys (key_id, tenant, vault, collection, name, version, kek_id, wrapped) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [row.keyId, row.tenant, row.vault, row.collection, row.name, row.version, row.kekId, row.wrapped],
    );
  }

  async deleteDataKey(keyId: string): Promise<void> {
    await this.db.query(`DELETE FROM ${this.s}.data_keys WHERE key_id = $1`, [keyId]);
  }

  async dataKey(keyId: string): Promise<DataKeyRow | null> {
    const rows = await this.db.query<{ key_id: string; tenant: string; vault: string; collection: string; name: string; version: string; kek_id: string; wrapped: Buffer | null }>(
      `SELECT key_id, tenant, vault, collection, name, version, kek_id, wrapped FROM ${this.s}.data_keys WHERE key_id = $1`,
      [keyId],
    );
    const r = rows[0];
    return r ? { keyId: r.key_id, tenant: r.tenant, vault: r.vault, collection: r.collection, name: r.name, version: r.version, kekId: r.kek_id, wrapped: r.wrapped } : null;
  }

  /**
   * Destroys data keys of one object: the given ids (which must belong to it), or all of its
   * keys (all versions when `version` is ''). Returns how many were destroyed now.
   */
  async destroyDataKeys(ref: { tenant: string; vault: string; collection: string; name: string; version: string }, keyIds: readonly string[], sql: Sql = this.db): Promise<number> {
    const rows = await sql.query(
      `UPDATE ${this.s}.data_keys SET wrapped = NULL, destroyed_at = now()
        WHERE tenant = $1 AND vault = $2 AND collection = $3 AND name = $4
          AND ($5 = '' OR version = $5)
          AND (cardinality($6::text[]) = 0 OR key_id = ANY($6::text[]))
          AND wrapped IS NOT NULL
        RETURNING key_id`,
      [ref.tenant, ref.vault, ref.collection, ref.name, ref.version, keyIds],
    );
    return rows.length;
  }
}
