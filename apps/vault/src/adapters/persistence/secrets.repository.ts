import { assertNever } from '#libs/kernel';
import { type AppendOptions, type InStatementWork, type RecordedEvent } from '#libs/eventstore';
import { preparedName, type Database, type Row, type Sql } from '#libs/platform';
import { initialSecretState, type SecretState, type SecretVersionState } from '../../domain/secret/secret.decider.js';
import { secretStreamId, type DataKeyHandle, type SecretEvent, type SecretVersionRecord } from '../../domain/secret/secret.events.js';
import type { Tags } from '../../domain/secret/secret.rules.js';
import { notifySecretChanged, secretCacheKey, secretChangeChannel, secretChangePayload } from './secret-change.listener.js';

/** One version as the read model serves it (ciphertext only; values are opened by the service). */
export type SecretVersionRow = {
  readonly vaultId: string;
  readonly nameKey: string;
  readonly name: string;
  readonly status: 'active' | 'deleted';
  readonly managed: boolean;
  readonly version: string;
  readonly ciphertext: Buffer;
  readonly keyId: string;
  readonly keyRef: string;
  readonly contentType: string | null;
  readonly tags: Tags | null;
  readonly enabled: boolean;
  readonly nbf: number | null;
  readonly exp: number | null;
  readonly created: number;
  readonly updated: number;
  readonly deletedDate: number | null;
  readonly scheduledPurgeDate: number | null;
};

/** A secret's latest version without its value, for lists and deleted-secret answers. */
export type SecretItemRow = Omit<SecretVersionRow, 'ciphertext' | 'keyId' | 'keyRef'>;

type DbRow = Row & {
  vault_id: string;
  name_key: string;
  name: string;
  status: 'active' | 'deleted';
  managed: boolean;
  version: string;
  ciphertext?: Buffer;
  key_id?: string;
  key_ref?: string;
  content_type: string | null;
  tags: Tags | null;
  enabled: boolean;
  nbf: string | null;
  exp: string | null;
  created: string;
  updated: string;
  deleted_date: string | null;
  scheduled_purge_date: string | null;
};

const num = (v: string | null): number | null => (v === null ? null : Number(v));

function toItem(r: DbRow): SecretItemRow {
  return {
    vaultId: r.vault_id,
    nameKey: r.name_key,
    name: r.name,
    status: r.status,
    managed: r.managed,
    version: r.version,
    contentType: r.content_type,
    tags: r.tags,
    enabled: r.enabled,
    nbf: num(r.nbf),
    exp: num(r.exp),
    created: Number(r.created),
    updated: Number(r.updated),
    deletedDate: num(r.deleted_date),
    scheduledPurgeDate: num(r.scheduled_purge_date),
  };
}

function toVersion(r: DbRow): SecretVersionRow {
  return { ...toItem(r), ciphertext: r.ciphertext as Buffer, keyId: r.key_id as string, keyRef: r.key_ref as string };
}

const ITEM_COLUMNS = `s.vault_id::text, s.name_key, s.name, s.status, s.managed, v.version, v.content_type, v.tags, v.enabled,
  v.nbf::text, v.exp::text, v.created::text, v.updated::text, s.deleted_date::text, s.scheduled_purge_date::text`;
const VERSION_COLUMNS = `${ITEM_COLUMNS}, v.ciphertext, v.key_id, v.key_ref`;

/**
 * The secrets read model (tables `secrets`, `secret_versions`): queried by the REST and
 * gRPC handlers, updated by `project` inside the append transaction.
 */
type VersionCreated = Extract<SecretEvent, { type: 'SecretVersionCreated' }>;

/**
 * The read-model rows of a new version, as two CTEs (`rm_secret`, `rm_version`) with parameters
 * p(0)…p(15) in the order of `versionCreatedValues`; `from` makes them conditional (an append's
 * `FROM s`) or not (''). Written once for the append's statement and the standalone projection.
 */
