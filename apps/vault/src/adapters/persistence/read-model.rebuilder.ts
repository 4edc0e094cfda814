import type { EventRegistry } from '#libs/kernel';
import type { RecordedEvent } from '#libs/eventstore';
import type { Database, Row } from '#libs/platform';
import type { CertificateEvent } from '../../domain/certificate/certificate.events.js';
import type { KeyEvent } from '../../domain/key/key.events.js';
import type { CertificatesRepository } from './certificates.repository.js';
import type { SecretEvent } from '../../domain/secret/secret.events.js';
import type { VaultEvent } from '../../domain/vault/vault.events.js';
import type { KeysRepository } from './keys.repository.js';
import type { SecretsRepository } from './secrets.repository.js';
import type { VaultsRepository } from './vaults.repository.js';

type EventRow = Row & {
  position: string;
  transaction_id: string;
  stream_id: string;
  stream_version: string;
  event_id: string;
  type: string;
  schema_version: number;
  data: Record<string, unknown>;
  metadata: RecordedEvent['metadata'];
};

const SECRET_STREAM = /^secret-([0-9a-f-]{36})-(.+)$/;
const KEY_STREAM = /^key-([0-9a-f-]{36})-(.+)$/;
const VAULT_STREAM = /^vault-(.+)$/;
const POOL_STREAM = /^managedhsm-(.+)$/;
const CERT_STREAM = /^cert-([0-9a-f-]{36})-(.+)$/;

/**
 * Rebuilds the vault read models (vaults, secrets, secret_versions) from the event log, in
 * one transaction that sees every committed event (commit order). Writers that append
 * meanwhile wait on the table locks and project on top of the rebuilt state afterwards.
 */
export class ReadModelRebuilder {
  constructor(
    private readonly db: Database,
    private readonly registry: EventRegistry,
    private readonly vaults: VaultsRepository,
    private readonly secrets: SecretsRepository,
    /** Optional so existing callers keep working; without it key tables are left as they are. */
    private readonly keys?: KeysRepository,
    /** The Managed HSM pools read model (`managed_hsms`); without it that table is left as it is. */
    private readonly pools?: VaultsRepository,
    /** The certificates read model; without it that table is left as it is. */
    private readonly certificates?: CertificatesRepository,
  ) {}

  async rebuild(batch = 1000): Promise<{ events: number }> {
    const s = this.db.schema;
    return this.db.transaction(async (tx) => {
      const tables = [`${s}.vaults`, `${s}.secrets`, `${s}.secret_versions`, ...(this.keys ? [`${s}.keys`, `${s}.key_versions`] : []), ...(this.pools ? [`${s}.managed_hsms`] : []), ...(this.certificates ? [`${s}.certificates`] : [])].join(', ');
      await tx.query(`LOCK TABLE ${tables} IN ACCESS EXCLUSIVE MODE`);
      await tx.query(`TRUNCATE ${tables}`);
      // Every vault process's secret cache starts over when this commits.
      await this.secrets.notifyAllChanged(tx);
      let after = { tx: '0', pos: '0' };
      let count = 0;
      for (;;) {
        const rows = await tx.query<EventRow>(
          `SELECT e.position::text, e.transaction_id::text, e.stream_id, e.stream_version::text, e.event_id::text, e.type, e.schema_version, e.data, e.metadata
             FROM ${s}.events e
            WHERE (e.stream_id LIKE 'vault-%' OR e.stream_id LIKE 'secret-%' OR e.stream_id LIKE 'key-%' OR e.stream_id LIKE 'managedhsm-%' OR e.stream_id LIKE 'cert-%') AND (e.transaction_id, e.position) > ($1::xid8, $2::bigint)
            ORDER BY e.transaction_id, e.position
            LIMIT $3`,
          [after.tx, after.pos, batch],
        );
        for (const r of rows) {
          const current = this.registry.toCurrent(r.type, r.schema_version, r.data, r.event_id);
          const recorded = {
            type: current.type,
            data: current.data,
            streamId: r.stream_id,
            streamVersion: Number(r.stream_version),
            schemaVersion: current.schemaVersion,
            position: r.position,
            transactionId: r.transaction_id,
            metadata: r.metadata,
          };
          const secret = SECRET_STREAM.exec(r.stream_id);
          const vault = VAULT_STREAM.exec(r.stream_id);
          const key = KEY_STREAM.exec(r.stream_id);
          const pool = POOL_STREAM.exec(r.stream_id);
          const cert = CERT_STREAM.exec(r.stream_id);
          if (cert) {
            if (this.certificates) await this.certificates.project(tx, cert[1]!, cert[2]!, [recorded as unknown as RecordedEvent<CertificateEvent>]);
          } else if (key) {
            if (this.keys) await this.keys.project(tx, key[1]!, key[2]!, [recorded as unknown as RecordedEvent<KeyEvent>]);
          } else if (secret) await this.secrets.project(tx, secret[1]!, secret[2]!, [recorded as unknown as RecordedEvent<SecretEvent>]);
          else if (vault) await this.vaults.project(tx, vault[1]!, [recorded as unknown as RecordedEvent<VaultEvent>]);
          else if (pool) await this.pools?.project(tx, pool[1]!, [recorded as unknown as RecordedEvent<VaultEvent>]);
          count++;
        }
        if (rows.length < batch) return { events: count };
        const last = rows[rows.length - 1]!;
        after = { tx: last.transaction_id, pos: last.position };
      }
    });
  }
}
