/**
 * @module crypto-client — typed client of the crypto service's gRPC API (mutual TLS).
 *
 * ```ts
 * import { CryptoClient, CryptoError, CryptoErrorCode } from '#libs/crypto-client';
 * const crypto = CryptoClient.forDevCa();            // localhost:9445, .keyledger/tls
 * const ctx = { tenantId: tid, objectId: oid, appId, callerIp, correlationId, requestUri, operationName: 'KeySign' };
 * const ref = { tenant: tid, vault: 'dev', collection: 'keys', name: 'k1', version: '' };
 * const { result } = await crypto.sign({ ctx, ref, algorithm: 'ES256', value: digest });
 * try { ... } catch (e) { if (e instanceof CryptoError && e.code === CryptoErrorCode.KeyNotFound) ... }
 * ```
 * Nest: `CryptoClientModule.forRoot(() => CryptoClient.forDevCa())`, inject `CRYPTO_CLIENT`.
 */
export * from './crypto.types.js';
export * from './crypto.errors.js';
export * from './crypto.proto.js';
export { CryptoClient, toCryptoError, type CallOptions, type CryptoClientOptions, type CryptoClientTls } from './crypto.client.js';
export { CRYPTO_CLIENT, CryptoClientModule, cryptoClientProvider } from './crypto-client.module.js';
