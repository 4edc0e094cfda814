import { join } from 'node:path';
import { CryptoClient } from '#libs/crypto-client';
import { Inject, Injectable, Module, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { EventRegistry } from '#libs/kernel';
import { AuditWriter, EVENT_STORE, EventStore, registerLifecycleEvents, SpineModule, type AuditSink } from '#libs/eventstore';
import { Database, REPO_ROOT, RuntimeModule, type ServiceRuntime } from '#libs/platform';
import { IdentityEventsConsumer } from './adapters/kafka/identity-events.consumer.js';
import { GrpcSecretKeyring } from './adapters/grpc/crypto.keyring.js';
import { CertificateIssuersRepository } from './adapters/persistence/certificate-issuers.repository.js';
import { CertificatesRepository } from './adapters/persistence/certificates.repository.js';
import { KeysRepository } from './adapters/persistence/keys.repository.js';
import { SecretsRepository } from './adapters/persistence/secrets.repository.js';
import { VaultsRepository } from './adapters/persistence/vaults.repository.js';
import { AccessControl } from './application/access/access-control.js';
import { CertificateIssuersService } from './application/certificate-issuers/certificate-issuers.service.js';
import { KeyledgerIssuingAuthority } from './application/certificate-issuers/keyledger-issuing-authority.js';
import { ISSUER_DIRECTORY, ISSUING_AUTHORITY } from './application/certificates/issuing-authority.port.js';
import { DataKeyCache } from './application/keyring/data-key.cache.js';
import type { SecretKeyring } from './application/keyring/secret-keyring.js';
import { AutoPurgeScheduler } from './application/purge/auto-purge.scheduler.js';
import { KeyLifecycleScheduler } from './application/keys/key-lifecycle.scheduler.js';
import { CertificateLifetimeScheduler } from './application/certificates/certificate-lifetime.scheduler.js';
import { CertificatesService } from './application/certificates/certificates.service.js';
import { KeysService } from './application/keys/keys.service.js';
import { PoolBackupService } from './application/pools/pool-backup.service.js';
import { SecurityDomainService } from './application/pools/security-domain.service.js';
import { PoolAdministrationService } from './application/pool-administration/pool-administration.service.js';
import { SecretsService } from './application/secrets/secrets.service.js';
import { SecretVersionCache } from './application/secrets/secret-version.cache.js';
import { allOf, SecretChangeListener } from './adapters/persistence/secret-change.listener.js';
import { SecretStateCache } from './application/secrets/secret-state.cache.js';
import { VaultsService } from './application/vaults/vaults.service.js';
import type { VaultConfig } from './config/vault.config.js';
import { registerCertificateEvents } from './domain/certificate/certificate.events.js';
import { registerVaultServiceEvents } from './domain/vault-service.registry.js';

export const VAULT_COMPONENTS = Symbol('keyledger.vault.components');

/** Everything the vault's adapters need, built once per process. */
export type VaultComponents = {
  readonly config: VaultConfig;
  readonly store: EventStore;
  /** Audit records of requests that append nothing (reads, rejections); mutations commit theirs with their events. */
  readonly auditWriter: AuditSink;
  readonly access: AccessControl;
  readonly identityEvents: IdentityEventsConsumer;
  readonly keyring: SecretKeyring;
  /** The crypto service's key API (keys and cryptographic operations over REST). */
  readonly crypto: CryptoClient;
  readonly dataKeys: DataKeyCache;
  readonly secretsRepo: SecretsRepository;
  readonly vaultsRepo: VaultsRepository;
  readonly secrets: SecretsService;
  readonly keysRepo: KeysRepository;
  /** Key lifecycle: metadata event-sourced here, material in the crypto service. */
  readonly keys: KeysService;
  readonly vaults: VaultsService;
  /** Certificates: their own events, plus a managed key and secret per version. */
  readonly certificatesRepo: CertificatesRepository;
  readonly certificates: CertificatesService;
  /** AutoRenew / EmailContacts lifetime actions and scheduled purge of deleted certificates. */
  readonly certificateScheduler: CertificateLifetimeScheduler;
  /** Managed HSM pools: the same lifecycle as vaults, their own read model and namespace. */
  readonly poolsRepo: VaultsRepository;
  readonly pools: VaultsService;
  /** A pool's local RBAC and settings (its administration plane), enforced by `access`. */
  readonly poolAdministration: PoolAdministrationService;
  readonly scheduler: AutoPurgeScheduler;
  /** Scheduled purge of deleted keys and rotation per rotation policy. */
  readonly keyScheduler: KeyLifecycleScheduler;
  /** The request path's own pool (reads, audit records); appends use the event store's. */
  readonly apiDb: Database;
  /** Keeps the secret cache current with other vault processes' changes (LISTEN). */
  readonly secretChanges: SecretChangeListener;
  /** Managed HSM pools' security domains (activation, the domain key wrapping full backups). */
  readonly securityDomain: SecurityDomainService;
  /** Managed HSM full backup / restore jobs (Azure Blob Storage). */
  readonly poolBackups: PoolBackupService;
  /** Certificate issuers and contacts; also the IssuerDirectory certificate creation asks. */
  readonly issuers: CertificateIssuersService;
  /** The `Keyledger` issuer: each tenant's issuing CA, its key in the PKCS#11 token. */
  readonly issuingAuthority: KeyledgerIssuingAuthority;
};

export function vaultEventRegistry(): EventRegistry {
  // Certificate events have no published contract yet (service-internal, see certificate.events.ts).
  return registerCertificateEvents(registerVaultServiceEvents(registerLifecycleEvents(new EventRegistry())));
}

function buildComponents(runtime: ServiceRuntime<VaultConfig>, store: EventStore, apiDb: Database): VaultComponents {
  const auditWriter = new AuditWriter(apiDb, runtime.service);
  const config = runtime.config;
  const access = new AccessControl(config.VAULT_TENANT_ID);
  const identityEvents = new IdentityEventsConsumer(runtime.kafka, () => runtime.admin(), access, runtime.logger.child({ component: 'identity-events' }));
  const keyring = new GrpcSecretKeyring({ address: config.CRYPTO_GRPC_TARGET, tls: runtime.tls, deadlineMs: config.CRYPTO_TIMEOUT_MS, serverName: config.CRYPTO_GRPC_SERVERNAME });
  const crypto = new CryptoClient({
    address: config.CRYPTO_GRPC_TARGET,
    deadlineMs: config.CRYPTO_TIMEOUT_MS,
    tls: { ca: runtime.tls.ca, cert: runtime.tls.cert, key: runtime.tls.key },
    ...(config.CRYPTO_GRPC_SERVERNAME ? { channelOptions: { 'grpc.ssl_target_name_override': config.CRYPTO_GRPC_SERVERNAME, 'grpc.default_authority': config.CRYPTO_GRPC_SERVERNAME } } : {}),
  });
  const dataKeys = new DataKeyCache({ maxEntries: config.VAULT_DATA_KEY_CACHE_MAX, ttlMs: config.VAULT_DATA_KEY_CACHE_TTL_MS });
  const secretsRepo = new SecretsRepository(apiDb);
  const vaultsRepo = new VaultsRepository(apiDb);
  // The request path appends through its own pool (same schema and tables as the spine's store).
  const apiStore = new EventStore(apiDb, store.registry, store.source, store.eventsTopic);
  const secretCache = new SecretVersionCache({ maxEntries: config.VAULT_SECRET_CACHE_MAX, ttlMs: config.VAULT_SECRET_CACHE_TTL_MS });
  const secretStates = new SecretStateCache({ maxEntries: config.VAULT_SECRET_CACHE_MAX, ttlMs: config.VAULT_SECRET_CACHE_TTL_MS });
  const secretChanges = new SecretChangeListener(apiDb, allOf([secretCache, secretStates]), runtime.logger.child({ component: 'secret-cache' }));
  const secrets = new SecretsService(apiStore, secretsRepo, keyring, dataKeys, secretCache, secretStates);
  const keysRepo = new KeysRepository(apiDb);
  const keys = new KeysService(apiStore, keysRepo, crypto);
  const certificatesRepo = new CertificatesRepository(apiDb);
  // Who signs certificates: the vault's issuers (Self, Unknown, Keyledger, configured ones) and each tenant's Keyledger CA.
  const issuersRepo = new CertificateIssuersRepository(apiDb);
  const issuers = new CertificateIssuersService(apiStore, issuersRepo, keyring);
  const issuingAuthority = new KeyledgerIssuingAuthority(crypto, issuersRepo);
  const certificates = new CertificatesService(apiStore, certificatesRepo, keys, secrets, crypto, issuers, issuingAuthority, runtime.logger.child({ component: 'certificate-issuance' }));
  const vaults = new VaultsService(apiStore, vaultsRepo, secrets, 1_000, keys, certificates);
  const poolsRepo = new VaultsRepository(apiDb, 'managedHsm');
  const pools = new VaultsService(apiStore, poolsRepo, secrets, 1_000, keys);
  const poolAdministration = new PoolAdministrationService(apiStore, apiDb, access, runtime.logger.child({ component: 'pool-administration' }));
  // Keys name their container by id: a vault's or a pool's.
  const containersById = { findById: async (vaultId: string) => (await vaultsRepo.findById(vaultId)) ?? poolsRepo.findById(vaultId) };
  const scheduler = new AutoPurgeScheduler(secretsRepo, vaultsRepo, secrets, vaults, runtime.logger.child({ component: 'auto-purge' }), config.VAULT_PURGE_INTERVAL_MS, { repo: poolsRepo, service: pools });
  const keyScheduler = new KeyLifecycleScheduler({ keysRepo, vaultsRepo: containersById, keys, logger: runtime.logger.child({ component: 'key-lifecycle' }), intervalMs: config.VAULT_PURGE_INTERVAL_MS });
  const certificateScheduler = new CertificateLifetimeScheduler({ repo: certificatesRepo, vaultsRepo, certificates, logger: runtime.logger.child({ component: 'certificate-lifetime' }), intervalMs: config.VAULT_PURGE_INTERVAL_MS });
  const securityDomain = new SecurityDomainService(apiStore, crypto, issuingAuthority);
  const poolBackups = new PoolBackupService({ keys, securityDomain, poolAdministration, logger: runtime.logger.child({ component: 'pool-backup' }), maxKeyBlobBytes: config.VAULT_MAX_RESTORE_BYTES });
  return { config, store, auditWriter, access, identityEvents, keyring, crypto, dataKeys, secretsRepo, vaultsRepo, secrets, keysRepo, keys, vaults, certificatesRepo, certificates, certificateScheduler, poolsRepo, pools, scheduler, keyScheduler, apiDb, issuers, issuingAuthority, secretChanges, securityDomain, poolBackups, poolAdministration };
}

@Injectable()
class VaultLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(VAULT_COMPONENTS) private readonly c: VaultComponents) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.c.secretChanges.start();
    this.c.identityEvents.start();
    this.c.poolAdministration.start();
    this.c.scheduler.start();
    this.c.keyScheduler.start();
    this.c.certificateScheduler.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.c.scheduler.stop();
    await this.c.keyScheduler.stop();
    await this.c.certificateScheduler.stop();
    await this.c.identityEvents.stop();
    await this.c.secretChanges.stop();
    this.c.poolAdministration.stop();
    this.c.keyring.close();
    this.c.crypto.close();
    this.c.dataKeys.close();
    await this.c.apiDb.close();
  }
}

