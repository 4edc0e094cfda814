import { describe, expect, it } from '@jest/globals';
import { deciderSpec } from '#libs/testing';
import { VaultErrorCode } from '../vault.errors.js';
import { secretDecider, type SecretCommand } from './secret.decider.js';
import type { SecretEvent, SecretVersionRecord } from './secret.events.js';

const VAULT = '5f0c1f9e-3f7a-4a43-9d1c-6c1f0e0b7a11';
const V1 = '0123456789abcdef0123456789abcdef';
const V2 = 'fedcba9876543210fedcba9876543210';
const T0 = 1_800_000_000;

const sealed = { ciphertext: 'AQ==', keyId: 'dk-1', keyRef: V1 };

const set = (version: string, now = T0, overrides: Partial<Extract<SecretCommand, { type: 'SetSecret' }>['data']> = {}): SecretCommand => ({
  type: 'SetSecret',
  data: { vaultId: VAULT, name: 'Db-Password', version, now, managed: false, sealed, contentType: null, tags: null, attributes: {}, ...overrides },
});

const created = (version: string, now = T0, name = 'Db-Password'): SecretEvent => ({
  type: 'SecretVersionCreated',
  data: { vaultId: VAULT, name, managed: false, version, ciphertext: 'AQ==', keyId: 'dk-1', keyRef: V1, contentType: null, tags: null, enabled: true, nbf: null, exp: null, created: now, updated: now },
});

const deleted = (now = T0 + 10, days = 7): SecretEvent => ({ type: 'SecretDeleted', data: { deletedDate: now, scheduledPurgeDate: now + days * 86_400 } });

