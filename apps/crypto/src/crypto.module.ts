import { join } from 'node:path';
import { Inject, Injectable, Module, type DynamicModule, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { TOPICS } from '#libs/contracts';
import { EventRegistry } from '#libs/kernel';
import { AUDIT_WRITER, EVENT_STORE, registerLifecycleEvents, SpineModule, type AuditWriter, type EventStore } from '#libs/eventstore';
import { ensureTopics } from '#libs/messaging';
import { REPO_ROOT, RuntimeModule, type ServiceRuntime } from '#libs/platform';
import { CryptoGrpcController } from './adapters/grpc/crypto.grpc.controller.js';
import { HsmKeysAdapter } from './adapters/hsm/hsm-keys.adapter.js';
import { openDevRoot, openPkcs11Root } from './adapters/hsm/root.opener.js';
import { TokenAesAdapter } from './adapters/hsm/token-aes.adapter.js';
import { TokenBackupAdapter } from './adapters/hsm/token-backup.adapter.js';
import { TokenImportAdapter } from './adapters/hsm/token-import.adapter.js';
import { TokenSessions } from './adapters/hsm/token-session.js';
import { RsaWorkerPool } from './adapters/workers/rsa-worker.pool.js';
import { CustodyRepository } from './adapters/persistence/custody.repository.js';
import { KeyChangeListener } from './adapters/persistence/key-change.listener.js';
import { KeysRepository } from './adapters/persistence/keys.repository.js';
import { BackupService } from './application/backup.service.js';
import { CryptoFacade } from './application/crypto.facade.js';
import { DataKeysService } from './application/data-keys.service.js';
import { KeyBackupService } from './application/key-backup.service.js';
import { KeyDirectory } from './application/key-directory.js';
import { KeyMaterialService } from './application/key-material.service.js';
import { KeyReleaseService } from './application/key-release.service.js';
import { KeyOperationsService } from './application/key-operations.service.js';
import { KeysService } from './application/keys.service.js';
import { OperationAuditor } from './application/operation-auditor.js';
import { RootKeyService } from './application/root-key.service.js';
import { VaultKekService } from './application/vault-kek.service.js';
import { assertCryptoConfig, pinFileOf, type CryptoConfig } from './config/crypto.config.js';
import { registerKeyEvents } from './domain/key.events.js';

/** The composed service (one per process). */
export interface CryptoComponents {
  readonly facade: CryptoFacade;
  readonly root: RootKeyService;
  readonly material: KeyMaterialService;
  readonly directory: KeyDirectory;
  readonly keks: VaultKekService;
  readonly listener: KeyChangeListener;
  readonly workers: RsaWorkerPool | null;
}

export const CRYPTO_COMPONENTS = Symbol('keyledger.crypto.components');

/** Wires the object graph: repositories → caches → services → facade. */
export function composeCrypto(runtime: ServiceRuntime<CryptoConfig>, store: EventStore, auditWriter: AuditWriter): CryptoComponents {
  const c = runtime.config;
  const log = runtime.logger;
  const custody = new CustodyRepository(runtime.db);
  const keysRepo = new KeysRepository(runtime.db);
  const root = new RootKeyService(
    async () => {
      if (c.CRYPTO_ROOT === 'dev') return openDevRoot(c.CRYPTO_UNSEAL_SECRET);
      const createIfMissing = c.PKCS11_ROOT_CREATE === 'true' || (c.PKCS11_ROOT_CREATE === 'auto' && !(await custody.hasAnyKek()));
      return openPkcs11Root({
        modulePath: c.PKCS11_MODULE,
        tokenLabel: c.PKCS11_TOKEN_LABEL,
        pin: c.PKCS11_PIN,
        pinFile: pinFileOf(c),
        keyLabel: c.PKCS11_ROOT_KEY_LABEL,
        createIfMissing,
      });
    },
    c.CRYPTO_UNSEAL_RETRY_MS,
    log.child({ component: 'root' }),
  );
  const sessions = new TokenSessions(c.PKCS11_MODULE, c.PKCS11_TOKEN_LABEL);
  const hsm = new HsmKeysAdapter(new TokenAesAdapter(sessions, c.CRYPTO_HSM_KEY_BACKUP), c.CRYPTO_HSM_KEY_BACKUP);
  const keks = new VaultKekService(custody, root);
  const workers = c.CRYPTO_WORKERS > 0 ? new RsaWorkerPool(c.CRYPTO_WORKERS, log.child({ component: 'rsa-workers' })) : null;
  const material = new KeyMaterialService(keysRepo, keks, root, hsm, { maxEntries: c.CRYPTO_KEY_CACHE_MAX, ttlMs: c.CRYPTO_KEY_CACHE_TTL_MS }, workers);
  let listener: KeyChangeListener | undefined;
  const directory = new KeyDirectory(keysRepo, () => listener?.connected === true);
  listener = new KeyChangeListener(
    runtime.db.url,
    log.child({ component: 'key-changes' }),
    (streamId) => {
      const [tenant, vault, name] = streamId.slice('key-'.length).split('/');
      if (tenant && vault && name) {
        directory.invalidate(tenant, vault, name);
        material.evictKey(tenant, vault, name);
      }
    },
    () => directory.reset(),
  );
  const keys = new KeysService(store, keysRepo, directory, material, keks, root, hsm, new TokenImportAdapter(sessions, c.CRYPTO_HSM_KEY_BACKUP));
  const operations = new KeyOperationsService(directory, material, root, c.CRYPTO_MAX_VALUE_BYTES, workers);
  const dataKeys = new DataKeysService(custody, keks, root);
  const backups = new BackupService(root, c.CRYPTO_MAX_BACKUP_BYTES);
  const auditor = new OperationAuditor(auditWriter, log.child({ component: 'audit' }), 'crypto');
  const tokenBackup = new TokenBackupAdapter(sessions, c.PKCS11_BACKUP_KEY_LABEL, c.CRYPTO_HSM_KEY_BACKUP);
  const keyBackups = new KeyBackupService(store, keysRepo, directory, material, keys, root, hsm, tokenBackup, backups);
  const facade = new CryptoFacade(auditor, root, keys, operations, dataKeys, backups, keyBackups, new KeyReleaseService(directory, material, root));
  return { facade, root, material, directory, keks, listener, workers };
}

@Injectable()
class CryptoLifecycle implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(@Inject(CRYPTO_COMPONENTS) private readonly c: CryptoComponents) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.c.listener.start();
    await this.c.root.start();
  }

  async onApplicationShutdown(): Promise<void> {
    await this.c.root.stop();
    await this.c.listener.stop();
    this.c.material.close();
    this.c.keks.close();
    this.c.directory.close();
    await this.c.workers?.close();
  }
}

