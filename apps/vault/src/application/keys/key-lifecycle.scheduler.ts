import type { Logger } from 'pino';
import { counter } from '#libs/platform';
import type { KeyVersionRow } from '../../adapters/persistence/keys.repository.js';
import type { VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import type { RotationPolicyRecord } from '../../domain/key/key.events.js';
import { durationDays } from '../../domain/key/key.rules.js';
import type { Caller } from '../access/caller.js';
import { PeriodicPass } from '../periodic-pass.js';
import { vaultSystemCaller } from '../vault-system-caller.js';

const keyPassTotal = counter('keyledger_vault_scheduled_key_actions_total', 'Keys rotated or purged by the vault scheduler', ['action', 'outcome']);

const DAY = 86_400;

/**
 * Is a Rotate action of `policy` due for a key whose latest version is `latest`, at `now`
 * (unix seconds)? `timeAfterCreate`: the latest version is at least that old;
 * `timeBeforeExpiry`: the latest version expires within that time. Pure.
 */
export function rotationDue(latest: Pick<KeyVersionRow, 'created' | 'exp'>, policy: RotationPolicyRecord, now: number): boolean {
  for (const a of policy.lifetimeActions) {
    if (a.action.type !== 'Rotate') continue;
    if (a.trigger.timeAfterCreate !== undefined) {
      const days = durationDays(a.trigger.timeAfterCreate);
      if (days !== null && latest.created + days * DAY <= now) return true;
    }
    if (a.trigger.timeBeforeExpiry !== undefined && latest.exp !== null) {
      const days = durationDays(a.trigger.timeBeforeExpiry);
      if (days !== null && latest.exp - days * DAY <= now) return true;
    }
  }
  return false;
}

/** Is a Notify action due (the latest version expires within its timeBeforeExpiry) and not yet recorded for this version? Pure. */
export function notifyDue(latest: Pick<KeyVersionRow, 'version' | 'exp'>, policy: RotationPolicyRecord, notified: string | null, now: number): boolean {
  if (latest.exp === null || notified === latest.version) return false;
  return policy.lifetimeActions.some((a) => {
    if (a.action.type !== 'Notify' || a.trigger.timeBeforeExpiry === undefined) return false;
    const days = durationDays(a.trigger.timeBeforeExpiry);
    return days !== null && latest.exp! - days * DAY <= now;
  });
}

/** What the scheduler needs of the read models and of the keys service (narrow, for tests). */
export type KeySchedulerDeps = {
  readonly keysRepo: {
    dueForPurge(now: number, limit: number): Promise<{ vaultId: string; nameKey: string }[]>;
    withRotationPolicy(limit: number, afterKey?: string): Promise<(KeyVersionRow & { policy: RotationPolicyRecord; nearExpiryNotified: string | null })[]>;
  };
  readonly vaultsRepo: { findById(vaultId: string): Promise<VaultRecord | undefined> };
  readonly keys: {
    purge(vault: VaultRecord, name: string, reason: 'scheduled', caller: Caller, at?: number): Promise<boolean>;
    rotate(vault: VaultRecord, name: string, caller: Caller, at?: number): Promise<unknown>;
    notifyNearExpiry(vault: VaultRecord, name: string, version: string, caller: Caller, at?: number): Promise<boolean>;
  };
  readonly logger: Logger;
  readonly intervalMs: number;
  /** Unix seconds: injected so tests can move time. */
  readonly clock?: () => number;
};

/**
 * Executes what key metadata schedules: purges soft-deleted keys whose `scheduledPurgeDate`
 * passed, and rotates keys whose rotation policy's Rotate action is due (a new version through
 * the same event-sourced path as `POST /keys/{name}/rotate`, audited as the system principal).
 * A due Notify action records `KeyNearExpiry` for the latest version once (published on the
 * vault's events topic like every key event).
 */
export class KeyLifecycleScheduler {
  private readonly periodic: PeriodicPass;
  private readonly clock: () => number;

  constructor(private readonly deps: KeySchedulerDeps) {
    this.clock = deps.clock ?? (() => Math.floor(Date.now() / 1000));
    this.periodic = new PeriodicPass(() => this.runOnce(), deps.intervalMs, deps.logger, 'scheduled key pass failed');
  }

  start(): void {
    this.periodic.start();
  }

  async stop(): Promise<void> {
    await this.periodic.stop();
  }

  /** One pass at `now`: due purges, then due rotations. */
  async runOnce(now: number = this.clock(), batch = 100): Promise<{ purged: number; rotated: number; notified: number }> {
    const { keysRepo, vaultsRepo, keys, logger } = this.deps;
    let purged = 0;
    for (const due of await keysRepo.dueForPurge(now, batch)) {
      const vault = await vaultsRepo.findById(due.vaultId);
      if (!vault) continue;
      try {
        if (await keys.purge(vault, due.nameKey, 'scheduled', this.caller(vault, 'KeyPurge', due.nameKey), now)) {
          purged++;
          keyPassTotal.inc({ action: 'purge', outcome: 'done' });
        }
      } catch (err) {
        keyPassTotal.inc({ action: 'purge', outcome: 'failed' });
        logger.warn({ vault: vault.nameKey, key: due.nameKey, err: err instanceof Error ? err.message : String(err) }, 'scheduled key purge failed');
      }
    }
    let rotated = 0;
    let notified = 0;
    let after = '';
    for (;;) {
      const page = await keysRepo.withRotationPolicy(batch, after);
      for (const k of page) {
        const rotate = rotationDue(k, k.policy, now);
        const notify = !rotate && notifyDue(k, k.policy, k.nearExpiryNotified, now);
        if (!rotate && !notify) continue;
        const vault = await vaultsRepo.findById(k.vaultId);
        if (!vault) continue;
        if (notify) {
          try {
            if (await keys.notifyNearExpiry(vault, k.name, k.version, this.caller(vault, 'KeyNearExpiry', k.name), now)) notified++;
            keyPassTotal.inc({ action: 'notify', outcome: 'done' });
          } catch (err) {
            keyPassTotal.inc({ action: 'notify', outcome: 'failed' });
            logger.warn({ vault: vault.nameKey, key: k.nameKey, err: err instanceof Error ? err.message : String(err) }, 'scheduled key expiry notice failed');
          }
          continue;
        }
        try {
          await keys.rotate(vault, k.name, this.caller(vault, 'KeyRotate', k.name), now);
          rotated++;
          keyPassTotal.inc({ action: 'rotate', outcome: 'done' });
        } catch (err) {
          keyPassTotal.inc({ action: 'rotate', outcome: 'failed' });
          logger.warn({ vault: vault.nameKey, key: k.nameKey, err: err instanceof Error ? err.message : String(err) }, 'scheduled key rotation failed');
        }
      }
      if (page.length < batch) break;
      const last = page[page.length - 1]!;
      after = `${last.vaultId}/${last.nameKey}`;
    }
    return { purged, rotated, notified };
  }

  /** The scheduler is a caller too: each of its changes commits its own audit record. */
  private caller(vault: VaultRecord, operationName: string, objectName: string): Caller {
    return vaultSystemCaller(vault, 'keys', operationName, objectName, 'scheduled-key-lifecycle');
  }
}
