import { describe, expect, it } from '@jest/globals';
import pino from 'pino';
import type { VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import { evolveCertificate, initialCertificateState, nearExpiryDue, renewalDue, type CertificateState } from '../../domain/certificate/certificate.decider.js';
import type { CertificateEvent } from '../../domain/certificate/certificate.events.js';
import { parsePolicy } from '../../domain/certificate/certificate.rules.js';
import type { Caller } from '../access/caller.js';
import { CertificateLifetimeScheduler } from './certificate-lifetime.scheduler.js';

const DAY = 86_400;
const V1 = '1'.repeat(32);

function issued(actions: unknown, nbf = 1_000_000, exp = nbf + 100 * DAY): CertificateState {
  const policy = parsePolicy({ x509_props: { subject: 'CN=x' }, issuer: { name: 'Self' }, lifetime_actions: actions }, 1);
  const events: CertificateEvent[] = [
    { type: 'CertificatePolicySet', data: { vaultId: 'v', name: 'Web', policy } },
    { type: 'CertificateImported', data: { record: { version: V1, cer: 'AA==', x5t: 't', enabled: true, nbf, exp, tags: null, created: nbf, updated: nbf } } },
  ];
  return events.reduce(evolveCertificate, initialCertificateState());
}

describe('certificate lifetime actions', () => {
  it('AutoRenew is due at the lifetime percentage or the days before expiry, not while an operation is pending', () => {
    const pct = issued([{ trigger: { lifetime_percentage: 80 }, action: { action_type: 'AutoRenew' } }]);
    expect(renewalDue(pct, 1_000_000 + 79 * DAY)).toBe(false);
    expect(renewalDue(pct, 1_000_000 + 80 * DAY)).toBe(true);
    const days = issued([{ trigger: { days_before_expiry: 30 }, action: { action_type: 'AutoRenew' } }]);
    expect(renewalDue(days, 1_000_000 + 69 * DAY)).toBe(false);
    expect(renewalDue(days, 1_000_000 + 70 * DAY)).toBe(true);
    const pending: CertificateState = { ...pct, pending: { version: '2'.repeat(32), requestId: '3'.repeat(32), issuerName: 'Self', csr: '', cancellationRequested: false, status: 'inProgress', statusDetails: '', error: null } };
    expect(renewalDue(pending, 1_000_000 + 90 * DAY)).toBe(false);
  });

  it('EmailContacts is due once per version', () => {
    const s = issued([{ trigger: { days_before_expiry: 10 }, action: { action_type: 'EmailContacts' } }]);
    expect(nearExpiryDue(s, 1_000_000 + 89 * DAY)).toBeUndefined();
    expect(nearExpiryDue(s, 1_000_000 + 90 * DAY)?.version).toBe(V1);
    expect(nearExpiryDue({ ...s, nearExpiryNotified: V1 }, 1_000_000 + 95 * DAY)).toBeUndefined();
  });

  it('the scheduler renews with the injected clock, as the system principal with its own audit record', async () => {
    const calls: { what: string; name: string; caller: Caller }[] = [];
    const vault = { vaultId: 'v', nameKey: 'dev', tenantId: 't', name: 'dev', kind: 'vault' } as unknown as VaultRecord;
    const renewing = issued([{ trigger: { lifetime_percentage: 80 }, action: { action_type: 'AutoRenew' } }]);
    const noticing = issued([{ trigger: { days_before_expiry: 30 }, action: { action_type: 'EmailContacts' } }]);
    const scheduler = new CertificateLifetimeScheduler({
      repo: { active: async () => [{ vaultId: 'v', nameKey: 'web', state: renewing }, { vaultId: 'v', nameKey: 'api', state: { ...noticing, name: 'Api' } }], duePurges: async () => [], pendingIssuance: async () => [] },
      vaultsRepo: { findById: async () => vault },
      certificates: {
        renew: async (_v, name, caller) => calls.push({ what: 'renew', name, caller }),
        notifyNearExpiry: async (_v, name, _version, _exp, caller) => (calls.push({ what: 'notice', name, caller }), true),
        purge: async () => false,
        issuePending: async () => false,
        idle: async () => undefined,
      },
      logger: pino({ level: 'silent' }),
      intervalMs: 60_000,
      clock: () => 1_000_000 + 85 * DAY,
    });
    expect(await scheduler.runOnce()).toEqual({ renewed: 1, noticed: 1, purged: 0, issued: 0 });
    expect(calls.map((c) => [c.what, c.name, c.caller.objectId, c.caller.audit?.operationName, c.caller.audit?.collection])).toEqual([
      ['renew', 'Web', 'system', 'CertificateCreate', 'certificates'],
      ['notice', 'Api', 'system', 'CertificateNearExpiry', 'certificates'],
    ]);
  });

  it('the issuance pass takes over operations still in progress after the grace period, as the system principal, and stop waits for background issuance', async () => {
    const vault = { vaultId: 'v', nameKey: 'dev', tenantId: 't', name: 'dev', kind: 'vault' } as unknown as VaultRecord;
    const now = 2_000_000;
    const asked: { startedBefore: number; after: string | undefined }[] = [];
    const issued: [string, string | undefined, string | undefined][] = [];
    let idled = false;
    const pendingState = { ...initialCertificateState(), status: 'active' as const, name: 'Stuck' };
    const scheduler = new CertificateLifetimeScheduler({
      repo: {
        active: async () => [],
        duePurges: async () => [],
        pendingIssuance: async (startedBefore, _limit, after) => (asked.push({ startedBefore, after }), [{ vaultId: 'v', nameKey: 'stuck', state: pendingState }]),
      },
      vaultsRepo: { findById: async () => vault },
      certificates: {
        renew: async () => undefined,
        notifyNearExpiry: async () => false,
        purge: async () => false,
        issuePending: async (_v, name, caller) => (issued.push([name, caller?.objectId, caller?.audit?.operationName]), true),
        idle: async () => {
          idled = true;
        },
      },
      logger: pino({ level: 'silent' }),
      intervalMs: 60_000,
      clock: () => now,
      issuanceGraceSeconds: 45,
    });
    expect(await scheduler.runOnce()).toEqual({ renewed: 0, noticed: 0, purged: 0, issued: 1 });
    expect(asked).toEqual([{ startedBefore: now - 45, after: '' }]);
    expect(issued).toEqual([['Stuck', 'system', 'CertificateIssue']]);
    await scheduler.stop();
    expect(idled).toBe(true);
  });
});