describe('secret decider', () => {
  it('SetSecret on a new name creates the first version, enabled, with the sealed value', () => {
    deciderSpec(secretDecider).given([]).when(set(V1)).then([created(V1)]);
  });

  it('keeps the display name of the first write across versions', () => {
    deciderSpec(secretDecider)
      .given([created(V1)])
      .when(set(V2, T0 + 5, { name: 'db-password' }))
      .then([created(V2, T0 + 5, 'Db-Password')]);
  });

  it('refuses a new version while the name is deleted but recoverable', () => {
    deciderSpec(secretDecider).given([created(V1), deleted()]).when(set(V2)).thenThrows(VaultErrorCode.SecretIsDeletedButRecoverable);
  });

  it('sets attributes from the command (enabled, nbf, exp)', () => {
    deciderSpec(secretDecider)
      .given([])
      .when(set(V1, T0, { attributes: { enabled: false, nbf: T0, exp: T0 + 100 }, contentType: 'text/plain', tags: { a: 'b' } }))
      .then([{ type: 'SecretVersionCreated', data: { ...(created(V1) as Extract<SecretEvent, { type: 'SecretVersionCreated' }>).data, enabled: false, nbf: T0, exp: T0 + 100, contentType: 'text/plain', tags: { a: 'b' } } }]);
  });

  it('UpdateSecret merges the patch into the named version; absent fields keep their values', () => {
    deciderSpec(secretDecider)
      .given([created(V1)])
      .when({ type: 'UpdateSecret', data: { name: 'Db-Password', version: V1, now: T0 + 60, patch: { attributes: { exp: T0 + 999 }, tags: { env: 'prod' } } } })
      .then([{ type: 'SecretVersionUpdated', data: { version: V1, contentType: null, tags: { env: 'prod' }, enabled: true, nbf: null, exp: T0 + 999, updated: T0 + 60 } }]);
  });

  it('UpdateSecret of an unknown version or a deleted secret is SecretNotFound', () => {
    const update = (version: string): SecretCommand => ({ type: 'UpdateSecret', data: { name: 'x', version, now: T0, patch: { attributes: {} } } });
    deciderSpec(secretDecider).given([created(V1)]).when(update(V2)).thenThrows(VaultErrorCode.SecretNotFound);
    deciderSpec(secretDecider).given([created(V1), deleted()]).when(update(V1)).thenThrows(VaultErrorCode.SecretNotFound);
  });

  it('UpdateSecret refuses exp before nbf', () => {
    deciderSpec(secretDecider)
      .given([created(V1)])
      .when({ type: 'UpdateSecret', data: { name: 'x', version: V1, now: T0, patch: { attributes: { nbf: T0 + 100, exp: T0 } } } })
      .thenThrows(VaultErrorCode.BadParameter);
  });

  it('DeleteSecret schedules the purge after the vault retention', () => {
    deciderSpec(secretDecider)
      .given([created(V1)])
      .when({ type: 'DeleteSecret', data: { name: 'x', now: T0 + 10, retentionDays: 7 } })
      .then([deleted(T0 + 10, 7)]);
    deciderSpec(secretDecider).given([]).when({ type: 'DeleteSecret', data: { name: 'x', now: T0, retentionDays: 7 } }).thenThrows(VaultErrorCode.SecretNotFound);
  });

  it('a managed secret (backing a certificate) refuses a direct delete', () => {
    const managed: SecretEvent = { type: 'SecretVersionCreated', data: { ...(created(V1).data as SecretVersionRecord & { vaultId: string; name: string; managed: boolean }), managed: true } };
    deciderSpec(secretDecider).given([managed]).when({ type: 'DeleteSecret', data: { name: 'x', now: T0, retentionDays: 7 } }).thenThrows(VaultErrorCode.SecretManaged);
    deciderSpec(secretDecider)
      .given([managed])
      .when({ type: 'DeleteSecret', data: { name: 'x', now: T0, retentionDays: 7, byCertificate: true } })
      .then([deleted(T0, 7)]);
  });

  it('RecoverSecret needs a deleted secret', () => {
    deciderSpec(secretDecider)
      .given([created(V1), deleted()])
      .when({ type: 'RecoverSecret', data: { name: 'x', now: T0 + 20 } })
      .then([{ type: 'SecretRecovered', data: { recoveredDate: T0 + 20 } }]);
    deciderSpec(secretDecider).given([created(V1)]).when({ type: 'RecoverSecret', data: { name: 'x', now: T0 } }).thenThrows(VaultErrorCode.SecretNotFound);
  });

  it('PurgeSecret shreds every data key of a deleted secret; purge protection holds it until the purge date', () => {
    const purge = (now: number, reason: 'request' | 'scheduled', purgeProtection: boolean): SecretCommand => ({ type: 'PurgeSecret', data: { name: 'x', now, reason, purgeProtection } });
    const history = [created(V1), deleted(T0 + 10, 7)];
    const due = T0 + 10 + 7 * 86_400;
    deciderSpec(secretDecider)
      .given(history)
      .when(purge(T0 + 20, 'request', false))
      .then([{ type: 'SecretPurged', data: { purgedDate: T0 + 20, reason: 'request', dataKeys: [{ keyId: 'dk-1', keyRef: V1 }] } }]);
    deciderSpec(secretDecider).given(history).when(purge(T0 + 20, 'request', true)).thenThrows(VaultErrorCode.PurgeProtected);
    deciderSpec(secretDecider).given(history).when(purge(due, 'request', true)).then([{ type: 'SecretPurged', data: { purgedDate: due, reason: 'request', dataKeys: [{ keyId: 'dk-1', keyRef: V1 }] } }]);
    deciderSpec(secretDecider).given(history).when(purge(due - 1, 'scheduled', false)).then([]);
    deciderSpec(secretDecider).given([created(V1)]).when(purge(T0, 'request', false)).thenThrows(VaultErrorCode.DeletedSecretNotFound);
  });

  it('after a purge the name starts over', () => {
    deciderSpec(secretDecider)
      .given([created(V1), deleted(), { type: 'SecretPurged', data: { purgedDate: T0 + 30, reason: 'request', dataKeys: [] } }])
      .when(set(V2, T0 + 40, { name: 'db-password' }))
      .then([{ ...created(V2, T0 + 40, 'db-password') }]);
  });

  it('RestoreSecret into a free name restores every version; a taken name is a conflict', () => {
    const v: SecretVersionRecord = { version: V1, ciphertext: 'AQ==', keyId: 'dk-9', keyRef: V2, contentType: null, tags: null, enabled: true, nbf: null, exp: null, created: T0, updated: T0 };
    const restore: SecretCommand = { type: 'RestoreSecret', data: { vaultId: VAULT, name: 'Db-Password', now: T0 + 50, managed: false, versions: [v] } };
    deciderSpec(secretDecider).given([]).when(restore).then([{ type: 'SecretRestored', data: { vaultId: VAULT, name: 'Db-Password', managed: false, restoredDate: T0 + 50, versions: [v] } }]);
    deciderSpec(secretDecider).given([created(V1)]).when(restore).thenThrows(VaultErrorCode.SecretRestoreConflict);
    deciderSpec(secretDecider).given([created(V1), deleted()]).when(restore).thenThrows(VaultErrorCode.SecretRestoreConflict);
  });

  it('evolve tracks the latest version and every data key in use', () => {
    const state = [created(V1), created(V2, T0 + 1)].reduce(secretDecider.evolve, secretDecider.initialState());
    expect(state.latest).toBe(V2);
    expect(state.dataKeys).toEqual([{ keyId: 'dk-1', keyRef: V1 }]);
    expect(Object.keys(state.versions).sort()).toEqual([V1, V2].sort());
  });
});