function versionCreatedCtes(s: string, p: (i: number) => string, from: string): string {
  return `rm_secret AS (
             INSERT INTO ${s}.secrets (vault_id, name_key, name, status, latest_version, managed, data_key_id, data_key_ref, stream_version)
             SELECT ${p(0)}::uuid, ${p(1)}::text, ${p(2)}::text, 'active', ${p(3)}::text, ${p(4)}::boolean, ${p(5)}::text, ${p(6)}::text, ${p(7)}::bigint ${from}
             ON CONFLICT (vault_id, name_key) DO UPDATE
                SET status = 'active', latest_version = EXCLUDED.latest_version, managed = EXCLUDED.managed,
                    data_key_id = EXCLUDED.data_key_id, data_key_ref = EXCLUDED.data_key_ref,
                    deleted_date = NULL, scheduled_purge_date = NULL, stream_version = EXCLUDED.stream_version
             RETURNING 1),
           rm_version AS (
             INSERT INTO ${s}.secret_versions (vault_id, name_key, version, ciphertext, key_id, key_ref, content_type, tags, enabled, nbf, exp, created, updated)
             SELECT ${p(0)}::uuid, ${p(1)}::text, ${p(3)}::text, decode(${p(8)}::text, 'base64'), ${p(5)}::text, ${p(6)}::text, ${p(9)}::text, ${p(10)}::jsonb,
                    ${p(11)}::boolean, ${p(12)}::bigint, ${p(13)}::bigint, ${p(14)}::bigint, ${p(15)}::bigint FROM rm_secret
             RETURNING 1)`;
}

export class SecretsRepository {
  constructor(private readonly db: Database) {}

  private get s(): string {
    return this.db.schema;
  }

  private readonly statements = new Map<string, { readonly text: string; readonly name: string }>();

  /** The hot statements, prepared (parsed and planned once per connection): their text for this schema and its name. */
  private prepared(key: string, text: (s: string) => string): { readonly text: string; readonly name: string } {
    let st = this.statements.get(key);
    if (!st) {
      const t = text(this.s);
      st = { text: t, name: preparedName(t) };
      this.statements.set(key, st);
    }
    return st;
  }

  /**
   * The decider's view of a secret, from the read model: status, the latest version and the
   * named ones, and (when asked) every data key in use. `streamVersion` is the expected
   * version for the append (0: no stream yet).
   */
  async loadState(vaultId: string, nameKey: string, options: { versions?: readonly string[]; withDataKeys?: boolean } = {}): Promise<{ state: SecretState; streamVersion: number }> {
    type StateRow = Row & {
      name: string | null;
      status: 'active' | 'deleted';
      latest_version: string;
      managed: boolean;
      data_key_id: string;
      data_key_ref: string;
      deleted_date: string | null;
      scheduled_purge_date: string | null;
      stream_version: string;
      content_type: string | null;
      tags: Tags | null;
      enabled: boolean | null;
      nbf: string | null;
      exp: string | null;
      created: string | null;
      updated: string | null;
    };
    // One statement, so one snapshot: the secret, its latest version and the stream's version
    // agree (the read model and the stream are written in the same transaction). A purged
    // secret has no row but a stream: its version is the expected one for the next write.
    const load = this.prepared(
      'loadState',
      (s) => `SELECT st.version::text AS stream, s.name, s.status, s.latest_version, s.managed, s.data_key_id, s.data_key_ref, s.deleted_date::text, s.scheduled_purge_date::text, s.stream_version::text,
              v.content_type, v.tags, v.enabled, v.nbf::text, v.exp::text, v.created::text, v.updated::text
         FROM (SELECT 1) AS one
         LEFT JOIN ${s}.streams st ON st.stream_id = $3
         LEFT JOIN ${s}.secrets s ON s.vault_id = $1 AND s.name_key = $2
         LEFT JOIN ${s}.secret_versions v ON v.vault_id = s.vault_id AND v.name_key = s.name_key AND v.version = s.latest_version`,
    );
    const rows = await this.db.query<StateRow & { stream: string | null }>(load.text, [vaultId, nameKey, secretStreamId(vaultId, nameKey)], load.name);
    const row = rows[0];
    if (!row || row.name === null) return { state: initialSecretState(), streamVersion: row?.stream ? Number(row.stream) : 0 };
    const versions: Record<string, SecretVersionState> = {};
    if (row.enabled !== null && row.created !== null && row.updated !== null) {
      versions[row.latest_version] = { contentType: row.content_type, tags: row.tags, enabled: row.enabled, nbf: num(row.nbf), exp: num(row.exp), created: Number(row.created), updated: Number(row.updated) };
    }
    const others = (options.versions ?? []).filter((v) => v !== row.latest_version);
    if (others.length > 0) {
      const versionRows = await this.db.query<DbRow>(
        `SELECT version, content_type, tags, enabled, nbf::text, exp::text, created::text, updated::text
           FROM ${this.s}.secret_versions WHERE vault_id = $1 AND name_key = $2 AND version = ANY($3::text[])`,
        [vaultId, nameKey, others],
      );
      for (const v of versionRows) {
        versions[v.version] = { contentType: v.content_type, tags: v.tags, enabled: v.enabled, nbf: num(v.nbf), exp: num(v.exp), created: Number(v.created), updated: Number(v.updated) };
      }
    }
    let dataKeys: DataKeyHandle[] = [{ keyId: row.data_key_id, keyRef: row.data_key_ref }];
    if (options.withDataKeys) {
      const keys = await this.db.query<Row & { key_id: string; key_ref: string }>(
        `SELECT DISTINCT key_id, key_ref FROM ${this.s}.secret_versions WHERE vault_id = $1 AND name_key = $2 ORDER BY key_id`,
        [vaultId, nameKey],
      );
      dataKeys = keys.map((k) => ({ keyId: k.key_id, keyRef: k.key_ref }));
    }
    const state: SecretState = {
      status: row.status,
      name: row.name,
      managed: row.managed,
      latest: row.latest_version,
      dataKey: { keyId: row.data_key_id, keyRef: row.data_key_ref },
      dataKeys,
      versions,
      deletedDate: num(row.deleted_date),
      scheduledPurgeDate: num(row.scheduled_purge_date),
    };
    return { state, streamVersion: Number(row.stream_version) };
  }