@Module({})
export class VaultModule {
  static async register(runtime: ServiceRuntime<VaultConfig>): Promise<DynamicModule> {
    const spine = await SpineModule.forService(runtime as unknown as ServiceRuntime, vaultEventRegistry());
    await runtime.db.migrate(join(REPO_ROOT, 'apps', 'vault', 'migrations'));
    return {
      module: VaultModule,
      imports: [RuntimeModule.forRoot(runtime as unknown as ServiceRuntime), spine],
      providers: [
        {
          provide: VAULT_COMPONENTS,
          useFactory: async (store: EventStore) =>
            buildComponents(runtime, store, await Database.connect(runtime.config.DATABASE_URL, runtime.db.schema, { max: runtime.config.VAULT_DB_POOL_MAX, applicationName: 'keyledger-vault-api' })),
          inject: [EVENT_STORE],
        },
        VaultLifecycle,
        // The issuer seam, for whatever else in the module asks for it by symbol.
        { provide: ISSUER_DIRECTORY, useFactory: (c: VaultComponents) => c.issuers, inject: [VAULT_COMPONENTS] },
        { provide: ISSUING_AUTHORITY, useFactory: (c: VaultComponents) => c.issuingAuthority, inject: [VAULT_COMPONENTS] },
      ],
      exports: [VAULT_COMPONENTS, ISSUER_DIRECTORY, ISSUING_AUTHORITY],
    };
  }
}
