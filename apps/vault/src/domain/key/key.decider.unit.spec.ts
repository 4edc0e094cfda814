import { describe, expect, it } from '@jest/globals';
import { deciderSpec } from '#libs/testing';
import { VaultErrorCode } from '../vault.errors.js';
import { KeyErrorCode, keyDecider, type KeyCommand } from './key.decider.js';
import type { KeyEvent, KeyVersionRecord } from './key.events.js';
import { parseCreateKey, parseImportKey, parseRotationPolicy, parseUpdateKey } from './key.rules.js';

const VAULT = '5f0c1f9e-3f7a-4a43-9d1c-6c1f0e0b7a11';
const V1 = '0123456789abcdef0123456789abcdef';
const V2 = 'fedcba9876543210fedcba9876543210';
const T0 = 1_800_000_000;
const RSA_OPS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'];

const material = (version: string) => ({ version, kty: 'RSA', keySize: 2048, crv: null, keyOps: RSA_OPS, hsm: false });

const create = (version: string, now = T0, overrides: Partial<Extract<KeyCommand, { type: 'CreateKeyVersion' }>['data']> = {}): KeyCommand => ({
  type: 'CreateKeyVersion',
  data: { vaultId: VAULT, name: 'Signing-Key', now, origin: 'create', material: material(version), attributes: {}, tags: null, releasePolicy: null, ...overrides },
});

const record = (version: string, now = T0): KeyVersionRecord => ({
  version,
  kty: 'RSA',
  keySize: 2048,
  crv: null,
  keyOps: RSA_OPS,
  hsm: false,
  exportable: false,
  enabled: true,
  nbf: null,
  exp: null,
  tags: null,
  releasePolicy: null,
  created: now,
  updated: now,
});

const created = (version: string, now = T0, name = 'Signing-Key', origin: 'create' | 'import' | 'rotate' = 'create'): KeyEvent => ({
  type: 'KeyVersionCreated',
  data: { vaultId: VAULT, name, managed: false, origin, ...record(version, now) },
});

const deleted = (now = T0 + 10, days = 7): KeyEvent => ({ type: 'KeyDeleted', data: { deletedDate: now, scheduledPurgeDate: now + days * 86_400 } });

