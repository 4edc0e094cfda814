import { bool, commonSchema, int, port, str, url, type ConfigOf } from '#libs/platform';

/** The vault service's environment, validated once at boot (every problem reported together). */
export const vaultSchema = {
  ...commonSchema,
  VAULT_PORT: port('HTTPS port of the vault service (Azure Key Vault REST API)', 8443),
  VAULT_GRPC_PORT: port('port of the vault gRPC API for applications', 8445),
  KEYLEDGER_DOMAIN: str('DNS domain of the deployment: vaults live at https://{vault}.vault.<domain>', 'localhost'),
  VAULT_PUBLIC_URL: str(
    'origin clients use when it differs from the Host header (behind a proxy), e.g. https://{vault}.vault.example.com; "{vault}" is replaced by the vault name',
    '',
  ),
  VAULT_PUBLIC_HSM_URL: str(
    'origin clients use for Managed HSM pools when it differs from the Host header (behind a proxy), e.g. https://{pool}.managedhsm.example.com; "{pool}" is replaced by the pool name',
    '',
  ),
  VAULT_DEFAULT_POOL: str('Managed HSM pool created at first start (https://{pool}.managedhsm.<domain>:<VAULT_PORT>); empty: none', 'dev'),
  VAULT_DEFAULT_VAULT: str('vault served on https://localhost and https://127.0.0.1 (created at first start)', 'dev'),
  VAULT_TENANT_ID: str('tenant named in the 401 challenge; default: the identity service default tenant (from its TenantCreated events)', ''),
  IDENTITY_URL: url('the identity service as clients reach it (challenge authority, token issuer)', 'https://localhost:9443', ['https']),
  IDENTITY_JWKS_URL: str('where token-signing keys are fetched (default: <IDENTITY_URL>/discovery/keys)', ''),
  CRYPTO_GRPC_TARGET: str('host:port of the crypto service gRPC API (mutual TLS)', 'localhost:9445'),
  CRYPTO_GRPC_SERVERNAME: str('TLS server name expected from the crypto service certificate', 'localhost'),
  CRYPTO_TIMEOUT_MS: int('deadline of one call to the crypto service, milliseconds', 5_000, 100, 60_000),
  VAULT_DATA_KEY_CACHE_MAX: int('plaintext data keys kept in memory (zeroed on eviction)', 10_000, 0, 1_000_000),
  VAULT_DATA_KEY_CACHE_TTL_MS: int('how long a data key stays in memory after it was fetched, milliseconds', 300_000, 1_000, 86_400_000),
  VAULT_DEFAULT_RETENTION_DAYS: int('soft-delete retention of new vaults when not given (7-90)', 90, 7, 90),
  VAULT_PURGE_INTERVAL_MS: int('how often the scheduler purges soft-deleted objects whose purge date passed, milliseconds', 60_000, 1_000, 86_400_000),
  VAULT_MAX_BODY_BYTES: int('largest request body accepted, bytes (restore blobs excepted)', 256 * 1024, 1024, 64 * 1024 * 1024),
  VAULT_MAX_RESTORE_BYTES: int('largest backup blob accepted by restore, bytes', 8 * 1024 * 1024, 1024, 256 * 1024 * 1024),
  VAULT_SECRET_CACHE_MAX: int('current secret versions kept in memory (ciphertext; dropped on every change, here or in another vault process); 0: off', 10_000, 0, 1_000_000),
  VAULT_SECRET_CACHE_TTL_MS: int('longest a cached secret version is served, milliseconds (the staleness bound should a change notification be lost)', 5_000, 100, 3_600_000),
  VAULT_THROTTLE: str('request budgets per vault and per principal (429 Throttled with Retry-After): "azure" (Azure\'s published service limits, with VAULT_THROTTLE_LIMITS over them) or "off"', 'azure'),
  VAULT_THROTTLE_LIMITS: str('per-vault budgets per 10 s over Azure\'s, e.g. "keys-create=10,keys=2000,secrets=4000,other=4000"', ''),
  VAULT_THROTTLE_PRINCIPAL_LIMITS: str('per-principal budgets per 10 s (default: the per-vault ones), same form', ''),
  VAULT_MAX_IN_FLIGHT: int('load shedding: requests of this process working at once (after authentication and throttling); the next wait for a slot; 0: no bound', 64, 0, 100_000),
  VAULT_MAX_QUEUED: int('load shedding: requests waiting for a slot at once; one more is answered 503 ServiceUnavailable with Retry-After at once', 512, 0, 1_000_000),
  VAULT_QUEUE_TIMEOUT_MS: int('load shedding: longest wait for a slot, milliseconds; then 503 ServiceUnavailable with Retry-After', 1_000, 0, 600_000),
  VAULT_TOKEN_CACHE_MAX: int('verified access tokens remembered (by SHA-256) until they expire', 10_000, 0, 1_000_000),
  VAULT_DB_POOL_MAX: int('PostgreSQL connections of the request path (reads, appends, audit records)', 32, 1, 500),
  VAULT_ATTESTATION_ISSUERS: str(
    'secure key release: trusted attestation authorities, JSON {"<tenant id>|*": ["<issuer URL>" | {"issuer","jwks_uri"}]} ({tenant} is replaced); empty: identity\'s development authority <IDENTITY_URL>/attestation/{tenant}',
    '',
  ),
  VAULT_GRPC_ENABLED: bool('serve the keyledger.v1.Secrets gRPC API', true),
} as const;

export type VaultConfig = ConfigOf<typeof vaultSchema>;
