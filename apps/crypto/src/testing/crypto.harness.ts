/**
 * Test harness (int tests only): a real crypto service in this process on a throwaway
 * PostgreSQL schema, gRPC on a free port with mutual TLS, and a CryptoClient talking to it.
 * PKCS#11 instances use the local stack's SoftHSM2 token with a root key object of their own,
 * destroyed again (with every token object the instance created) by `close()`.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { AuditRecord } from '#libs/contracts';
import { Pkcs11Token } from '#libs/crypto-core';
import { CryptoClient, CryptoError, type CallContext } from '#libs/crypto-client';
import { TOPICS } from '#libs/contracts';
import { keyledgerHome } from '#libs/platform';
import { startCryptoService, type RunningCrypto } from '../crypto.app.js';

export interface TestCrypto {
  readonly service: RunningCrypto;
  readonly client: CryptoClient;
  readonly schema: string;
  readonly root: 'dev' | 'pkcs11';
  /** The HTTPS port of health/metrics. */
  readonly httpPort: number;
  /** A CallContext for a fresh correlation id. */
  ctx(operationName?: string): CallContext & { readonly correlationId: string };
  /** Audit records written for a correlation id (from the outbox; the relay is off). */
  auditRecords(correlationId: string): Promise<AuditRecord[]>;
  /** Runs SQL on the instance's schema. */
  sql(text: string, params?: readonly unknown[]): Promise<Record<string, unknown>[]>;
  close(): Promise<void>;
}

export const SOFTHSM_MODULE = process.env.PKCS11_MODULE ?? '/usr/lib/softhsm/libsofthsm2.so';
export const SOFTHSM_PIN_FILE = join(keyledgerHome(), 'softhsm', 'user.pin');

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export interface StartTestCryptoOptions {
  readonly root: 'dev' | 'pkcs11';
  /** Extra environment (e.g. a wrong PKCS11_PIN). */
  readonly env?: Readonly<Record<string, string>>;
  readonly tenant?: string;
}

export async function startTestCrypto(options: StartTestCryptoOptions): Promise<TestCrypto> {
  const suffix = randomBytes(5).toString('hex');
  const schema = `crypto_t_${suffix}`;
  const grpcPort = await freePort();
  const rootLabel = `kl-test-root-${suffix}`;
  const backupKeyLabel = `kl-test-backup-${suffix}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    CRYPTO_PORT: '0',
    CRYPTO_GRPC_PORT: String(grpcPort),
    CRYPTO_UNSEAL_RETRY_MS: '200',
    KAFKAJS_NO_PARTITIONER_WARNING: '1',
    ...(options.root === 'dev'
      ? { CRYPTO_ROOT: 'dev', CRYPTO_UNSEAL_SECRET: randomBytes(24).toString('base64url') }
      : { CRYPTO_ROOT: 'pkcs11', CRYPTO_UNSEAL_SECRET: '', PKCS11_MODULE: SOFTHSM_MODULE, PKCS11_PIN_FILE: SOFTHSM_PIN_FILE, PKCS11_ROOT_KEY_LABEL: rootLabel, PKCS11_BACKUP_KEY_LABEL: backupKeyLabel, PKCS11_ROOT_CREATE: 'true' }),
    ...options.env,
  };
  const service = await startCryptoService({ env, name: schema, relay: false });
  const address = service.app.getHttpServer().address();
  const httpPort = typeof address === 'object' && address ? address.port : 0;
  const client = CryptoClient.forDevCa({ address: service.grpcAddress });
  const db = service.runtime.db;
  const tenant = options.tenant ?? `tenant-${suffix}`;
  let n = 0;
  return {
    service,
    client,
    schema,
    root: options.root,
    httpPort,
    ctx: (operationName = 'Test') => ({
      tenantId: tenant,
      objectId: 'oid-test',
      appId: 'app-test',
      callerIp: '192.0.2.10',
      correlationId: `corr-${suffix}-${++n}`,
      requestUri: `https://test.vault.localhost/${operationName}`,
      operationName,
    }),
    auditRecords: async (correlationId) => {
      const rows = await db.query<{ payload: { data: AuditRecord } }>(
        `SELECT payload FROM ${schema}.outbox WHERE topic = $1 AND payload->>'correlationId' = $2 ORDER BY id`,
        [TOPICS.auditRecords, correlationId],
      );
      return rows.map((r) => r.payload.data);
    },
    sql: (text, params = []) => db.query(text, params),
    close: async () => {
      client.close();
      const hsmObjects =
        options.root === 'pkcs11' ? (await db.query<{ id: string }>(`SELECT hsm_object_id AS id FROM ${schema}.key_material WHERE hsm_object_id IS NOT NULL`)).map((r) => r.id) : [];
      await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => undefined);
      await service.close();
      if (options.root === 'pkcs11') {
        // What this instance put in the shared token: its root key object, backup wrapping key and HSM keys.
        const token = Pkcs11Token.open({ modulePath: SOFTHSM_MODULE, tokenLabel: 'keyledger', pin: readFileSync(SOFTHSM_PIN_FILE, 'utf8').trim() });
        try {
          token.destroyObjects(rootLabel);
          token.destroyObjects(backupKeyLabel);
          for (const id of hsmObjects) token.destroyObjects(id);
        } finally {
          token.close();
        }
      }
    },
  };
}

/** The CryptoError a call rejects with (any other outcome fails the test). */
export async function cryptoErrorOf(p: Promise<unknown>): Promise<CryptoError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof CryptoError) return e;
    throw e;
  }
  throw new Error('expected a CryptoError');
}
