import type { Database, Row, Sql } from '#libs/platform';
import type { AdministratorDetails, Contact } from '../../domain/certificate-issuer/issuer.rules.js';

/** The sealed password of an issuer: the envelope and the data key that opens it. */
export type SealedPassword = { readonly ciphertext: string; readonly keyId: string; readonly keyRef: string };

/** An issuer as stored: never the password in clear. */
export type IssuerRow = {
  readonly vaultId: string;
  readonly nameKey: string;
  readonly name: string;
  readonly provider: string;
  readonly accountId: string | null;
  readonly password: SealedPassword | null;
  readonly organization: { readonly id: string | null; readonly admin_details: readonly AdministratorDetails[] } | null;
  readonly enabled: boolean;
  readonly created: number;
  readonly updated: number;
};

export type ContactsRow = { readonly contacts: readonly Contact[]; readonly updated: number };

export type IssuingCaRow = { readonly tenantId: string; readonly keyVault: string; readonly keyName: string; readonly keyVersion: string; readonly certificate: Buffer; readonly created: number };

type IssuerDbRow = Row & {
  vault_id: string;
  name_key: string;
  name: string;
  provider: string;
  account_id: string | null;
  password_sealed: string | null;
  password_key_id: string | null;
  password_key_ref: string | null;
  org_details: IssuerRow['organization'];
  enabled: boolean;
  created: string;
  updated: string;
};

const ISSUER_COLUMNS = 'vault_id::text, name_key, name, provider, account_id, password_sealed, password_key_id, password_key_ref, org_details, enabled, created::text, updated::text';

function toIssuer(r: IssuerDbRow): IssuerRow {
  return {
    vaultId: r.vault_id,
    nameKey: r.name_key,
    name: r.name,
    provider: r.provider,
    accountId: r.account_id,
    password: r.password_sealed !== null && r.password_key_id !== null && r.password_key_ref !== null ? { ciphertext: r.password_sealed, keyId: r.password_key_id, keyRef: r.password_key_ref } : null,
    organization: r.org_details,
    enabled: r.enabled,
    created: Number(r.created),
    updated: Number(r.updated),
  };
}

/** Certificate issuers, contacts and the tenants' issuing CAs (migration 005). */
export class CertificateIssuersRepository {
  constructor(private readonly db: Database) {}

  get schema(): string {
    return this.db.schema;
  }

  async find(vaultId: string, nameKey: string, sql: Sql = this.db, forUpdate = false): Promise<IssuerRow | null> {
    const rows = await sql.query<IssuerDbRow>(`SELECT ${ISSUER_COLUMNS} FROM ${this.schema}.certificate_issuers WHERE vault_id = $1 AND name_key = $2${forUpdate ? ' FOR UPDATE' : ''}`, [vaultId, nameKey]);
    return rows[0] ? toIssuer(rows[0]) : null;
  }

  /** Issuers in name order after `after` (exclusive), at most `limit`. */
  async list(vaultId: string, after: string, limit: number): Promise<IssuerRow[]> {
    const rows = await this.db.query<IssuerDbRow>(`SELECT ${ISSUER_COLUMNS} FROM ${this.schema}.certificate_issuers WHERE vault_id = $1 AND name_key > $2 ORDER BY name_key LIMIT $3`, [vaultId, after, limit]);
    return rows.map(toIssuer);
  }

  async upsert(tx: Sql, row: IssuerRow): Promise<void> {
    await tx.query(
      `INSERT INTO ${this.schema}.certificate_issuers (vault_id, name_key, name, provider, account_id, password_sealed, password_key_id, password_key_ref, org_details, enabled, created, updated)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12)
       ON CONFLICT (vault_id, name_key) DO UPDATE SET provider = EXCLUDED.provider, account_id = EXCLUDED.account_id, password_sealed = EXCLUDED.password_sealed,
         password_key_id = EXCLUDED.password_key_id, password_key_ref = EXCLUDED.password_key_ref, org_details = EXCLUDED.org_details, enabled = EXCLUDED.enabled,
         created = EXCLUDED.created, updated = EXCLUDED.updated`,
      [
        row.vaultId,
        row.nameKey,
        row.name,
        row.provider,
        row.accountId,
        row.password?.ciphertext ?? null,
        row.password?.keyId ?? null,
        row.password?.keyRef ?? null,
        row.organization === null ? null : JSON.stringify(row.organization),
        row.enabled,
        row.created,
        row.updated,
      ],
    );
  }

  async remove(tx: Sql, vaultId: string, nameKey: string): Promise<void> {
    await tx.query(`DELETE FROM ${this.schema}.certificate_issuers WHERE vault_id = $1 AND name_key = $2`, [vaultId, nameKey]);
  }

  async contacts(vaultId: string, sql: Sql = this.db): Promise<ContactsRow | null> {
    const rows = await sql.query<Row & { contacts: Contact[]; updated: string }>(`SELECT contacts, updated::text FROM ${this.schema}.certificate_contacts WHERE vault_id = $1`, [vaultId]);
    return rows[0] ? { contacts: rows[0].contacts, updated: Number(rows[0].updated) } : null;
  }

  async setContacts(tx: Sql, vaultId: string, contacts: readonly Contact[], now: number): Promise<void> {
    await tx.query(
      `INSERT INTO ${this.schema}.certificate_contacts (vault_id, contacts, updated) VALUES ($1, $2::jsonb, $3)
       ON CONFLICT (vault_id) DO UPDATE SET contacts = EXCLUDED.contacts, updated = EXCLUDED.updated`,
      [vaultId, JSON.stringify(contacts), now],
    );
  }

  /** Deletes the contacts and returns them (null: there were none). */
  async deleteContacts(tx: Sql, vaultId: string): Promise<ContactsRow | null> {
    const rows = await tx.query<Row & { contacts: Contact[]; updated: string }>(`DELETE FROM ${this.schema}.certificate_contacts WHERE vault_id = $1 RETURNING contacts, updated::text`, [vaultId]);
    return rows[0] ? { contacts: rows[0].contacts, updated: Number(rows[0].updated) } : null;
  }

  async issuingCa(tenantId: string): Promise<IssuingCaRow | null> {
    const rows = await this.db.query<Row & { tenant_id: string; key_vault: string; key_name: string; key_version: string; certificate: Buffer; created: string }>(
      `SELECT tenant_id, key_vault, key_name, key_version, certificate, created::text FROM ${this.schema}.issuing_cas WHERE tenant_id = $1`,
      [tenantId],
    );
    const r = rows[0];
    return r ? { tenantId: r.tenant_id, keyVault: r.key_vault, keyName: r.key_name, keyVersion: r.key_version, certificate: r.certificate, created: Number(r.created) } : null;
  }

  /** Stores the tenant's CA unless another process stored one first; returns the one that holds. */
  async saveIssuingCa(ca: IssuingCaRow): Promise<IssuingCaRow> {
    await this.db.query(
      `INSERT INTO ${this.schema}.issuing_cas (tenant_id, key_vault, key_name, key_version, certificate, created) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (tenant_id) DO NOTHING`,
      [ca.tenantId, ca.keyVault, ca.keyName, ca.keyVersion, ca.certificate, ca.created],
    );
    const held = await this.issuingCa(ca.tenantId);
    if (!held) throw new Error('issuing CA not stored');
    return held;
  }
}
