import type { Logger } from 'pino';
import { counter } from '#libs/platform';
import type { SecretsRepository } from '../../adapters/persistence/secrets.repository.js';
import type { VaultsRepository } from '../../adapters/persistence/vaults.repository.js';
import { systemCaller, type Caller } from '../access/caller.js';
import { systemAudit } from '../audit/system-audit.js';
import type { SecretsService } from '../secrets/secrets.service.js';
import type { VaultsService } from '../vaults/vaults.service.js';
import { PeriodicPass } from '../periodic-pass.js';

const purgedTotal = counter('keyledger_vault_scheduled_purges_total', 'Objects purged because their scheduled purge date passed', ['kind', 'outcome']);

const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * Purges soft-deleted secrets and vaults once their `scheduledPurgeDate` has passed (purge
 * protection no longer holds them then). Driven by the read model; each purge is an
 * ordinary decided, audited append, so running it on several instances is safe (the
 * expected-version check lets one win).
 */
export class AutoPurgeScheduler {
  private readonly periodic: PeriodicPass;

  constructor(
    private readonly secretsRepo: SecretsRepository,
    private readonly vaultsRepo: VaultsRepository,
    private readonly secrets: SecretsService,
    private readonly vaults: VaultsService,
    private readonly logger: Logger,
    intervalMs: number,
    /** Managed HSM pools: purged when due like vaults (absent: none). */
    private readonly pools?: { readonly repo: VaultsRepository; readonly service: VaultsService },
  ) {
    this.periodic = new PeriodicPass(() => this.runOnce(), intervalMs, logger, 'scheduled purge pass failed');
  }

  start(): void {
    this.periodic.start();
  }

  async stop(): Promise<void> {
    await this.periodic.stop();
  }

  /** One pass: every secret and vault due at `now` (unix seconds). */
  async runOnce(now: number = nowSeconds(), batch = 100): Promise<{ secrets: number; vaults: number; pools: number }> {
    let secrets = 0;
    for (const due of await this.secretsRepo.dueForPurge(now, batch)) {
      const vault = await this.vaultsRepo.findById(due.vaultId);
      if (!vault) continue;
      const caller = this.caller(vault.tenantId, vault.nameKey, 'SecretPurge', due.nameKey);
      try {
        if (await this.secrets.purge(vault, due.nameKey, 'scheduled', caller, 204, now)) {
          secrets++;
          purgedTotal.inc({ kind: 'secret', outcome: 'purged' });
        }
      } catch (err) {
        purgedTotal.inc({ kind: 'secret', outcome: 'failed' });
        this.logger.warn({ vault: vault.nameKey, secret: due.nameKey, err: err instanceof Error ? err.message : String(err) }, 'scheduled secret purge failed');
      }
    }
    let vaults = 0;
    for (const nameKey of await this.vaultsRepo.dueForPurge(now, batch)) {
      const vault = await this.vaultsRepo.find(nameKey);
      if (!vault) continue;
      try {
        await this.vaults.purge(nameKey, 'scheduled', this.caller(vault.tenantId, nameKey, 'VaultPurge'), now);
        vaults++;
        purgedTotal.inc({ kind: 'vault', outcome: 'purged' });
      } catch (err) {
        purgedTotal.inc({ kind: 'vault', outcome: 'failed' });
        this.logger.warn({ vault: nameKey, err: err instanceof Error ? err.message : String(err) }, 'scheduled vault purge failed');
      }
    }
    let pools = 0;
    for (const nameKey of this.pools ? await this.pools.repo.dueForPurge(now, batch) : []) {
      const pool = await this.pools!.repo.find(nameKey);
      if (!pool) continue;
      try {
        const caller = this.caller(pool.tenantId, nameKey, 'ManagedHsmPurge');
        caller.audit!.containerPath = `/managedHSMs/${nameKey}`;
        await this.pools!.service.purge(nameKey, 'scheduled', caller, now);
        pools++;
        purgedTotal.inc({ kind: 'managedHsm', outcome: 'purged' });
      } catch (err) {
        purgedTotal.inc({ kind: 'managedHsm', outcome: 'failed' });
        this.logger.warn({ pool: nameKey, err: err instanceof Error ? err.message : String(err) }, 'scheduled pool purge failed');
      }
    }
    return { secrets, vaults, pools };
  }

  /** The scheduler is a caller too: its purges carry their own audit record. */
  private caller(tenantId: string, vault: string, operationName: string, objectName?: string): Caller {
    const base = systemCaller(tenantId, operationName);
    const audit = systemAudit(operationName, { correlationId: base.correlationId, ip: base.ip, requestUri: 'scheduled-purge', agent: 'keyledger-vault scheduler', tenantId });
    audit.operationVersion = 'scheduler';
    audit.identity = { oid: 'system', appid: 'keyledger-vault', tid: tenantId };
    audit.tenant = tenantId;
    audit.vault = vault;
    if (objectName) {
      audit.collection = 'secrets';
      audit.objectName = objectName;
    }
    return { ...base, audit };
  }
}
