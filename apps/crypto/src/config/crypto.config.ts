import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { bool, commonSchema, ConfigError, int, oneOf, port, str, type ConfigOf } from '#libs/platform';

export const cryptoSchema = {
  ...commonSchema,
  CRYPTO_PORT: port('HTTPS port of the crypto service (health, metrics)', 9444),
  CRYPTO_GRPC_PORT: port('gRPC port of the crypto service (mutual TLS)', 9445),
  CRYPTO_GRPC_REQUIRE_CLIENT_CERT: bool('require gRPC clients to present a certificate signed by TLS_CA_FILE', true),
  CRYPTO_ROOT: oneOf('where the root key lives: pkcs11 (HSM token) or dev (derived from CRYPTO_UNSEAL_SECRET)', ['pkcs11', 'dev'] as const, 'pkcs11'),
  CRYPTO_UNSEAL_SECRET: str('development root: unseal secret (at least 16 bytes); only with CRYPTO_ROOT=dev', '', true),
  PKCS11_MODULE: str('PKCS#11 module (shared library) path', '/usr/lib/softhsm/libsofthsm2.so'),
  PKCS11_TOKEN_LABEL: str('label of the PKCS#11 token holding the root key and HSM keys', 'keyledger'),
  PKCS11_PIN: str('user PIN of the token (or use PKCS11_PIN_FILE)', '', true),
  PKCS11_PIN_FILE: str('file holding the user PIN (re-read on every unseal attempt); default <KEYLEDGER_HOME>/softhsm/user.pin', ''),
  PKCS11_ROOT_KEY_LABEL: str('CKA_LABEL of the AES-256 root key object in the token', 'keyledger-root'),
  PKCS11_ROOT_CREATE: oneOf(
    'generate the root key object when missing: auto (only while crypto holds no vault KEKs), true, false',
    ['auto', 'true', 'false'] as const,
    'auto',
  ),
  PKCS11_BACKUP_KEY_LABEL: str('CKA_LABEL of the AES-256 wrapping key in the token that wraps HSM keys into key backups (created on first use)', 'keyledger-backup-wrap'),
  CRYPTO_HSM_KEY_BACKUP: bool(
    'HSM keys are created extractable only wrapped by the token backup wrapping key, so key backups can carry them; false: they never leave the token and cannot be backed up',
    true,
  ),
  CRYPTO_UNSEAL_RETRY_MS: int('while sealed, how often to retry opening the root (ms)', 5_000, 100, 3_600_000),
  CRYPTO_KEY_CACHE_MAX: int('decrypted software keys kept in memory (entries)', 1_000, 0, 1_000_000),
  CRYPTO_KEY_CACHE_TTL_MS: int('how long a decrypted software key stays cached (ms)', 300_000, 1_000, 86_400_000),
  CRYPTO_WORKERS: int('worker threads for software RSA and EC private-key operations (0 = on the event loop); default one per core, at most 4', Math.min(4, availableParallelism()), 0, 32),
  CRYPTO_MAX_VALUE_BYTES: int('largest value of a key operation (encrypt/decrypt/wrap/unwrap/sign/verify)', 64 * 1024, 256, 4 * 1024 * 1024),
  CRYPTO_MAX_BACKUP_BYTES: int('largest backup payload to seal or blob to open', 4 * 1024 * 1024, 1024, 12 * 1024 * 1024),
};

export type CryptoConfig = ConfigOf<typeof cryptoSchema>;

/** Checks between variables, after each parsed on its own. */
export function assertCryptoConfig(config: CryptoConfig): void {
  const problems: string[] = [];
  if (config.CRYPTO_ROOT === 'dev') {
    if (Buffer.byteLength(config.CRYPTO_UNSEAL_SECRET, 'utf8') < 16) problems.push('CRYPTO_UNSEAL_SECRET is required with CRYPTO_ROOT=dev and must be at least 16 bytes');
  } else if (config.CRYPTO_UNSEAL_SECRET !== '') {
    problems.push('CRYPTO_UNSEAL_SECRET is only used with CRYPTO_ROOT=dev (unset it, or set CRYPTO_ROOT=dev)');
  }
  if (problems.length > 0) throw new ConfigError(problems);
}

/** The PIN file the service reads when PKCS11_PIN is not set. */
export function pinFileOf(config: CryptoConfig): string {
  return config.PKCS11_PIN_FILE || join(config.KEYLEDGER_HOME, 'softhsm', 'user.pin');
}