export interface CryptoModuleOptions {
  /** Run the outbox relay (publishing audit records and key events to Kafka); default true. */
  readonly relay?: boolean;
}

@Module({})
export class CryptoModule {
  static async register(runtime: ServiceRuntime<CryptoConfig>, options: CryptoModuleOptions = {}): Promise<DynamicModule> {
    assertCryptoConfig(runtime.config);
    const registry = registerKeyEvents(registerLifecycleEvents(new EventRegistry()));
    if (options.relay !== false) {
      // Best effort: with Kafka down the outbox keeps everything until the relay can publish.
      await (async () => ensureTopics(await runtime.admin(), [TOPICS.cryptoEvents], { partitions: 1 }))().catch((err: unknown) =>
        runtime.logger.warn({ err: err instanceof Error ? err.message : String(err) }, 'crypto topics not created yet (Kafka unreachable)'),
      );
    }
    const spine = await SpineModule.forService(runtime, registry, { relay: options.relay !== false });
    await runtime.db.migrate(join(REPO_ROOT, 'apps', 'crypto', 'migrations'));
    return {
      module: CryptoModule,
      imports: [RuntimeModule.forRoot(runtime), spine],
      controllers: [CryptoGrpcController],
      providers: [
        {
          provide: CRYPTO_COMPONENTS,
          useFactory: (store: EventStore, writer: AuditWriter) => composeCrypto(runtime, store, writer),
          inject: [EVENT_STORE, AUDIT_WRITER],
        },
        { provide: CryptoFacade, useFactory: (c: CryptoComponents) => c.facade, inject: [CRYPTO_COMPONENTS] },
        { provide: RootKeyService, useFactory: (c: CryptoComponents) => c.root, inject: [CRYPTO_COMPONENTS] },
        CryptoLifecycle,
      ],
      exports: [CRYPTO_COMPONENTS, RootKeyService],
    };
  }
}
