import type { Logger } from 'pino';
import { counter } from '#libs/platform';
import { scopeOf, type VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import { nearExpiryDue, renewalDue, type CertificateState } from '../../domain/certificate/certificate.decider.js';
import { systemCaller, type Caller } from '../access/caller.js';
import { systemAudit } from '../audit/system-audit.js';
import { PeriodicPass } from '../periodic-pass.js';

const passTotal = counter('keyledger_vault_scheduled_certificate_actions_total', 'Certificates renewed, noticed or purged by the vault scheduler', ['action', 'outcome']);

/** What the scheduler needs (narrow, for tests). */
export type CertificateSchedulerDeps = {
  readonly repo: {
    active(limit: number, after?: string): Promise<{ vaultId: string; nameKey: string; state: CertificateState }[]>;
    duePurges(now: number, limit: number): Promise<{ vaultId: string; nameKey: string }[]>;
  };
  readonly vaultsRepo: { findById(vaultId: string): Promise<VaultRecord | undefined> };
  readonly certificates: {
    renew(vault: VaultRecord, name: string, caller: Caller): Promise<unknown>;
    notifyNearExpiry(vault: VaultRecord, name: string, version: string, exp: number, caller: Caller, at: number): Promise<boolean>;
    purge(vault: VaultRecord, name: string, reason: 'scheduled', caller: Caller, at?: number): Promise<boolean>;
  };
  readonly logger: Logger;
  readonly intervalMs: number;
  /** Unix seconds: injected so tests move time. */
  readonly clock?: () => number;
};

/**
 * Executes certificate policies' lifetime actions: `AutoRenew` makes a new version from the
 * same policy (the create path, audited as the system principal); `EmailContacts` records
 * `CertificateNearExpiry` once per version (published on Kafka like every vault event; sending
 * mail is out of scope). Also purges soft-deleted certificates whose purge date passed.
 */
export class CertificateLifetimeScheduler {
  private readonly periodic: PeriodicPass;
  private readonly clock: () => number;

  constructor(private readonly deps: CertificateSchedulerDeps) {
    this.clock = deps.clock ?? (() => Math.floor(Date.now() / 1000));
    this.periodic = new PeriodicPass(() => this.runOnce(), deps.intervalMs, deps.logger, 'scheduled certificate pass failed');
  }

  start(): void {
    this.periodic.start();
  }

  async stop(): Promise<void> {
    await this.periodic.stop();
  }

  async runOnce(now: number = this.clock(), batch = 100): Promise<{ renewed: number; noticed: number; purged: number }> {
    const { repo, vaultsRepo, certificates, logger } = this.deps;
    const out = { renewed: 0, noticed: 0, purged: 0 };
    const attempt = async (action: 'renew' | 'notice' | 'purge', vault: VaultRecord, name: string, f: () => Promise<boolean>): Promise<void> => {
      try {
        if (await f()) {
          out[action === 'renew' ? 'renewed' : action === 'notice' ? 'noticed' : 'purged']++;
          passTotal.inc({ action, outcome: 'done' });
        }
      } catch (err) {
        passTotal.inc({ action, outcome: 'failed' });
        logger.warn({ vault: vault.nameKey, certificate: name, err: err instanceof Error ? err.message : String(err) }, `scheduled certificate ${action} failed`);
      }
    };
    for (const due of await repo.duePurges(now, batch)) {
      const vault = await vaultsRepo.findById(due.vaultId);
      if (vault) await attempt('purge', vault, due.nameKey, () => certificates.purge(vault, due.nameKey, 'scheduled', this.caller(vault, 'CertificatePurge', due.nameKey), now));
    }
    let after = '';
    for (;;) {
      const page = await repo.active(batch, after);
      for (const c of page) {
        const name = c.state.name ?? c.nameKey;
        const renew = renewalDue(c.state, now);
        const notice = renew ? undefined : nearExpiryDue(c.state, now);
        if (!renew && !notice) continue;
        const vault = await vaultsRepo.findById(c.vaultId);
        if (!vault) continue;
        if (renew) await attempt('renew', vault, name, async () => (await certificates.renew(vault, name, this.caller(vault, 'CertificateCreate', name)), true));
        else await attempt('notice', vault, name, () => certificates.notifyNearExpiry(vault, name, notice!.version, notice!.exp!, this.caller(vault, 'CertificateNearExpiry', name), now));
      }
      if (page.length < batch) break;
      const last = page[page.length - 1]!;
      after = `${last.vaultId}/${last.nameKey}`;
    }
    return out;
  }

  /** The scheduler is a caller too: each change commits its own audit record, as the system principal. */
  private caller(vault: VaultRecord, operationName: string, objectName: string): Caller {
    const base = systemCaller(vault.tenantId, operationName);
    const audit = systemAudit(operationName, { correlationId: base.correlationId, ip: base.ip, requestUri: 'scheduled-certificate-lifetime', agent: 'keyledger-vault scheduler', tenantId: vault.tenantId });
    audit.operationVersion = 'scheduler';
    audit.identity = { oid: 'system', appid: 'keyledger-vault', tid: vault.tenantId };
    audit.tenant = vault.tenantId;
    audit.vault = vault.nameKey;
    audit.containerPath = scopeOf(vault);
    audit.collection = 'certificates';
    audit.objectName = objectName;
    return { ...base, audit };
  }
}