describe('key decider', () => {
  it('CreateKeyVersion on a new name records the version crypto made, enabled, no material', () => {
    deciderSpec(keyDecider).given([]).when(create(V1)).then([created(V1)]);
  });

  it('keeps the display name of the first write across versions (rotate)', () => {
    deciderSpec(keyDecider)
      .given([created(V1)])
      .when(create(V2, T0 + 5, { name: 'signing-key', origin: 'rotate' }))
      .then([created(V2, T0 + 5, 'Signing-Key', 'rotate'), { type: 'KeyRotated', data: { version: V2, previousVersion: V1, rotatedDate: T0 + 5 } }]);
  });

  it('refuses a new version while the name is deleted but recoverable', () => {
    deciderSpec(keyDecider).given([created(V1), deleted()]).when(create(V2)).thenThrows(KeyErrorCode.KeyIsDeletedButRecoverable);
  });

  it('UpdateKeyVersion merges attributes, key_ops and tags into the named version', () => {
    deciderSpec(keyDecider)
      .given([created(V1), created(V2, T0 + 1)])
      .when({ type: 'UpdateKeyVersion', data: { name: 'Signing-Key', version: V1, now: T0 + 20, patch: { attributes: { enabled: false, exp: T0 + 500 }, keyOps: ['sign', 'verify'], tags: { env: 'dev' } } } })
      .then([{ type: 'KeyVersionUpdated', data: { version: V1, keyOps: ['sign', 'verify'], enabled: false, nbf: null, exp: T0 + 500, tags: { env: 'dev' }, releasePolicy: null, updated: T0 + 20 } }]);
  });

  it('refuses an update of an unknown version, of a deleted key, exp before nbf, and a change of exportable', () => {
    const update = (version: string, patch: Extract<KeyCommand, { type: 'UpdateKeyVersion' }>['data']['patch']): KeyCommand => ({ type: 'UpdateKeyVersion', data: { name: 'Signing-Key', version, now: T0 + 20, patch } });
    deciderSpec(keyDecider).given([created(V1)]).when(update(V2, { attributes: {} })).thenThrows(KeyErrorCode.KeyNotFound);
    deciderSpec(keyDecider).given([created(V1), deleted()]).when(update(V1, { attributes: {} })).thenThrows(KeyErrorCode.KeyNotFound);
    deciderSpec(keyDecider).given([created(V1)]).when(update(V1, { attributes: { nbf: T0 + 100, exp: T0 } })).thenThrows(VaultErrorCode.BadParameter);
    deciderSpec(keyDecider).given([created(V1)]).when(update(V1, { attributes: { exportable: true } })).thenThrows(VaultErrorCode.BadParameter);
  });

  it('refuses to change an immutable release policy', () => {
    const policy = { contentType: 'application/json; charset=utf-8', immutable: true, data: 'e30' };
    const withPolicy: KeyEvent = { type: 'KeyVersionCreated', data: { ...(created(V1) as Extract<KeyEvent, { type: 'KeyVersionCreated' }>).data, exportable: true, releasePolicy: policy } };
    deciderSpec(keyDecider)
      .given([withPolicy])
      .when({ type: 'UpdateKeyVersion', data: { name: 'Signing-Key', version: V1, now: T0 + 1, patch: { attributes: {}, releasePolicy: { ...policy, immutable: false } } } })
      .thenThrows(KeyErrorCode.ReleasePolicyImmutable);
  });

  it('DeleteKey soft-deletes with the vault retention; a second delete is KeyNotFound', () => {
    deciderSpec(keyDecider)
      .given([created(V1)])
      .when({ type: 'DeleteKey', data: { name: 'Signing-Key', now: T0 + 10, retentionDays: 7 } })
      .then([deleted(T0 + 10, 7)]);
    deciderSpec(keyDecider).given([created(V1), deleted()]).when({ type: 'DeleteKey', data: { name: 'Signing-Key', now: T0 + 20, retentionDays: 7 } }).thenThrows(KeyErrorCode.KeyNotFound);
  });

  it('RecoverKey only from the deleted state', () => {
    deciderSpec(keyDecider).given([created(V1), deleted()]).when({ type: 'RecoverKey', data: { name: 'Signing-Key', now: T0 + 30 } }).then([{ type: 'KeyRecovered', data: { recoveredDate: T0 + 30 } }]);
    deciderSpec(keyDecider).given([created(V1)]).when({ type: 'RecoverKey', data: { name: 'Signing-Key', now: T0 + 30 } }).thenThrows(KeyErrorCode.KeyNotFound);
  });

  it('PurgeKey: only a deleted key on request; purge protection holds it until due; a scheduled purge before due does nothing', () => {
    const purge = (reason: 'request' | 'scheduled' | 'vault-purged', now: number, purgeProtection = false): KeyCommand => ({ type: 'PurgeKey', data: { name: 'Signing-Key', now, reason, purgeProtection } });
    deciderSpec(keyDecider).given([created(V1), deleted(T0)]).when(purge('request', T0 + 1)).then([{ type: 'KeyPurged', data: { purgedDate: T0 + 1, reason: 'request' } }]);
    deciderSpec(keyDecider).given([created(V1)]).when(purge('request', T0 + 1)).thenThrows(KeyErrorCode.DeletedKeyNotFound);
    deciderSpec(keyDecider).given([created(V1), deleted(T0)]).when(purge('request', T0 + 1, true)).thenThrows(VaultErrorCode.PurgeProtected);
    deciderSpec(keyDecider).given([created(V1), deleted(T0)]).when(purge('scheduled', T0 + 1)).then([]);
    deciderSpec(keyDecider).given([created(V1), deleted(T0, 7)]).when(purge('scheduled', T0 + 7 * 86_400)).then([{ type: 'KeyPurged', data: { purgedDate: T0 + 7 * 86_400, reason: 'scheduled' } }]);
    deciderSpec(keyDecider).given([created(V1)]).when(purge('vault-purged', T0 + 1)).then([{ type: 'KeyPurged', data: { purgedDate: T0 + 1, reason: 'vault-purged' } }]);
    deciderSpec(keyDecider).given([]).when(purge('vault-purged', T0 + 1)).then([]);
  });

  it('a purged name can be created again', () => {
    deciderSpec(keyDecider)
      .given([created(V1), deleted(T0), { type: 'KeyPurged', data: { purgedDate: T0 + 1, reason: 'request' } }])
      .when(create(V2, T0 + 2))
      .then([created(V2, T0 + 2)]);
  });

  it('RestoreKey only onto an absent name, with every version and the rotation policy', () => {
    const restore = (versions: readonly KeyVersionRecord[]): KeyCommand => ({ type: 'RestoreKey', data: { vaultId: VAULT, name: 'Signing-Key', now: T0 + 50, managed: false, versions, rotationPolicy: null } });
    deciderSpec(keyDecider)
      .given([])
      .when(restore([record(V1), record(V2, T0 + 1)]))
      .then([{ type: 'KeyRestored', data: { vaultId: VAULT, name: 'Signing-Key', managed: false, restoredDate: T0 + 50, versions: [record(V1), record(V2, T0 + 1)], rotationPolicy: null } }]);
    deciderSpec(keyDecider).given([created(V1)]).when(restore([record(V1)])).thenThrows(KeyErrorCode.KeyRestoreConflict);
    deciderSpec(keyDecider).given([created(V1), deleted()]).when(restore([record(V1)])).thenThrows(KeyErrorCode.KeyRestoreConflict);
  });

  it('SetRotationPolicy keeps the first creation time and refuses a missing key', () => {
    const policy = parseRotationPolicy({ lifetimeActions: [{ trigger: { timeAfterCreate: 'P60D' }, action: { type: 'rotate' } }], attributes: { expiryTime: 'P90D' } });
    const set = (now: number): KeyCommand => ({ type: 'SetRotationPolicy', data: { name: 'Signing-Key', now, policy } });
    const first = { type: 'KeyRotationPolicyUpdated', data: { lifetimeActions: policy.lifetimeActions, expiryTime: 'P90D', created: T0 + 5, updated: T0 + 5 } } as const;
    deciderSpec(keyDecider).given([created(V1)]).when(set(T0 + 5)).then([first]);
    deciderSpec(keyDecider)
      .given([created(V1), first])
      .when(set(T0 + 9))
      .then([{ type: 'KeyRotationPolicyUpdated', data: { ...first.data, updated: T0 + 9 } }]);
    deciderSpec(keyDecider).given([]).when(set(T0)).thenThrows(KeyErrorCode.KeyNotFound);
  });

  it('NotifyNearExpiry records KeyNearExpiry once, for the latest version with an expiry only', () => {
    const notify = (version: string, now = T0 + 100): KeyCommand => ({ type: 'NotifyNearExpiry', data: { name: 'Signing-Key', version, now } });
    const withExp: KeyEvent = { type: 'KeyVersionCreated', data: { ...(created(V1) as Extract<KeyEvent, { type: 'KeyVersionCreated' }>).data, exp: T0 + 1000 } };
    const notice: KeyEvent = { type: 'KeyNearExpiry', data: { version: V1, exp: T0 + 1000, notifiedDate: T0 + 100 } };
    deciderSpec(keyDecider).given([withExp]).when(notify(V1)).then([notice]);
    deciderSpec(keyDecider).given([withExp, notice]).when(notify(V1, T0 + 200)).then([]);
    deciderSpec(keyDecider).given([created(V1)]).when(notify(V1)).then([]);
    deciderSpec(keyDecider).given([withExp, created(V2, T0 + 1)]).when(notify(V1)).then([]);
    deciderSpec(keyDecider).given([]).when(notify(V1)).thenThrows(KeyErrorCode.KeyNotFound);
  });

  it('DeleteKey of a key managed by a certificate is refused', () => {
    const managed: KeyEvent = { type: 'KeyVersionCreated', data: { ...(created(V1) as Extract<KeyEvent, { type: 'KeyVersionCreated' }>).data, managed: true } };
    deciderSpec(keyDecider).given([managed]).when({ type: 'DeleteKey', data: { name: 'Signing-Key', now: T0 + 1, retentionDays: 7 } }).thenThrows(KeyErrorCode.KeyManaged);
    // The certificate that manages it deletes it with itself.
    deciderSpec(keyDecider)
      .given([managed])
      .when({ type: 'DeleteKey', data: { name: 'Signing-Key', now: T0 + 1, retentionDays: 7, byCertificate: true } })
      .then([{ type: 'KeyDeleted', data: { deletedDate: T0 + 1, scheduledPurgeDate: T0 + 1 + 7 * 86_400 } }]);
  });
});

