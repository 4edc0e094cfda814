import { assertNever } from '#libs/kernel';
import type { RecordedEvent } from '#libs/eventstore';
import type { Database, Row, Sql } from '#libs/platform';
import { initialKeyState, type KeyState, type KeyVersionState } from '../../domain/key/key.decider.js';
import { keyStreamId, type KeyEvent, type KeyVersionRecord, type RotationPolicyRecord } from '../../domain/key/key.events.js';
import type { ReleasePolicy, Tags } from '../../domain/key/key.rules.js';

/** One key version's metadata as the read model serves it (never material, never public parts). */
export type KeyVersionRow = KeyVersionRecord & {
  readonly vaultId: string;
  readonly nameKey: string;
  readonly name: string;
  readonly status: 'active' | 'deleted';
  readonly managed: boolean;
  readonly deletedDate: number | null;
  readonly scheduledPurgeDate: number | null;
};

type DbRow = Row & {
  vault_id: string;
  name_key: string;
  name: string;
  status: 'active' | 'deleted';
  managed: boolean;
  version: string;
  kty: string;
  key_size: number | null;
  crv: string | null;
  key_ops: string[];
  hsm: boolean;
  exportable: boolean;
  enabled: boolean;
  nbf: string | null;
  exp: string | null;
  tags: Tags | null;
  release_policy: ReleasePolicy | null;
  created: string;
  updated: string;
  deleted_date: string | null;
  scheduled_purge_date: string | null;
};

const num = (v: string | null): number | null => (v === null ? null : Number(v));

function toRow(r: DbRow): KeyVersionRow {
  return {
    vaultId: r.vault_id,
    nameKey: r.name_key,
    name: r.name,
    status: r.status,
    managed: r.managed,
    version: r.version,
    kty: r.kty,
    keySize: r.key_size,
    crv: r.crv,
    keyOps: r.key_ops,
    hsm: r.hsm,
    exportable: r.exportable,
    enabled: r.enabled,
    nbf: num(r.nbf),
    exp: num(r.exp),
    tags: r.tags,
    releasePolicy: r.release_policy,
    created: Number(r.created),
    updated: Number(r.updated),
    deletedDate: num(r.deleted_date),
    scheduledPurgeDate: num(r.scheduled_purge_date),
  };
}

const COLUMNS = `k.vault_id::text, k.name_key, k.name, k.status, k.managed, v.version, v.kty, v.key_size, v.crv, v.key_ops, v.hsm, v.exportable, v.enabled,
  v.nbf::text, v.exp::text, v.tags, v.release_policy, v.created::text, v.updated::text, k.deleted_date::text, k.scheduled_purge_date::text`;

const versionState = (r: KeyVersionRow): KeyVersionState => ({
  kty: r.kty,
  keySize: r.keySize,
  crv: r.crv,
  keyOps: r.keyOps,
  hsm: r.hsm,
  exportable: r.exportable,
  enabled: r.enabled,
  nbf: r.nbf,
  exp: r.exp,
  tags: r.tags,
  releasePolicy: r.releasePolicy,
  created: r.created,
  updated: r.updated,
});

const json = (x: unknown): string | null => (x === null || x === undefined ? null : JSON.stringify(x));

/** The keys read model (tables `keys`, `key_versions`), updated by `project` inside the append transaction. */
export class KeysRepository {
  constructor(private readonly db: Database) {}

  private get s(): string {
    return this.db.schema;
  }

