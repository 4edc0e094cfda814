import type { Database, Sql } from '#libs/platform';
import type { KeyEvent } from '../../domain/key.events.js';
import type { Curve, KeyOp, KeyType, KeyVersionData, PublicKeyData } from '../../domain/key.model.js';

/** A live key version as the read model holds it: what events recorded, plus its last update. */
export interface KeyVersionRecord extends KeyVersionData {
  readonly updated: number;
  /** Unix seconds of the key's soft delete, null while live. */
  readonly deleted?: number | null;
}

export interface KeyMaterialRow {
  readonly materialId: string;
  readonly tenant: string;
  readonly vault: string;
  readonly name: string;
  readonly version: string;
  /** Software keys: the KEK and the envelope of the private JWK. null once destroyed. */
  readonly kekId: string | null;
  readonly wrapped: Buffer | null;
  /** HSM keys: CKA_ID of the token objects. */
  readonly hsmObjectId: string | null;
  readonly destroyed: boolean;
}

type VersionDbRow = {
  tenant: string;
  vault: string;
  name: string;
  version: string;
  kty: KeyType;
  hsm: boolean;
  size_bits: number;
  crv: Curve | null;
  key_ops: KeyOp[];
  enabled: boolean;
  not_before: string | null;
  expires: string | null;
  exportable: boolean;
  public_key: PublicKeyData | null;
  material_id: string;
  created: string;
  updated: string;
  deleted_at: string | null;
};

const num = (v: string | null): number | null => (v === null ? null : Number(v));

function recordOf(r: VersionDbRow): KeyVersionRecord {
  return {
    tenant: r.tenant,
    vault: r.vault,
    name: r.name,
    version: r.version,
    kty: r.kty,
    hsm: r.hsm,
    sizeBits: r.size_bits,
    crv: r.crv,
    keyOps: r.key_ops,
    enabled: r.enabled,
    notBefore: num(r.not_before),
    expires: num(r.expires),
    exportable: r.exportable,
    publicKey: r.public_key,
    materialId: r.material_id,
    created: Number(r.created),
    updated: Number(r.updated),
    deleted: num(r.deleted_at),
  };
}

const VERSION_COLUMNS = 'tenant, vault, name, version, kty, hsm, size_bits, crv, key_ops, enabled, not_before::text, expires::text, exportable, public_key, material_id, created::text, updated::text, deleted_at::text';

/** Channel on which key changes are announced (payload: the key's stream id). */
export const KEY_CHANGES_CHANNEL = 'crypto_key_changes';

/** The key read model and the key material table. */
export class KeysRepository {
  constructor(private readonly db: Database) {}

  private get s(): string {
    return this.db.schema;
  }

  /** A version ('' = latest) of a live key, or null; `deleted: true` looks among soft-deleted keys instead. */
  async findVersion(tenant: string, vault: string, name: string, version: string, opts: { readonly deleted?: boolean } = {}): Promise<KeyVersionRecord | null> {
    const state = opts.deleted === true ? 'deleted_at IS NOT NULL' : 'deleted_at IS NULL';
    const rows =
      version === ''
        ? await this.db.query<VersionDbRow>(`SELECT ${VERSION_COLUMNS} FROM ${this.s}.key_versions WHERE tenant = $1 AND vault = $2 AND name = $3 AND ${state} ORDER BY seq DESC LIMIT 1`, [tenant, vault, name])
        : await this.db.query<VersionDbRow>(`SELECT ${VERSION_COLUMNS} FROM ${this.s}.key_versions WHERE tenant = $1 AND vault = $2 AND name = $3 AND version = $4 AND ${state}`, [tenant, vault, name, version]);
    return rows[0] ? recordOf(rows[0]) : null;
  }

  /** Whether any version of this name exists (live or deleted). */
  async nameTaken(tenant: string, vault: string, name: string): Promise<boolean> {
    const rows = await this.db.query<{ one: number }>(`SELECT 1 AS one FROM ${this.s}.key_versions WHERE tenant = $1 AND vault = $2 AND name = $3 LIMIT 1`, [tenant, vault, name]);
    return rows.length > 0;
  }

  async material(materialId: string): Promise<KeyMaterialRow | null> {
    const rows = await this.db.query<{ material_id: string; tenant: string; vault: string; name: string; version: string; kek_id: string | null; wrapped: Buffer | null; hsm_object_id: string | null; destroyed: boolean }>(
      `SELECT material_id, tenant, vault, name, version, kek_id, wrapped, hsm_object_id, destroyed_at IS NOT NULL AS destroyed FROM ${this.s}.key_material WHERE material_id = $1`,
      [materialId],
    );
    const r = rows[0];
    return r
      ? { materialId: r.material_id, tenant: r.tenant, vault: r.vault, name: r.name, version: r.version, kekId: r.kek_id, wrapped: r.wrapped, hsmObjectId: r.hsm_object_id, destroyed: r.destroyed }
      : null;
  }