  /** A version with its ciphertext; `version` null = the latest. Deleted secrets are returned too (callers decide). */
  async findVersion(vaultId: string, nameKey: string, version: string | null): Promise<SecretVersionRow | undefined> {
    const find = this.prepared(
      version === null ? 'findLatest' : 'findVersion',
      (s) => `SELECT ${VERSION_COLUMNS}
         FROM ${s}.secrets s
         JOIN ${s}.secret_versions v ON v.vault_id = s.vault_id AND v.name_key = s.name_key AND v.version = ${version === null ? 's.latest_version' : '$3'}
        WHERE s.vault_id = $1 AND s.name_key = $2`,
    );
    const rows = await this.db.query<DbRow>(find.text, version === null ? [vaultId, nameKey] : [vaultId, nameKey, version], find.name);
    return rows[0] ? toVersion(rows[0]) : undefined;
  }

  /** Latest versions of several secrets at once (batch get). */
  async findLatest(vaultId: string, nameKeys: readonly string[]): Promise<SecretVersionRow[]> {
    const rows = await this.db.query<DbRow>(
      `SELECT ${VERSION_COLUMNS}
         FROM ${this.s}.secrets s
         JOIN ${this.s}.secret_versions v ON v.vault_id = s.vault_id AND v.name_key = s.name_key AND v.version = s.latest_version
        WHERE s.vault_id = $1 AND s.name_key = ANY($2::text[])`,
      [vaultId, nameKeys],
    );
    return rows.map(toVersion);
  }

  /** Every version, oldest first (backup). */
  async allVersions(vaultId: string, nameKey: string): Promise<SecretVersionRow[]> {
    const rows = await this.db.query<DbRow>(
      `SELECT ${VERSION_COLUMNS}
         FROM ${this.s}.secrets s
         JOIN ${this.s}.secret_versions v ON v.vault_id = s.vault_id AND v.name_key = s.name_key
        WHERE s.vault_id = $1 AND s.name_key = $2
        ORDER BY v.seq`,
      [vaultId, nameKey],
    );
    return rows.map(toVersion);
  }

  /** Active (or deleted) secrets after `afterNameKey`, by name, at most `limit`. */
  async listLatest(vaultId: string, status: 'active' | 'deleted', afterNameKey: string, limit: number): Promise<SecretItemRow[]> {
    const rows = await this.db.query<DbRow>(
      `SELECT ${ITEM_COLUMNS}
         FROM ${this.s}.secrets s
         JOIN ${this.s}.secret_versions v ON v.vault_id = s.vault_id AND v.name_key = s.name_key AND v.version = s.latest_version
        WHERE s.vault_id = $1 AND s.status = $2 AND s.name_key > $3
        ORDER BY s.name_key
        LIMIT $4`,
      [vaultId, status, afterNameKey, limit],
    );
    return rows.map(toItem);
  }