describe('key rules', () => {
  const code = (f: () => unknown): string | undefined => {
    try {
      f();
      return undefined;
    } catch (err) {
      return (err as { code?: string }).code;
    }
  };

  it('parses creation parameters with Azure defaults', () => {
    expect(parseCreateKey({ kty: 'RSA' })).toMatchObject({ kty: 'RSA', keySize: 2048, crv: null, keyOps: [] });
    expect(parseCreateKey({ kty: 'EC-HSM' })).toMatchObject({ kty: 'EC-HSM', keySize: null, crv: 'P-256' });
    expect(parseCreateKey({ kty: 'RSA', key_size: 4096, public_exponent: 65537 }).keySize).toBe(4096);
  });

  it.each([
    [{ kty: 'RSA', key_size: 2049 }],
    [{ kty: 'RSA', key_size: '2048' }],
    [{ kty: 'oct' }],
    [{ kty: 'oct-HSM' }],
    [{ kty: 'RSA', public_exponent: 3 }],
    [{ kty: 'EC', crv: 'P-224' }],
    [{ kty: 'EC', key_size: 2048 }],
    [{ kty: 'RSA', crv: 'P-256' }],
    [{ kty: 'RSA', key_ops: ['sign', 'fly'] }],
    [{ kty: 'RSA', attributes: { exportable: true } }],
    [{ kty: 'RSA', release_policy: { data: 'not base64!' } }],
    [{ kty: 'RSA', attributes: { nbf: 10, exp: 5 } }],
    [{ kty: 'RSA', tags: { a: 'x\u0000y' } }],
    [{ kty: 'RSA', tags: { a: 'lone \ud800 surrogate' } }],
    [null],
    ['RSA'],
  ])('refuses create %j with BadParameter', (body) => {
    expect(code(() => parseCreateKey(body))).toBe(VaultErrorCode.BadParameter);
  });

  it('import: passes the JWK on as text without key_ops, and derives hsm from Hsm or the -HSM kty', () => {
    const input = parseImportKey({ key: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', d: 'AA', key_ops: ['sign'] }, Hsm: true });
    expect(input.hsm).toBe(true);
    expect(input.keyOps).toEqual(['sign']);
    expect(JSON.parse(input.jwkJson)).toEqual({ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', d: 'AA' });
    expect(parseImportKey({ key: { kty: 'RSA-HSM', key_hsm: 'AAAA' } }).hsm).toBe(true);
    expect(code(() => parseImportKey({ key: { kty: 'RSA', n: 'AQAB', e: 'AQAB' } }))).toBe(VaultErrorCode.BadParameter);
    expect(code(() => parseImportKey({ key: { kty: 'oct', k: 'AAAA' } }))).toBe(VaultErrorCode.BadParameter);
  });

  it('update: only the fields present', () => {
    expect(parseUpdateKey({ tags: { a: 'b' } })).toEqual({ attributes: {}, tags: { a: 'b' } });
    expect(parseUpdateKey(undefined)).toEqual({ attributes: {} });
  });

  it('rotation policy: adds Notify 30 days before expiry when none is given; validates durations and triggers', () => {
    expect(parseRotationPolicy({ lifetimeActions: [{ trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Rotate' } }], attributes: { expiryTime: 'P90D' } })).toEqual({
      lifetimeActions: [
        { trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Rotate' } },
        { trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Notify' } },
      ],
      expiryTime: 'P90D',
    });
    expect(code(() => parseRotationPolicy({ lifetimeActions: [{ trigger: { timeAfterCreate: 'P1D', timeBeforeExpiry: 'P1D' }, action: { type: 'Rotate' } }] }))).toBe(VaultErrorCode.BadParameter);
    expect(code(() => parseRotationPolicy({ attributes: { expiryTime: 'P1D' } }))).toBe(VaultErrorCode.BadParameter);
    expect(code(() => parseRotationPolicy({ lifetimeActions: [{ trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Rotate' } }] }))).toBe(VaultErrorCode.BadParameter);
  });
});

describe('key types in a Managed HSM pool', () => {
  const refusal = (fn: () => unknown): unknown => {
    try {
      fn();
      return undefined;
    } catch (err) {
      return err;
    }
  };

  it('creates HSM-backed types only, oct-HSM included (128/192/256, default 256)', () => {
    expect(parseCreateKey({ kty: 'RSA-HSM', key_size: 3072 }, 'managedHsm')).toMatchObject({ kty: 'RSA-HSM', keySize: 3072 });
    expect(parseCreateKey({ kty: 'EC-HSM', crv: 'P-384' }, 'managedHsm')).toMatchObject({ kty: 'EC-HSM', crv: 'P-384' });
    expect(parseCreateKey({ kty: 'oct-HSM' }, 'managedHsm')).toMatchObject({ kty: 'oct-HSM', keySize: 256, crv: null });
    expect(parseCreateKey({ kty: 'oct-HSM', key_size: 128 }, 'managedHsm')).toMatchObject({ keySize: 128 });
    expect(refusal(() => parseCreateKey({ kty: 'oct-HSM', key_size: 512 }, 'managedHsm'))).toMatchObject({ code: 'BadParameter' });
  });

  it('refuses software types as Azure refuses an unsupported kty (BadParameter, inner KeyTypeNotSupported)', () => {
    for (const kty of ['RSA', 'EC', 'oct']) {
      expect(refusal(() => parseCreateKey({ kty }, 'managedHsm'))).toMatchObject({ code: 'BadParameter', message: `Invalid kty value: ${kty}`, details: { inner: 'KeyTypeNotSupported' } });
    }
    expect(refusal(() => parseCreateKey({ kty: 'oct-HSM' }))).toMatchObject({ code: 'BadParameter' });
  });

  it('imports every key into the HSM, symmetric ones with k', () => {
    expect(parseImportKey({ key: { kty: 'oct', k: 'AAECAwQFBgcICQoLDA0ODw' } }, 'managedHsm')).toMatchObject({ kty: 'oct', hsm: true });
    expect(parseImportKey({ key: { kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', d: 'AA' } }, 'managedHsm')).toMatchObject({ hsm: true });
    expect(refusal(() => parseImportKey({ key: { kty: 'oct' } }, 'managedHsm'))).toMatchObject({ code: 'BadParameter' });
    expect(refusal(() => parseImportKey({ key: { kty: 'oct', k: 'AA' } }))).toMatchObject({ code: 'BadParameter' });
  });
});
