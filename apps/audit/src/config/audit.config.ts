import { commonSchema, int, oneOf, port, str, url, type ConfigOf } from '#libs/platform';

const ES_NAME = /^[a-z0-9][a-z0-9_.-]{0,150}$/;
const esName = (description: string, def: string) => ({
  description,
  default: def,
  parse: (raw: string): string => {
    if (!ES_NAME.test(raw)) throw new Error('must be a lower-case Elasticsearch index/alias name');
    return raw;
  },
});
const instance = {
  description: 'name of this audit instance: its PostgreSQL schema, Kafka consumer group prefix and service name (tests run isolated instances)',
  default: 'audit',
  parse: (raw: string): string => {
    if (!/^[a-z_][a-z0-9_]{0,40}$/.test(raw)) throw new Error('must be a lower-case identifier (a PostgreSQL schema name)');
    return raw;
  },
};
const duration = (description: string, def: string) => ({
  description,
  default: def,
  parse: (raw: string): string => {
    if (!/^(-1|\d+(ms|s|m))$/.test(raw)) throw new Error('must be an Elasticsearch time value such as 250ms or 1s');
    return raw;
  },
});

/** The audit service's environment, validated once at boot (every problem reported together). */
export const auditSchema = {
  ...commonSchema,
  AUDIT_PORT: port('HTTPS port of the audit service', 8444),
  AUDIT_INSTANCE: instance,
  KEYLEDGER_DOMAIN: str('DNS domain of the deployment: the audit API accepts tokens for https://audit.<domain>', 'localhost'),
  IDENTITY_URL: url('the identity service as clients reach it (challenge authority, token issuer)', 'https://localhost:9443', ['https']),
  IDENTITY_JWKS_URL: str('where token-signing keys are fetched (default: <IDENTITY_URL>/discovery/keys)', ''),
  AUDIT_TENANT_ID: str('tenant named in the 401 challenge; default: the identity default tenant (from its TenantCreated events)', ''),
  AUDIT_ES_ALIAS: esName('alias of the audit-record indices (<alias>-v<generation>-YYYY.MM)', 'keyledger-audit'),
  AUDIT_OBJECTS_ALIAS: esName('alias of the current-state index of vaults, secrets, keys and certificates', 'keyledger-objects'),
  AUDIT_ES_REFRESH_INTERVAL: duration('refresh interval of the audit indices: how soon an indexed record is searchable', '250ms'),
  AUDIT_ES_TRANSLOG_DURABILITY: oneOf('request: Elasticsearch fsyncs its translog before answering each bulk; async: every AUDIT_ES_TRANSLOG_SYNC_INTERVAL (the indexer then moves its progress only past synced operations)', ['request', 'async'] as const, 'async'),
  AUDIT_ES_TRANSLOG_SYNC_INTERVAL: duration('with AUDIT_ES_TRANSLOG_DURABILITY=async: how often the translog is fsynced', '1s'),
  AUDIT_ES_REPLICAS: int('replicas of the audit indices (0 on a single node)', 0, 0, 5),
  AUDIT_LEDGER_START: oneOf('where a ledger consumer group without committed offsets starts on the audit topic (earliest: the whole history)', ['earliest', 'latest'] as const, 'earliest'),
  AUDIT_LEDGER_BATCH: int('audit records appended to the ledger per transaction, at most', 1_000, 1, 5_000),
  AUDIT_LEDGER_FETCH_WAIT_MS: int('the ledger consumer waits this long (ms) for AUDIT_LEDGER_FETCH_MIN_BYTES of records before taking what there is: larger batches under load, at most this much more latency idle', 50, 0, 1_000),
  AUDIT_LEDGER_FETCH_MIN_BYTES: int('bytes of audit records the ledger consumer waits for per fetch (see AUDIT_LEDGER_FETCH_WAIT_MS)', 1_048_576, 1, 16_777_216),
  AUDIT_INDEX_BATCH: int('ledger entries per indexing step (sent as two concurrent bulk requests), at most: catch-up, rebuild, and the live indexer while it has a backlog', 2_000, 1, 20_000),
  AUDIT_INDEX_LIVE_BATCH: int('ledger entries per live indexing step while the indexer keeps up (small bulks: less time before a record is searchable); a full step doubles the next, up to AUDIT_INDEX_BATCH', 250, 1, 20_000),
  AUDIT_CHECKPOINT_EVERY_RECORDS: int('a signed checkpoint after this many new records in a chain', 1_000, 1, 10_000_000),
  AUDIT_CHECKPOINT_INTERVAL_SECONDS: int('and at least this often per chain, idle or not (seconds)', 60, 1, 86_400),
  AUDIT_CHECKPOINT_SIGNER: oneOf('who signs checkpoints: crypto (a P-256 key held by the crypto service) or local (a key sealed in the audit schema)', ['crypto', 'local'] as const, 'crypto'),
  AUDIT_CHECKPOINT_KEY_VAULT: str('crypto signer: the vault name the checkpoint key is filed under in the crypto service', 'keyledger-audit'),
  AUDIT_CHECKPOINT_KEY_TENANT: str('crypto signer: the tenant the checkpoint key is filed under in the crypto service', 'keyledger-system'),
  CRYPTO_GRPC_TARGET: str('host:port of the crypto service gRPC API (mutual TLS)', 'localhost:9445'),
  CRYPTO_GRPC_SERVERNAME: str('TLS server name expected from the crypto service certificate', 'localhost'),
  AUDIT_CHECKPOINT_KEK: str('base64 32-byte key sealing the local checkpoint signing key (default: a file under KEYLEDGER_HOME/<instance>)', '', true),
};

export type AuditConfig = ConfigOf<typeof auditSchema>;

export const auditResource = (c: AuditConfig): string => `https://audit.${c.KEYLEDGER_DOMAIN}`;