  /** Versions of an active secret after `afterVersion`, by version id. */
  async listVersions(vaultId: string, nameKey: string, afterVersion: string, limit: number): Promise<SecretItemRow[]> {
    const rows = await this.db.query<DbRow>(
      `SELECT ${ITEM_COLUMNS}
         FROM ${this.s}.secrets s
         JOIN ${this.s}.secret_versions v ON v.vault_id = s.vault_id AND v.name_key = s.name_key
        WHERE s.vault_id = $1 AND s.name_key = $2 AND s.status = 'active' AND v.version > $3
        ORDER BY v.version
        LIMIT $4`,
      [vaultId, nameKey, afterVersion, limit],
    );
    return rows.map(toItem);
  }

  /** Deleted secrets whose purge date has passed (the scheduler's work list). */
  async dueForPurge(now: number, limit: number): Promise<{ vaultId: string; nameKey: string }[]> {
    const rows = await this.db.query<Row & { vault_id: string; name_key: string }>(
      `SELECT vault_id::text, name_key FROM ${this.s}.secrets
        WHERE status = 'deleted' AND scheduled_purge_date <= $1
        ORDER BY scheduled_purge_date LIMIT $2`,
      [now, limit],
    );
    return rows.map((r) => ({ vaultId: r.vault_id, nameKey: r.name_key }));
  }

  async nameKeysOfVault(vaultId: string): Promise<string[]> {
    const rows = await this.db.query<Row & { name_key: string }>(`SELECT name_key FROM ${this.s}.secrets WHERE vault_id = $1 ORDER BY name_key`, [vaultId]);
    return rows.map((r) => r.name_key);
  }

  /**
   * Applies appended events to the read model inside their transaction, and announces the
   * change to every vault process's secret cache (a notification delivered at commit; the
   * hottest write carries it in its own statement).
   */
  async project(tx: Sql, vaultId: string, nameKey: string, events: readonly RecordedEvent<SecretEvent>[]): Promise<void> {
    let notified = false;
    for (const e of events) notified = (await this.projectOne(tx, vaultId, nameKey, e)) || notified;
    const last = events[events.length - 1];
    if (!notified && last) await notifySecretChanged(tx, this.s, secretChangePayload(secretCacheKey(vaultId, nameKey), last.streamVersion));
  }

  /**
   * The read-model update of an append: a new version (the hottest write) travels in the
   * append's own statement — the secret row, the version row and the change notification, one
   * round trip less — anything else runs after it in the transaction (`project`).
   */
  projection(vaultId: string, nameKey: string, events: readonly SecretEvent[]): Pick<AppendOptions<SecretEvent>, 'inStatement' | 'inTransaction'> {
    // Nothing else in the transaction: a lone append is then a statement of its own (no BEGIN/COMMIT).
    if (events.length === 1 && events[0]!.type === 'SecretVersionCreated') {
      return { inStatement: (recorded) => this.versionCreatedWork(vaultId, nameKey, recorded[0] as RecordedEvent<Extract<SecretEvent, { type: 'SecretVersionCreated' }>>) };
    }
    return { inTransaction: (tx, recorded) => this.project(tx, vaultId, nameKey, recorded) };
  }

  /** A version created, as CTEs of the append's statement (run only when the append writes: FROM s). */
  private versionCreatedWork(vaultId: string, nameKey: string, e: RecordedEvent<VersionCreated>): InStatementWork {
    const s = this.s;
    return {
      key: `vault.secret-version-created:${s}`,
      sql: (first) => ({
        ctes: `${versionCreatedCtes(s, (i) => `$${first + i}`, 'FROM s')},
           rm_notify AS (SELECT pg_notify($${first + 16}::text, $${first + 17}::text) FROM rm_version)`,
        select: '(SELECT count(*) FROM rm_notify)',
      }),
      values: this.versionCreatedValues(vaultId, nameKey, e),
    };
  }

  /** The parameters of `versionCreatedCtes` ($1–$16) and of its notification ($17, $18). */
  private versionCreatedValues(vaultId: string, nameKey: string, e: RecordedEvent<VersionCreated>): unknown[] {
    const d = e.data;
    return [
      vaultId,
      nameKey,
      d.name,
      d.version,
      d.managed,
      d.keyId,
      d.keyRef,
      e.streamVersion,
      d.ciphertext,
      d.contentType,
      d.tags === null ? null : JSON.stringify(d.tags),
      d.enabled,
      d.nbf,
      d.exp,
      d.created,
      d.updated,
      secretChangeChannel(this.s),
      secretChangePayload(secretCacheKey(vaultId, nameKey), e.streamVersion),
    ];
  }

