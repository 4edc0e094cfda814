import type { Logger } from 'pino';
import { DomainError } from '#libs/kernel';
import type { VaultConfig } from '../../config/vault.config.js';
import { VaultErrorCode } from '../../domain/vault.errors.js';
import { systemCaller } from '../access/caller.js';
import { systemAudit } from '../audit/system-audit.js';
import type { AccessControl } from '../access/access-control.js';
import type { IdentityEventsConsumer } from '../../adapters/kafka/identity-events.consumer.js';
import type { VaultsRepository } from '../../adapters/persistence/vaults.repository.js';
import type { VaultsService } from './vaults.service.js';

/**
 * At first start the default vault (`dev`, served on https://localhost:8443) is created in
 * identity's default tenant, once that tenant is known. Idempotent across restarts and
 * instances; a deleted default vault is left alone.
 */
export async function bootstrapDefaultVault(
  c: { readonly identityEvents: IdentityEventsConsumer; readonly access: AccessControl; readonly vaultsRepo: VaultsRepository; readonly vaults: VaultsService },
  config: VaultConfig,
  logger: Logger,
): Promise<void> {
  return bootstrapContainer(c, c.vaultsRepo, c.vaults, config.VAULT_DEFAULT_VAULT, config, logger);
}

/**
 * Likewise the default Managed HSM pool (`dev`, served on https://dev.managedhsm.localhost:8443):
 * created at first start in identity's default tenant; its keys are administered by whoever
 * holds Managed HSM roles at `/` or `/managedHSMs/dev` (identity's bootstrap principal holds
 * Managed HSM Crypto Officer and Crypto User at `/`).
 */
export async function bootstrapDefaultPool(
  c: { readonly identityEvents: IdentityEventsConsumer; readonly access: AccessControl; readonly poolsRepo: VaultsRepository; readonly pools: VaultsService },
  config: VaultConfig,
  logger: Logger,
): Promise<void> {
  return bootstrapContainer(c, c.poolsRepo, c.pools, config.VAULT_DEFAULT_POOL, config, logger);
}

async function bootstrapContainer(
  c: { readonly identityEvents: IdentityEventsConsumer; readonly access: AccessControl },
  repo: VaultsRepository,
  service: VaultsService,
  name: string,
  config: VaultConfig,
  logger: Logger,
): Promise<void> {
  const pool = repo.kind === 'managedHsm';
  const operationName = pool ? 'ManagedHsmCreate' : 'VaultCreate';
  const what = pool ? 'default Managed HSM pool' : 'default vault';
  for (let attempt = 1; ; attempt++) {
    try {
      await c.identityEvents.whenReady(5_000);
      const tenantId = c.access.challengeTenant();
      if (!c.identityEvents.ready || !tenantId) {
        if (attempt % 12 === 1) logger.info({ vault: name }, `waiting for the identity default tenant before creating the ${what}`);
        if (c.identityEvents.ready) await new Promise((r) => setTimeout(r, 2_000));
        continue;
      }
      if (await repo.find(name.toLowerCase())) return;
      const caller = systemCaller(tenantId, operationName);
      const audit = systemAudit(operationName, { correlationId: caller.correlationId, ip: caller.ip, requestUri: 'bootstrap', agent: 'keyledger-vault bootstrap', tenantId });
      audit.operationVersion = 'bootstrap';
      audit.identity = { oid: 'system', appid: 'keyledger-vault', tid: tenantId };
      audit.tenant = tenantId;
      audit.vault = name.toLowerCase();
      if (pool) audit.containerPath = `/managedHSMs/${name.toLowerCase()}`;
      await service.create({ name, tenantId, retentionDays: config.VAULT_DEFAULT_RETENTION_DAYS, purgeProtection: false, tags: { createdBy: 'keyledger-bootstrap' } }, { ...caller, audit });
      logger.info({ vault: name, kind: repo.kind, tenantId }, `${what} created`);
      return;
    } catch (err) {
      if (err instanceof DomainError && (err.code === VaultErrorCode.VaultAlreadyExists || err.code === VaultErrorCode.VaultIsDeletedButRecoverable)) return;
      logger.warn({ vault: name, err: err instanceof Error ? err.message : String(err) }, `${what} not created yet; retrying`);
      await new Promise((r) => setTimeout(r, 2_000));
    }
  }
}
