import type { Logger } from 'pino';
import { counter } from '#libs/platform';
import type { VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import { nearExpiryDue, renewalDue, type CertificateState } from '../../domain/certificate/certificate.decider.js';
import type { Caller } from '../access/caller.js';
import { PeriodicPass } from '../periodic-pass.js';
import { certificateSystemCaller } from './certificate-system-caller.js';

const passTotal = counter('keyledger_vault_scheduled_certificate_actions_total', 'Certificates renewed, noticed or purged by the vault scheduler', ['action', 'outcome']);

/** What the scheduler needs (narrow, for tests). */
export type CertificateSchedulerDeps = {
  readonly repo: {
    active(limit: number, after?: string): Promise<{ vaultId: string; nameKey: string; state: CertificateState }[]>;
    duePurges(now: number, limit: number): Promise<{ vaultId: string; nameKey: string }[]>;
    /** Active certificates whose operation is in progress and was started at or before `startedBefore`. */
    pendingIssuance(startedBefore: number, limit: number, after?: string): Promise<{ vaultId: string; nameKey: string; state: CertificateState }[]>;
  };
  readonly vaultsRepo: { findById(vaultId: string): Promise<VaultRecord | undefined> };
  readonly certificates: {
    renew(vault: VaultRecord, name: string, caller: Caller): Promise<unknown>;
    notifyNearExpiry(vault: VaultRecord, name: string, version: string, exp: number, caller: Caller, at: number): Promise<boolean>;
    purge(vault: VaultRecord, name: string, reason: 'scheduled', caller: Caller, at?: number): Promise<boolean>;
    /** Issues a pending Self/Keyledger version (nothing for other issuers); true when it did. */
    issuePending(vault: VaultRecord, name: string, caller?: Caller): Promise<boolean>;
    /** Resolves when the issuances started in the background have ended. */
    idle(): Promise<void>;
  };
  readonly logger: Logger;
  readonly intervalMs: number;
  /** Unix seconds: injected so tests move time. */
  readonly clock?: () => number;
  /** How long an operation is left to the create's own background issuance before the pass takes it over (seconds, default 30). */
  readonly issuanceGraceSeconds?: number;
};

/**
 * Executes certificate policies' lifetime actions: `AutoRenew` makes a new version from the
 * same policy (the create path, audited as the system principal); `EmailContacts` records
 * `CertificateNearExpiry` once per version (published on Kafka like every vault event; sending
 * mail is out of scope). Also purges soft-deleted certificates whose purge date passed, and
 * issues `Self`/`Keyledger` operations still in progress after the grace period — those whose
 * background issuance a restart or a failure interrupted (the create starts it; no GET does).
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
    await this.deps.certificates.idle();
  }

  async runOnce(now: number = this.clock(), batch = 100): Promise<{ renewed: number; noticed: number; purged: number; issued: number }> {
    const { repo, vaultsRepo, certificates, logger } = this.deps;
    const out = { renewed: 0, noticed: 0, purged: 0, issued: 0 };
    const counted = { renew: 'renewed', notice: 'noticed', purge: 'purged', issue: 'issued' } as const;
    const attempt = async (action: keyof typeof counted, vault: VaultRecord, name: string, f: () => Promise<boolean>): Promise<void> => {
      try {
        if (await f()) {
          out[counted[action]]++;
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
    let pendingAfter = '';
    for (;;) {
      const page = await repo.pendingIssuance(now - (this.deps.issuanceGraceSeconds ?? 30), batch, pendingAfter);
      for (const c of page) {
        const vault = await vaultsRepo.findById(c.vaultId);
        const name = c.state.name ?? c.nameKey;
        if (vault) await attempt('issue', vault, name, () => certificates.issuePending(vault, name, this.caller(vault, 'CertificateIssue', name)));
      }
      const last = page.at(-1);
      if (page.length < batch || !last) break;
      pendingAfter = `${last.vaultId}/${last.nameKey}`;
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
    return certificateSystemCaller(vault, operationName, objectName);
  }
}