  /** The decider's view of a key: status, latest version and the named ones, rotation policy; and the stream's version (0: none). */
  async loadState(vaultId: string, nameKey: string, versions: readonly string[] = []): Promise<{ state: KeyState; streamVersion: number }> {
    type StateRow = Row & {
      stream: string | null;
      name: string | null;
      status: 'active' | 'deleted';
      latest_version: string;
      managed: boolean;
      deleted_date: string | null;
      scheduled_purge_date: string | null;
      rotation_policy: RotationPolicyRecord | null;
      near_expiry_notified: string | null;
      stream_version: string;
    };
    const rows = await this.db.query<StateRow>(
      `SELECT st.version::text AS stream, k.name, k.status, k.latest_version, k.managed, k.deleted_date::text, k.scheduled_purge_date::text, k.rotation_policy, k.near_expiry_notified, k.stream_version::text
         FROM (SELECT 1) AS one
         LEFT JOIN ${this.s}.streams st ON st.stream_id = $3
         LEFT JOIN ${this.s}.keys k ON k.vault_id = $1 AND k.name_key = $2`,
      [vaultId, nameKey, keyStreamId(vaultId, nameKey)],
    );
    const row = rows[0];
    if (!row || row.name === null) return { state: initialKeyState(), streamVersion: row?.stream ? Number(row.stream) : 0 };
    const wanted = [row.latest_version, ...versions.filter((v) => v !== row.latest_version)];
    const versionRows = await this.db.query<DbRow>(
      `SELECT ${COLUMNS} FROM ${this.s}.keys k JOIN ${this.s}.key_versions v ON v.vault_id = k.vault_id AND v.name_key = k.name_key
        WHERE k.vault_id = $1 AND k.name_key = $2 AND v.version = ANY($3::text[])`,
      [vaultId, nameKey, wanted],
    );
    const map: Record<string, KeyVersionState> = {};
    for (const r of versionRows.map(toRow)) map[r.version] = versionState(r);
    return {
      state: {
        status: row.status,
        name: row.name,
        managed: row.managed,
        latest: row.latest_version,
        versions: map,
        deletedDate: num(row.deleted_date),
        scheduledPurgeDate: num(row.scheduled_purge_date),
        rotationPolicy: row.rotation_policy,
        nearExpiryNotified: row.near_expiry_notified,
      },
      streamVersion: Number(row.stream_version),
    };
  }

  /** A version (null = the latest), of a live or deleted key (callers decide). */
  async findVersion(vaultId: string, nameKey: string, version: string | null): Promise<KeyVersionRow | undefined> {
    const rows = await this.db.query<DbRow>(
      `SELECT ${COLUMNS} FROM ${this.s}.keys k
         JOIN ${this.s}.key_versions v ON v.vault_id = k.vault_id AND v.name_key = k.name_key AND v.version = ${version === null ? 'k.latest_version' : '$3'}
        WHERE k.vault_id = $1 AND k.name_key = $2`,
      version === null ? [vaultId, nameKey] : [vaultId, nameKey, version],
    );
    return rows[0] ? toRow(rows[0]) : undefined;
  }

  /** Every version, oldest first (backup). */
  async allVersions(vaultId: string, nameKey: string): Promise<KeyVersionRow[]> {
    const rows = await this.db.query<DbRow>(
      `SELECT ${COLUMNS} FROM ${this.s}.keys k JOIN ${this.s}.key_versions v ON v.vault_id = k.vault_id AND v.name_key = k.name_key
        WHERE k.vault_id = $1 AND k.name_key = $2 ORDER BY v.seq`,
      [vaultId, nameKey],
    );
    return rows.map(toRow);
  }

  async rotationPolicy(vaultId: string, nameKey: string): Promise<{ status: 'active' | 'deleted'; policy: RotationPolicyRecord | null } | undefined> {
    const rows = await this.db.query<Row & { status: 'active' | 'deleted'; rotation_policy: RotationPolicyRecord | null }>(
      `SELECT status, rotation_policy FROM ${this.s}.keys WHERE vault_id = $1 AND name_key = $2`,
      [vaultId, nameKey],
    );
    return rows[0] ? { status: rows[0].status, policy: rows[0].rotation_policy } : undefined;
  }

  /** Live (or deleted) keys after `afterNameKey`, by name, with their latest version. */
  async listLatest(vaultId: string, status: 'active' | 'deleted', afterNameKey: string, limit: number): Promise<KeyVersionRow[]> {
    const rows = await this.db.query<DbRow>(
      `SELECT ${COLUMNS} FROM ${this.s}.keys k
         JOIN ${this.s}.key_versions v ON v.vault_id = k.vault_id AND v.name_key = k.name_key AND v.version = k.latest_version
        WHERE k.vault_id = $1 AND k.status = $2 AND k.name_key > $3
        ORDER BY k.name_key LIMIT $4`,
      [vaultId, status, afterNameKey, limit],
    );
    return rows.map(toRow);
  }