  /** Tells every vault process to drop its whole secret cache (the read model was rebuilt), at commit. */
  async notifyAllChanged(tx: Sql): Promise<void> {
    await notifySecretChanged(tx, this.s, '*');
  }

  private async insertVersion(tx: Sql, vaultId: string, nameKey: string, v: SecretVersionRecord): Promise<void> {
    await tx.query(
      `INSERT INTO ${this.s}.secret_versions (vault_id, name_key, version, ciphertext, key_id, key_ref, content_type, tags, enabled, nbf, exp, created, updated)
       VALUES ($1, $2, $3, decode($4, 'base64'), $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $13)`,
      [vaultId, nameKey, v.version, v.ciphertext, v.keyId, v.keyRef, v.contentType, v.tags === null ? null : JSON.stringify(v.tags), v.enabled, v.nbf, v.exp, v.created, v.updated],
    );
  }

  /** Projects one event; true when its statement also sent the change notification. */
  private async projectOne(tx: Sql, vaultId: string, nameKey: string, e: RecordedEvent<SecretEvent>): Promise<boolean> {
    const s = this.s;
    switch (e.type) {
      case 'SecretVersionCreated': {
        // One prepared statement (round trips and planning less on the hottest write): the secret
        // row, the version, the cache notification — the same CTEs as in an append's statement.
        const created = this.prepared('versionCreated', (s) => `WITH ${versionCreatedCtes(s, (i) => `$${i + 1}`, '')}\n           SELECT pg_notify($17::text, $18::text) FROM rm_version`);
        await tx.query(created.text, this.versionCreatedValues(vaultId, nameKey, e), created.name);
        return true;
      }
      case 'SecretVersionUpdated': {
        const d = e.data;
        await tx.query(
          `UPDATE ${s}.secret_versions SET content_type = $4, tags = $5::jsonb, enabled = $6, nbf = $7, exp = $8, updated = $9
            WHERE vault_id = $1 AND name_key = $2 AND version = $3`,
          [vaultId, nameKey, d.version, d.contentType, d.tags === null ? null : JSON.stringify(d.tags), d.enabled, d.nbf, d.exp, d.updated],
        );
        await tx.query(`UPDATE ${s}.secrets SET stream_version = $3 WHERE vault_id = $1 AND name_key = $2`, [vaultId, nameKey, e.streamVersion]);
        return false;
      }
      case 'SecretDeleted':
        await tx.query(
          `UPDATE ${s}.secrets SET status = 'deleted', deleted_date = $3, scheduled_purge_date = $4, stream_version = $5 WHERE vault_id = $1 AND name_key = $2`,
          [vaultId, nameKey, e.data.deletedDate, e.data.scheduledPurgeDate, e.streamVersion],
        );
        return false;
      case 'SecretRecovered':
        await tx.query(
          `UPDATE ${s}.secrets SET status = 'active', deleted_date = NULL, scheduled_purge_date = NULL, stream_version = $3 WHERE vault_id = $1 AND name_key = $2`,
          [vaultId, nameKey, e.streamVersion],
        );
        return false;
      case 'SecretPurged':
        await tx.query(`DELETE FROM ${s}.secret_versions WHERE vault_id = $1 AND name_key = $2`, [vaultId, nameKey]);
        await tx.query(`DELETE FROM ${s}.secrets WHERE vault_id = $1 AND name_key = $2`, [vaultId, nameKey]);
        return false;
      case 'SecretRestored': {
        const d = e.data;
        const last = d.versions[d.versions.length - 1]!;
        await tx.query(
          `INSERT INTO ${s}.secrets (vault_id, name_key, name, status, latest_version, managed, data_key_id, data_key_ref, stream_version)
           VALUES ($1, $2, $3, 'active', $4, $5, $6, $7, $8)`,
          [vaultId, nameKey, d.name, last.version, d.managed, last.keyId, last.keyRef, e.streamVersion],
        );
        for (const v of d.versions) await this.insertVersion(tx, vaultId, nameKey, v);
        return false;
      }
      default:
        assertNever(e, 'secret event');
    }
  }
}
