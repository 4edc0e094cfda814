import { describe, expect, it } from '@jest/globals';
import pino from 'pino';
import type { KeyVersionRow } from '../../adapters/persistence/keys.repository.js';
import type { VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import type { RotationPolicyRecord } from '../../domain/key/key.events.js';
import type { Caller } from '../access/caller.js';
import { KeyLifecycleScheduler, notifyDue, rotationDue } from './key-lifecycle.scheduler.js';

const DAY = 86_400;
const T0 = 1_800_000_000;
const VAULT = { vaultId: '5f0c1f9e-3f7a-4a43-9d1c-6c1f0e0b7a11', nameKey: 'dev', tenantId: 'tenant-1' } as VaultRecord;

const policy = (trigger: { timeAfterCreate?: string; timeBeforeExpiry?: string }, expiryTime: string | null = 'P90D'): RotationPolicyRecord => ({
  lifetimeActions: [
    { trigger, action: { type: 'Rotate' } },
    { trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Notify' } },
  ],
  expiryTime,
  created: T0,
  updated: T0,
});

describe('rotationDue', () => {
  it('timeAfterCreate: due once the latest version is that old', () => {
    const p = policy({ timeAfterCreate: 'P60D' });
    expect(rotationDue({ created: T0, exp: null }, p, T0 + 60 * DAY - 1)).toBe(false);
    expect(rotationDue({ created: T0, exp: null }, p, T0 + 60 * DAY)).toBe(true);
  });

  it('timeBeforeExpiry: due within that time of the expiry; never for a version without exp', () => {
    const p = policy({ timeBeforeExpiry: 'P30D' });
    expect(rotationDue({ created: T0, exp: T0 + 90 * DAY }, p, T0 + 59 * DAY)).toBe(false);
    expect(rotationDue({ created: T0, exp: T0 + 90 * DAY }, p, T0 + 60 * DAY)).toBe(true);
    expect(rotationDue({ created: T0, exp: null }, p, T0 + 1000 * DAY)).toBe(false);
  });

  it('Notify actions never rotate', () => {
    const p: RotationPolicyRecord = { lifetimeActions: [{ trigger: { timeAfterCreate: 'P1D' }, action: { type: 'Notify' } }], expiryTime: null, created: T0, updated: T0 };
    expect(rotationDue({ created: T0, exp: null }, p, T0 + 10 * DAY)).toBe(false);
  });
});

describe('KeyLifecycleScheduler with an injected clock', () => {
  /** An in-memory stand-in for the read model and the keys service: a rotation makes a new latest version at `at`. */
  function world() {
    const latest: KeyVersionRow & { policy: RotationPolicyRecord; nearExpiryNotified: string | null } = {
      vaultId: VAULT.vaultId,
      nameKey: 'signing-key',
      name: 'Signing-Key',
      status: 'active',
      managed: false,
      deletedDate: null,
      scheduledPurgeDate: null,
      version: '0'.repeat(32),
      kty: 'RSA',
      keySize: 2048,
      crv: null,
      keyOps: ['sign', 'verify'],
      hsm: false,
      exportable: false,
      enabled: true,
      nbf: null,
      exp: null,
      tags: null,
      releasePolicy: null,
      created: T0,
      updated: T0,
      policy: policy({ timeAfterCreate: 'P30D' }),
      nearExpiryNotified: null,
    };
    const state = { latest, rotations: [] as { name: string; at: number | undefined; caller: Caller }[], purges: [] as string[], notices: [] as { version: string; caller: Caller }[] };
    const scheduler = new KeyLifecycleScheduler({
      keysRepo: {
        dueForPurge: async (now) => (now >= T0 + 7 * DAY ? [{ vaultId: VAULT.vaultId, nameKey: 'old-key' }] : []),
        withRotationPolicy: async (_limit, after = '') => (after === '' ? [state.latest] : []),
      },
      vaultsRepo: { findById: async (id) => (id === VAULT.vaultId ? VAULT : undefined) },
      keys: {
        purge: async (_v, name) => {
          state.purges.push(name);
          return true;
        },
        rotate: async (_v, name, caller, at) => {
          state.rotations.push({ name, at, caller });
          state.latest = { ...state.latest, version: `${state.rotations.length}`.padStart(32, '0'), created: at ?? 0, updated: at ?? 0 };
        },
        notifyNearExpiry: async (_v, _name, version, caller) => {
          state.notices.push({ version, caller });
          state.latest = { ...state.latest, nearExpiryNotified: version };
          return true;
        },
      },
      logger: pino({ level: 'silent' }),
      intervalMs: 60_000,
      clock: () => T0,
    });
    return { state, scheduler };
  }

  it('rotates when the policy is due at the clock, once per due period, as the system principal with its own audit record', async () => {
    const { state, scheduler } = world();
    expect(await scheduler.runOnce()).toEqual({ purged: 0, rotated: 0, notified: 0 });
    expect(await scheduler.runOnce(T0 + 30 * DAY)).toEqual({ purged: 1, rotated: 1, notified: 0 });
    expect(state.rotations).toHaveLength(1);
    expect(state.rotations[0]!.at).toBe(T0 + 30 * DAY);
    expect(state.rotations[0]!.caller.objectId).toBe('system');
    expect(state.rotations[0]!.caller.audit?.operationName).toBe('KeyRotate');
    expect(state.rotations[0]!.caller.audit?.objectName).toBe('Signing-Key');
    // The new version is not due again until it is 30 days old itself.
    expect((await scheduler.runOnce(T0 + 31 * DAY)).rotated).toBe(0);
    expect((await scheduler.runOnce(T0 + 60 * DAY)).rotated).toBe(1);
    expect(state.purges[0]).toBe('old-key');
  });

  it('records KeyNearExpiry once for the latest version when a Notify action is due', async () => {
    const { state, scheduler } = world();
    state.latest = { ...state.latest, exp: T0 + 90 * DAY, policy: policy({ timeAfterCreate: 'P365D' }) };
    expect((await scheduler.runOnce(T0 + 59 * DAY)).notified).toBe(0);
    expect((await scheduler.runOnce(T0 + 60 * DAY)).notified).toBe(1);
    expect(state.notices.map((n) => [n.version, n.caller.audit?.operationName])).toEqual([['0'.repeat(32), 'KeyNearExpiry']]);
    expect((await scheduler.runOnce(T0 + 61 * DAY)).notified).toBe(0);
  });
});

describe('notifyDue', () => {
  it('is due within timeBeforeExpiry of the latest expiry, once per version', () => {
    const p = policy({ timeAfterCreate: 'P60D' });
    expect(notifyDue({ version: 'a', exp: T0 + 90 * DAY }, p, null, T0 + 60 * DAY)).toBe(true);
    expect(notifyDue({ version: 'a', exp: T0 + 90 * DAY }, p, 'a', T0 + 60 * DAY)).toBe(false);
    expect(notifyDue({ version: 'a', exp: T0 + 90 * DAY }, p, null, T0 + 59 * DAY)).toBe(false);
    expect(notifyDue({ version: 'a', exp: null }, p, null, T0 + 600 * DAY)).toBe(false);
  });
});
