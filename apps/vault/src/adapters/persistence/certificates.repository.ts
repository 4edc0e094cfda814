import type { Database, Row, Sql } from '#libs/platform';
import type { RecordedEvent } from '#libs/eventstore';
import { evolveCertificate, initialCertificateState, type CertificateState } from '../../domain/certificate/certificate.decider.js';
import { certificateStreamId, type CertificateEvent } from '../../domain/certificate/certificate.events.js';

type StateRow = Row & { stream: string | null; state: CertificateState | null };
type ListRow = Row & { name_key: string; state: CertificateState };

/** The certificates read model (table `certificates`): each certificate's folded state, saved inside the append transaction. */
export class CertificatesRepository {
  constructor(private readonly db: Database) {}

  private get s(): string {
    return this.db.schema;
  }

  /** The certificate's state and its stream's version (0: none; a purged certificate's stream keeps its version). */
  async loadState(vaultId: string, nameKey: string): Promise<{ state: CertificateState; streamVersion: number }> {
    const rows = await this.db.query<StateRow>(
      `SELECT st.version::text AS stream, c.state
         FROM (SELECT 1) AS one
         LEFT JOIN ${this.s}.streams st ON st.stream_id = $3
         LEFT JOIN ${this.s}.certificates c ON c.vault_id = $1 AND c.name_key = $2`,
      [vaultId, nameKey, certificateStreamId(vaultId, nameKey)],
    );
    const row = rows[0];
    return { state: row?.state ?? initialCertificateState(), streamVersion: row?.stream ? Number(row.stream) : 0 };
  }

  /** A page of certificates in one status, by name key after `after`. */
  async list(vaultId: string, status: 'active' | 'deleted', after: string | undefined, limit: number): Promise<{ nameKey: string; state: CertificateState }[]> {
    const rows = await this.db.query<ListRow>(
      `SELECT name_key, state FROM ${this.s}.certificates WHERE vault_id = $1 AND status = $2 AND name_key > $3 ORDER BY name_key LIMIT $4`,
      [vaultId, status, after ?? '', limit],
    );
    return rows.map((r) => ({ nameKey: r.name_key, state: r.state }));
  }

  /** Active certificates of every vault after `after` (`{vaultId}/{nameKey}`), for the lifetime scheduler. */
  async active(limit: number, after = ''): Promise<{ vaultId: string; nameKey: string; state: CertificateState }[]> {
    const rows = await this.db.query<Row & { vault_id: string; name_key: string; state: CertificateState }>(
      `SELECT vault_id::text, name_key, state FROM ${this.s}.certificates WHERE status = 'active' AND (vault_id::text || '/' || name_key) > $1 ORDER BY vault_id::text || '/' || name_key LIMIT $2`,
      [after, limit],
    );
    return rows.map((r) => ({ vaultId: r.vault_id, nameKey: r.name_key, state: r.state }));
  }

  /**
   * Active certificates whose operation is in progress, its version created at or before
   * `startedBefore` (unix seconds), after `after` (`{vaultId}/{nameKey}`): what the issuance
   * pass retries. Served by the partial index of migration 008.
   */
  async pendingIssuance(startedBefore: number, limit: number, after = ''): Promise<{ vaultId: string; nameKey: string; state: CertificateState }[]> {
    const rows = await this.db.query<Row & { vault_id: string; name_key: string; state: CertificateState }>(
      `SELECT vault_id::text, name_key, state FROM ${this.s}.certificates c
        WHERE status = 'active' AND (state->'pending'->>'status') = 'inProgress'
          AND (vault_id::text || '/' || name_key) > $1
          AND EXISTS (SELECT 1 FROM jsonb_array_elements(c.state->'versions') v
                       WHERE v->>'version' = c.state->'pending'->>'version' AND (v->>'created')::bigint <= $3)
        ORDER BY vault_id::text || '/' || name_key LIMIT $2`,
      [after, limit, startedBefore],
    );
    return rows.map((r) => ({ vaultId: r.vault_id, nameKey: r.name_key, state: r.state }));
  }

  /** Deleted certificates whose purge date has passed. */
  async duePurges(now: number, limit: number): Promise<{ vaultId: string; nameKey: string }[]> {
    const rows = await this.db.query<Row & { vault_id: string; name_key: string }>(
      `SELECT vault_id::text, name_key FROM ${this.s}.certificates WHERE status = 'deleted' AND scheduled_purge_date <= $1 ORDER BY scheduled_purge_date LIMIT $2`,
      [now, limit],
    );
    return rows.map((r) => ({ vaultId: r.vault_id, nameKey: r.name_key }));
  }

  async nameKeysOfVault(vaultId: string): Promise<string[]> {
    const rows = await this.db.query<Row & { name_key: string }>(`SELECT name_key FROM ${this.s}.certificates WHERE vault_id = $1`, [vaultId]);
    return rows.map((r) => r.name_key);
  }

  /** Folds recorded events onto the stored state (the read-model rebuild; appends save the state they computed). */
  async project(tx: Sql, vaultId: string, nameKey: string, events: readonly RecordedEvent<CertificateEvent>[]): Promise<void> {
    if (events.length === 0) return;
    const rows = await tx.query<Row & { state: CertificateState }>(`SELECT state FROM ${this.s}.certificates WHERE vault_id = $1 AND name_key = $2`, [vaultId, nameKey]);
    const state = events.reduce<CertificateState>(evolveCertificate, rows[0]?.state ?? initialCertificateState());
    await this.save(tx, vaultId, nameKey, state, events[events.length - 1]!.streamVersion);
  }

  /** Saves the state after an append (deletes the row when the certificate is gone). */
  async save(tx: Sql, vaultId: string, nameKey: string, state: CertificateState, streamVersion: number): Promise<void> {
    if (state.status === 'absent') {
      await tx.query(`DELETE FROM ${this.s}.certificates WHERE vault_id = $1 AND name_key = $2`, [vaultId, nameKey]);
      return;
    }
    await tx.query(
      `INSERT INTO ${this.s}.certificates (vault_id, name_key, name, status, state, deleted_date, scheduled_purge_date, stream_version)
       VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)
       ON CONFLICT (vault_id, name_key) DO UPDATE
          SET status = EXCLUDED.status, state = EXCLUDED.state, deleted_date = EXCLUDED.deleted_date,
              scheduled_purge_date = EXCLUDED.scheduled_purge_date, stream_version = EXCLUDED.stream_version`,
      [vaultId, nameKey, state.name ?? nameKey, state.status, JSON.stringify(state), state.deletedDate, state.scheduledPurgeDate, streamVersion],
    );
  }
}