  async insertMaterial(tx: Sql, row: Omit<KeyMaterialRow, 'destroyed'>): Promise<void> {
    await tx.query(
      `INSERT INTO ${this.s}.key_material (material_id, tenant, vault, name, version, kek_id, wrapped, hsm_object_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
      [row.materialId, row.tenant, row.vault, row.name, row.version, row.kekId, row.wrapped, row.hsmObjectId],
    );
  }

  /** Token objects of every live version of a key (for purge). */
  async liveHsmObjects(tx: Sql, tenant: string, vault: string, name: string): Promise<string[]> {
    const rows = await tx.query<{ hsm_object_id: string }>(
      `SELECT hsm_object_id FROM ${this.s}.key_material WHERE tenant = $1 AND vault = $2 AND name = $3 AND hsm_object_id IS NOT NULL AND destroyed_at IS NULL`,
      [tenant, vault, name],
    );
    return rows.map((r) => r.hsm_object_id);
  }

  /**
   * Keeps the read model in step with key events, inside the append's transaction, and
   * announces the change (delivered at commit) so other instances drop cached state.
   */
  async apply(tx: Sql, streamId: string, events: readonly (KeyEvent & { readonly streamVersion: number })[]): Promise<void> {
    for (const e of events) {
      switch (e.type) {
        case 'KeyCreated':
        case 'KeyVersionAdded':
        case 'KeyImported': {
          const d = e.data;
          await tx.query(
            `INSERT INTO ${this.s}.key_versions (tenant, vault, name, version, seq, kty, hsm, size_bits, crv, key_ops, enabled, not_before, expires, exportable, public_key, material_id, created, updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17)`,
            [d.tenant, d.vault, d.name, d.version, e.streamVersion, d.kty, d.hsm, d.sizeBits, d.crv, d.keyOps, d.enabled, d.notBefore, d.expires, d.exportable, d.publicKey === null ? null : JSON.stringify(d.publicKey), d.materialId, d.created],
          );
          break;
        }
        case 'KeyUpdated': {
          const d = e.data;
          const [tenant, vault, name] = splitStream(streamId);
          await tx.query(
            `UPDATE ${this.s}.key_versions SET enabled = $5, not_before = $6, expires = $7, key_ops = $8, updated = $9
              WHERE tenant = $1 AND vault = $2 AND name = $3 AND version = $4`,
            [tenant, vault, name, d.version, d.enabled, d.notBefore, d.expires, d.keyOps, d.updated],
          );
          break;
        }
        case 'KeyRestored': {
          const d = e.data;
          await tx.query(
            `INSERT INTO ${this.s}.key_versions (tenant, vault, name, version, seq, kty, hsm, size_bits, crv, key_ops, enabled, not_before, expires, exportable, public_key, material_id, created, updated)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
            [d.tenant, d.vault, d.name, d.version, e.streamVersion, d.kty, d.hsm, d.sizeBits, d.crv, d.keyOps, d.enabled, d.notBefore, d.expires, d.exportable, d.publicKey === null ? null : JSON.stringify(d.publicKey), d.materialId, d.created, d.updated],
          );
          break;
        }
        case 'KeyDeleted':
        case 'KeyRecovered': {
          const [tenant, vault, name] = splitStream(streamId);
          await tx.query(`UPDATE ${this.s}.key_versions SET deleted_at = $4 WHERE tenant = $1 AND vault = $2 AND name = $3`, [
            tenant,
            vault,
            name,
            e.type === 'KeyDeleted' ? e.data.deleted : null,
          ]);
          break;
        }
        case 'KeyDestroyed': {
          const [tenant, vault, name] = splitStream(streamId);
          await tx.query(`DELETE FROM ${this.s}.key_versions WHERE tenant = $1 AND vault = $2 AND name = $3`, [tenant, vault, name]);
          await tx.query(
            `UPDATE ${this.s}.key_material SET wrapped = NULL, destroyed_at = now() WHERE tenant = $1 AND vault = $2 AND name = $3 AND destroyed_at IS NULL`,
            [tenant, vault, name],
          );
          break;
        }
      }
    }
    await tx.query('SELECT pg_notify($1, $2)', [KEY_CHANGES_CHANNEL, streamId]);
  }
}

/** `key-{tenant}/{vault}/{name}` → [tenant, vault, name]. */
function splitStream(streamId: string): [string, string, string] {
  const parts = streamId.slice('key-'.length).split('/');
  if (parts.length !== 3) throw new Error(`not a key stream id: ${streamId}`);
  return [parts[0]!, parts[1]!, parts[2]!];
}