  async listVersions(vaultId: string, nameKey: string, afterVersion: string, limit: number): Promise<KeyVersionRow[]> {
    const rows = await this.db.query<DbRow>(
      `SELECT ${COLUMNS} FROM ${this.s}.keys k JOIN ${this.s}.key_versions v ON v.vault_id = k.vault_id AND v.name_key = k.name_key
        WHERE k.vault_id = $1 AND k.name_key = $2 AND k.status = 'active' AND v.version > $3
        ORDER BY v.version LIMIT $4`,
      [vaultId, nameKey, afterVersion, limit],
    );
    return rows.map(toRow);
  }

  /** Deleted keys whose purge date has passed (the scheduler's work list). */
  async dueForPurge(now: number, limit: number): Promise<{ vaultId: string; nameKey: string }[]> {
    const rows = await this.db.query<Row & { vault_id: string; name_key: string }>(
      `SELECT vault_id::text, name_key FROM ${this.s}.keys WHERE status = 'deleted' AND scheduled_purge_date <= $1 ORDER BY scheduled_purge_date LIMIT $2`,
      [now, limit],
    );
    return rows.map((r) => ({ vaultId: r.vault_id, nameKey: r.name_key }));
  }

  /** Live keys with a rotation policy and their latest version (the rotation scheduler's candidates). */
  async withRotationPolicy(limit: number, afterKey = ''): Promise<(KeyVersionRow & { policy: RotationPolicyRecord; nearExpiryNotified: string | null })[]> {
    const rows = await this.db.query<DbRow & { rotation_policy: RotationPolicyRecord; near_expiry_notified: string | null }>(
      `SELECT ${COLUMNS}, k.rotation_policy, k.near_expiry_notified FROM ${this.s}.keys k
         JOIN ${this.s}.key_versions v ON v.vault_id = k.vault_id AND v.name_key = k.name_key AND v.version = k.latest_version
        WHERE k.status = 'active' AND k.rotation_policy IS NOT NULL AND (k.vault_id::text || '/' || k.name_key) > $1
        ORDER BY k.vault_id::text || '/' || k.name_key LIMIT $2`,
      [afterKey, limit],
    );
    return rows.map((r) => ({ ...toRow(r), policy: r.rotation_policy, nearExpiryNotified: r.near_expiry_notified }));
  }

  async nameKeysOfVault(vaultId: string): Promise<string[]> {
    const rows = await this.db.query<Row & { name_key: string }>(`SELECT name_key FROM ${this.s}.keys WHERE vault_id = $1 ORDER BY name_key`, [vaultId]);
    return rows.map((r) => r.name_key);
  }

  async project(tx: Sql, vaultId: string, nameKey: string, events: readonly RecordedEvent<KeyEvent>[]): Promise<void> {
    for (const e of events) await this.projectOne(tx, vaultId, nameKey, e);
  }

  private async insertVersion(tx: Sql, vaultId: string, nameKey: string, v: KeyVersionRecord): Promise<void> {
    await tx.query(
      `INSERT INTO ${this.s}.key_versions (vault_id, name_key, version, kty, key_size, crv, key_ops, hsm, exportable, enabled, nbf, exp, tags, release_policy, created, updated)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13::jsonb, $14::jsonb, $15, $16)`,
      [vaultId, nameKey, v.version, v.kty, v.keySize, v.crv, JSON.stringify(v.keyOps), v.hsm, v.exportable, v.enabled, v.nbf, v.exp, json(v.tags), json(v.releasePolicy), v.created, v.updated],
    );
  }

