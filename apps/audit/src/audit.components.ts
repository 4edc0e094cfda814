import { join } from 'node:path';
import { HttpsJwksSource, RbacEvaluator, RbacReadModelConsumer, TokenVerifier } from '#libs/auth';
import { TOPICS } from '#libs/contracts';
import { CryptoClient } from '#libs/crypto-client';
import type { AuditWriter, EventStore } from '#libs/eventstore';
import { ProjectionRunner } from '#libs/projections';
import type { ServiceRuntime } from '#libs/platform';
import { AuditAuthorizer } from './adapters/http/audit-auth.js';
import { AuditRecordsConsumer } from './adapters/kafka/audit-records.consumer.js';
import { LifecycleEventsConsumer } from './adapters/kafka/lifecycle-events.consumer.js';
import { LedgerRepository } from './adapters/persistence/ledger.repository.js';
import { LocalEs256CheckpointSigner } from './adapters/persistence/local-checkpoint-signer.js';
import { ObjectUsageRepository } from './adapters/persistence/object-usage.repository.js';
import { CheckpointService } from './application/checkpoint.service.js';
import { TrustedSigners } from './application/trusted-signers.js';
import { CryptoCheckpointSigner } from './adapters/grpc/crypto-checkpoint-signer.js';
import { LedgerService } from './application/ledger.service.js';
import { ReindexService } from './application/reindex.service.js';
import { AuditSearchService } from './application/search.service.js';
import { VerifyService } from './application/verify.service.js';
import { auditResource, type AuditConfig } from './config/audit.config.js';
import { AuditRecordsIndexer } from './projections/audit-records/audit-records.indexer.js';
import { objectStateProjection } from './projections/object-state/object-state.projection.js';
import { ObjectStateIndexer } from './projections/object-state/object-state.indexer.js';

export const AUDIT_COMPONENTS = Symbol('keyledger.audit.components');

/** Everything the audit service runs, built once from the runtime (wiring only, no logic). */
export type AuditComponents = ReturnType<typeof buildAuditComponents>;

export function buildAuditComponents(runtime: ServiceRuntime<AuditConfig>, store: EventStore, writer: AuditWriter) {
  const c = runtime.config;
  const { db, es, kafka } = runtime;
  const log = (component: string) => runtime.logger.child({ component });
  const instance = c.AUDIT_INSTANCE;
  const ledger = new LedgerRepository(db);
  const usage = new ObjectUsageRepository(db);
  const ledgerService = new LedgerService(ledger, usage);
  const local = new LocalEs256CheckpointSigner(db, LocalEs256CheckpointSigner.loadKek(c.AUDIT_CHECKPOINT_KEK, join(c.KEYLEDGER_HOME, instance, 'checkpoint.kek')));
  const cryptoClient = new CryptoClient({
    address: c.CRYPTO_GRPC_TARGET,
    deadlineMs: 10_000,
    tls: { ca: runtime.tls.ca, cert: runtime.tls.cert, key: runtime.tls.key },
    channelOptions: { 'grpc.ssl_target_name_override': c.CRYPTO_GRPC_SERVERNAME, 'grpc.default_authority': c.CRYPTO_GRPC_SERVERNAME },
  });
  const viaCrypto = new CryptoCheckpointSigner(db, cryptoClient, { tenant: c.AUDIT_CHECKPOINT_KEY_TENANT, vault: c.AUDIT_CHECKPOINT_KEY_VAULT, name: `${instance.replace(/_/g, '-')}-checkpoints` });
  // Both kinds of key stay trusted for verification, whichever signs now.
  const signer = new TrustedSigners(c.AUDIT_CHECKPOINT_SIGNER === 'crypto' ? viaCrypto : local, [
    { signer: local, owns: LocalEs256CheckpointSigner.owns },
    { signer: viaCrypto, owns: CryptoCheckpointSigner.owns },
  ]);
  const recordsIndexer = new AuditRecordsIndexer(db, es, { alias: c.AUDIT_ES_ALIAS, refreshInterval: c.AUDIT_ES_REFRESH_INTERVAL, replicas: c.AUDIT_ES_REPLICAS, translogDurability: c.AUDIT_ES_TRANSLOG_DURABILITY, translogSyncInterval: c.AUDIT_ES_TRANSLOG_SYNC_INTERVAL, batchSize: c.AUDIT_INDEX_BATCH, liveBatchSize: c.AUDIT_INDEX_LIVE_BATCH }, log('audit-indexer'));
  const objectIndexer = new ObjectStateIndexer(db, es, { alias: c.AUDIT_OBJECTS_ALIAS, refreshInterval: c.AUDIT_ES_REFRESH_INTERVAL, replicas: c.AUDIT_ES_REPLICAS }, log('object-indexer'));
  const objectState = new ProjectionRunner(store, objectStateProjection(db.schema), { logger: log('object-state') });
  const checkpoints = new CheckpointService(db, ledger, store, signer, { everyRecords: c.AUDIT_CHECKPOINT_EVERY_RECORDS, intervalMs: c.AUDIT_CHECKPOINT_INTERVAL_SECONDS * 1000 }, log('checkpoints'));
  const verify = new VerifyService(ledger, signer, (chain, seq) => recordsIndexer.recordIdAt(chain, seq));
  const reindex = new ReindexService(db, ledger, usage, recordsIndexer, objectState, objectIndexer, log('reindex'));
  const search = new AuditSearchService(es, c.AUDIT_ES_ALIAS, c.AUDIT_OBJECTS_ALIAS);
  const consumer = new AuditRecordsConsumer({
    kafka,
    db,
    topic: TOPICS.auditRecords,
    group: `${instance}-ledger`,
    handler: (records, tx) => ledgerService.append(records, tx),
    afterCommit: (records) => {
      ledgerService.committed(records);
      recordsIndexer.wake();
    },
    maxBatch: c.AUDIT_LEDGER_BATCH,
    fetchMinBytes: c.AUDIT_LEDGER_FETCH_MIN_BYTES,
    fetchWaitMs: c.AUDIT_LEDGER_FETCH_WAIT_MS,
    fromBeginning: c.AUDIT_LEDGER_START === 'earliest',
    logger: log('ledger-consumer'),
  });
  const lifecycle = new LifecycleEventsConsumer({ kafka, db, store, topics: [TOPICS.vaultEvents, TOPICS.cryptoEvents], groupPrefix: instance, logger: log('lifecycle-consumer') });
  const rbac = new RbacReadModelConsumer({ kafka, groupPrefix: instance, logger: log('rbac') });
  const verifier = new TokenVerifier({
    jwks: new HttpsJwksSource({ url: c.IDENTITY_JWKS_URL || `${c.IDENTITY_URL}/discovery/keys`, ca: runtime.tls.ca }),
    jwksCache: { minRefreshIntervalSeconds: 5 },
    issuer: (tid) => `${c.IDENTITY_URL}/${tid}/v2.0`,
    audiences: [auditResource(c)],
    tenants: (tid) => rbac.tenants.has(tid),
  });
  const auth = new AuditAuthorizer(verifier, new RbacEvaluator(rbac.model), rbac);
  return { instance, cryptoClient, ledger, usage, ledgerService, signer, recordsIndexer, objectIndexer, objectState, checkpoints, verify, reindex, search, consumer, lifecycle, rbac, auth, writer, store };
}