  private async projectOne(tx: Sql, vaultId: string, nameKey: string, e: RecordedEvent<KeyEvent>): Promise<void> {
    const s = this.s;
    switch (e.type) {
      case 'KeyVersionCreated': {
        const d = e.data;
        await tx.query(
          `INSERT INTO ${s}.keys (vault_id, name_key, name, status, latest_version, managed, stream_version)
           VALUES ($1, $2, $3, 'active', $4, $5, $6)
           ON CONFLICT (vault_id, name_key) DO UPDATE
              SET status = 'active', latest_version = EXCLUDED.latest_version, managed = EXCLUDED.managed,
                  deleted_date = NULL, scheduled_purge_date = NULL, stream_version = EXCLUDED.stream_version`,
          [vaultId, nameKey, d.name, d.version, d.managed, e.streamVersion],
        );
        await this.insertVersion(tx, vaultId, nameKey, d);
        return;
      }
      case 'KeyVersionUpdated': {
        const d = e.data;
        await tx.query(
          `UPDATE ${s}.key_versions SET key_ops = $4::jsonb, enabled = $5, nbf = $6, exp = $7, tags = $8::jsonb, release_policy = $9::jsonb, updated = $10
            WHERE vault_id = $1 AND name_key = $2 AND version = $3`,
          [vaultId, nameKey, d.version, JSON.stringify(d.keyOps), d.enabled, d.nbf, d.exp, json(d.tags), json(d.releasePolicy), d.updated],
        );
        await tx.query(`UPDATE ${s}.keys SET stream_version = $3 WHERE vault_id = $1 AND name_key = $2`, [vaultId, nameKey, e.streamVersion]);
        return;
      }
      case 'KeyDeleted':
        await tx.query(`UPDATE ${s}.keys SET status = 'deleted', deleted_date = $3, scheduled_purge_date = $4, stream_version = $5 WHERE vault_id = $1 AND name_key = $2`, [
          vaultId,
          nameKey,
          e.data.deletedDate,
          e.data.scheduledPurgeDate,
          e.streamVersion,
        ]);
        return;
      case 'KeyRecovered':
        await tx.query(`UPDATE ${s}.keys SET status = 'active', deleted_date = NULL, scheduled_purge_date = NULL, stream_version = $3 WHERE vault_id = $1 AND name_key = $2`, [
          vaultId,
          nameKey,
          e.streamVersion,
        ]);
        return;
      case 'KeyPurged':
        await tx.query(`DELETE FROM ${s}.key_versions WHERE vault_id = $1 AND name_key = $2`, [vaultId, nameKey]);
        await tx.query(`DELETE FROM ${s}.keys WHERE vault_id = $1 AND name_key = $2`, [vaultId, nameKey]);
        return;
      case 'KeyRestored': {
        const d = e.data;
        const last = d.versions[d.versions.length - 1]!;
        await tx.query(
          `INSERT INTO ${s}.keys (vault_id, name_key, name, status, latest_version, managed, rotation_policy, stream_version) VALUES ($1, $2, $3, 'active', $4, $5, $6::jsonb, $7)`,
          [vaultId, nameKey, d.name, last.version, d.managed, json(d.rotationPolicy), e.streamVersion],
        );
        for (const v of d.versions) await this.insertVersion(tx, vaultId, nameKey, v);
        return;
      }
      case 'KeyRotated':
        await tx.query(`UPDATE ${s}.keys SET stream_version = $3 WHERE vault_id = $1 AND name_key = $2`, [vaultId, nameKey, e.streamVersion]);
        return;
      case 'KeyNearExpiry':
        await tx.query(`UPDATE ${s}.keys SET near_expiry_notified = $3, stream_version = $4 WHERE vault_id = $1 AND name_key = $2`, [vaultId, nameKey, e.data.version, e.streamVersion]);
        return;
      case 'KeyRotationPolicyUpdated':
        await tx.query(`UPDATE ${s}.keys SET rotation_policy = $3::jsonb, stream_version = $4 WHERE vault_id = $1 AND name_key = $2`, [vaultId, nameKey, JSON.stringify(e.data), e.streamVersion]);
        return;
      default:
        assertNever(e, 'key event');
    }
  }
}
