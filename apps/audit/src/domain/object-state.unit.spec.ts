import { describe, expect, it } from '@jest/globals';
import { lifecycleContracts, type ObjectLifecycleEvent } from '#libs/contracts';
import { objectRefOfRecord, parseObjectId } from './object-ref.js';
import { classifyLifecycleEvent, evolveObjectState, type ObjectState, type ObservedLifecycleEvent } from './object-state.js';
import { sampleRecord } from './audit-test.fixtures.js';

const V1 = '0123456789abcdef0123456789abcdef';
const V2 = 'fedcba9876543210fedcba9876543210';
const T0 = 1767225600; // 2026-01-01T00:00:00Z

/** A lifecycle contract message, validated as the audit consumer validates it. */
const msg = (type: string, data: Record<string, unknown>, schemaVersion = 2): ObjectLifecycleEvent => lifecycleContracts.parse(type, schemaVersion, data);
const ev = (message: ObjectLifecycleEvent, time = '2026-01-01T00:00:00.000Z', source = 'vault'): ObservedLifecycleEvent => ({ source, subject: 'opaque-stream-id', tenant: 't', time, message });

const secret = { vault: 'dev', collection: 'secrets', name: 'db-password' } as const;
const attrs = { contentType: null, tags: null, enabled: true, nbf: null, exp: null };
const key = { vault: 'v1', collection: 'keys', name: 'krsa' } as const;
const keyVersion = (version: string, created: number) => ({
  ...key,
  version,
  kty: 'RSA',
  hsm: false,
  sizeBits: 2048,
  crv: null,
  keyOps: ['sign', 'verify'],
  enabled: true,
  notBefore: null,
  expires: null,
  exportable: false,
  publicKey: { kty: 'RSA', n: 'AQAB', e: 'AQAB' },
  created,
});

function fold(events: readonly ObservedLifecycleEvent[]): ObjectState | undefined {
  let s: ObjectState | undefined;
  for (const e of events) s = evolveObjectState(s, e, classifyLifecycleEvent(e.message));
  return s;
}

describe('object state from lifecycle contract events (by type)', () => {
  it('follows a secret through versions, an update, delete, recover and purge', () => {
    const created = ev(msg('SecretVersionCreated', { ...secret, version: V1, managed: false, ...attrs, tags: { a: 'b' }, contentType: 'text/plain', created: T0, updated: T0 }));
    const s = fold([
      created,
      ev(msg('SecretVersionCreated', { ...secret, version: V2, managed: false, ...attrs, created: T0 + 60, updated: T0 + 60 })),
      ev(msg('SecretVersionUpdated', { ...secret, version: V2, ...attrs, enabled: false, tags: { x: 'y' }, updated: T0 + 120 })),
      ev(msg('SecretDeleted', { ...secret, version: null, deletedDate: T0 + 3600, scheduledPurgeDate: T0 + 90 * 86400 })),
    ]);
    expect(s).toMatchObject({
      vault: 'dev',
      kind: 'secret',
      name: 'db-password',
      status: 'deleted',
      versions: [V1, V2],
      versionCount: 2,
      latestVersion: V2,
      enabled: false,
      tags: { x: 'y' },
      contentType: 'text/plain',
      // The latest version's creation time, as before contracts.
      created: '2026-01-01T00:01:00.000Z',
      deletedAt: '2026-01-01T01:00:00.000Z',
      scheduledPurgeDate: '2026-04-01T00:00:00.000Z',
      lastEventType: 'SecretDeleted',
      eventCount: 4,
    });
    const recovered = fold([created, ev(msg('SecretDeleted', { ...secret, version: null, deletedDate: T0, scheduledPurgeDate: T0 })), ev(msg('SecretRecovered', { ...secret, version: null, recoveredDate: T0 + 1 }))]);
    expect(recovered?.status).toBe('active');
    expect(recovered?.deletedAt).toBeUndefined();
    expect(fold([created, ev(msg('SecretPurged', { ...secret, version: null, purgedDate: T0 + 7200, reason: 'request' }))])).toMatchObject({ status: 'purged', purgedAt: '2026-01-01T02:00:00.000Z' });
  });

  it('a restore brings back every version, the last one latest', () => {
    const versions = [V1, V2].map((version, i) => ({ version, ...attrs, created: T0 + i, updated: T0 + i }));
    const s = fold([ev(msg('SecretRestored', { ...secret, version: V2, managed: false, restoredDate: T0 + 10, versions }))]);
    expect(s).toMatchObject({ status: 'active', versions: [V1, V2], versionCount: 2, latestVersion: V2, enabled: true });
  });

  it('reads vault events and crypto key events, names from the contract fields only', () => {
    const vault = { vault: 'Dev', collection: null, name: 'Dev', version: null };
    expect(fold([ev(msg('VaultCreated', { ...vault, vaultId: 'id-1', retentionDays: 90, purgeProtection: false, tags: { createdBy: 'x' }, created: T0 })), ev(msg('VaultDeleted', { ...vault, deletedDate: T0 + 1, scheduledPurgeDate: T0 + 2 }))])).toMatchObject({
      kind: 'vault',
      name: 'dev',
      vault: 'dev',
      status: 'deleted',
      tags: { createdBy: 'x' },
    });
    const k = fold([
      ev(msg('KeyCreated', keyVersion('a1', T0)), '2026-01-01T00:00:00.000Z', 'crypto'),
      ev(msg('KeyVersionAdded', keyVersion('a2', T0 + 60)), '2026-01-01T00:01:00.000Z', 'crypto'),
      ev(msg('KeyUpdated', { ...key, version: 'a2', enabled: false, notBefore: null, expires: T0 + 86400, keyOps: ['sign'], updated: T0 + 120 }), '2026-01-01T00:02:00.000Z', 'crypto'),
    ]);
    expect(k).toMatchObject({ kind: 'key', vault: 'v1', name: 'krsa', keyType: 'RSA', versions: ['a1', 'a2'], latestVersion: 'a2', enabled: false, expires: '2026-01-02T00:00:00.000Z' });
    const gone = fold([
      ev(msg('KeyCreated', keyVersion('a1', T0)), undefined, 'crypto'),
      ev(msg('KeyDeleted', { ...key, version: null, versions: ['a1'], deleted: T0 + 5 }), undefined, 'crypto'),
      ev(msg('KeyRecovered', { ...key, version: null, versions: ['a1'], recovered: T0 + 6 }), undefined, 'crypto'),
      ev(msg('KeyDestroyed', { ...key, version: null, versions: ['a1'], destroyed: T0 + 7 }), undefined, 'crypto'),
    ]);
    expect(gone).toMatchObject({ status: 'purged', purgedAt: '2026-01-01T00:00:07.000Z', versions: ['a1'] });
  });

  describe('a key from both its producers: the vault (metadata, VaultKey…) and crypto (material, Key…)', () => {
    const vk = { vault: 'dev', collection: 'keys', name: 'signer' } as const;
    const vaultVersion = (version: string, created: number, origin: 'create' | 'import' | 'rotate' = 'create') => ({
      ...vk,
      version,
      managed: false,
      origin,
      kty: 'EC-HSM',
      keySize: null,
      crv: 'P-256',
      keyOps: ['sign', 'verify'],
      hsm: true,
      exportable: false,
      enabled: true,
      nbf: null,
      exp: created + 86400,
      tags: { team: 'a' },
      releasePolicy: null,
      created,
      updated: created,
    });
    const cryptoVersion = (version: string, created: number) => ({ ...keyVersion(version, created), ...vk, kty: 'EC-HSM', hsm: true, sizeBits: 256, crv: 'P-256', publicKey: { kty: 'EC', crv: 'P-256', x: 'eA', y: 'eQ' } });
    const t = (s: number) => new Date((T0 + s) * 1000).toISOString();
    const fromVault = (type: string, data: Record<string, unknown>, at: number) => ev(msg(type, data, 1), t(at), 'vault');
    const fromCrypto = (type: string, data: Record<string, unknown>, at: number) => ev(msg(type, data), t(at), 'crypto');
    // Given: crypto made the material of V1, the vault recorded its metadata (either order on the wire).
    const created = [fromCrypto('KeyCreated', cryptoVersion(V1, T0), 0), fromVault('VaultKeyVersionCreated', vaultVersion(V1, T0), 1)];

    it('is one object: a version both producers report is counted once, the vault\'s tags and key type kept', () => {
      const s = fold(created);
      expect(s).toMatchObject({ kind: 'key', vault: 'dev', name: 'signer', status: 'active', versions: [V1], versionCount: 1, latestVersion: V1, keyType: 'EC-HSM', tags: { team: 'a' }, expires: t(86400), eventCount: 2 });
      expect(fold([...created].reverse())).toMatchObject({ versions: [V1], versionCount: 1, latestVersion: V1, keyType: 'EC-HSM', tags: { team: 'a' } });
      expect(JSON.stringify(s)).not.toMatch(/"x"|"y"|eA|eQ/);
    });

    it('when the vault updates tags and attributes, or the rotation policy: attributes change, no version', () => {
      const s = fold([
        ...created,
        fromVault('VaultKeyVersionUpdated', { ...vk, version: V1, keyOps: ['verify'], enabled: false, nbf: null, exp: T0 + 500, tags: { team: 'b' }, releasePolicy: null, updated: T0 + 10 }, 10),
        fromVault('VaultKeyRotationPolicyUpdated', { ...vk, version: null, rotationPolicy: { lifetimeActions: [{ trigger: { timeAfterCreate: 'P90D' }, action: { type: 'Rotate' } }], expiryTime: 'P1Y', created: T0 + 20, updated: T0 + 20 } }, 20),
      ]);
      expect(s).toMatchObject({ status: 'active', versions: [V1], versionCount: 1, enabled: false, tags: { team: 'b' }, expires: t(500), updated: t(20), lastEventType: 'VaultKeyRotationPolicyUpdated', lastEventSource: 'vault' });
    });

    it('when the key rotates: the new version is the latest, counted once across both producers', () => {
      const s = fold([
        ...created,
        fromCrypto('KeyVersionAdded', cryptoVersion(V2, T0 + 30), 30),
        fromVault('VaultKeyVersionCreated', vaultVersion(V2, T0 + 30, 'rotate'), 31),
        fromVault('VaultKeyRotated', { ...vk, version: V2, previousVersion: V1, rotatedDate: T0 + 30 }, 31),
      ]);
      expect(s).toMatchObject({ versions: [V1, V2], versionCount: 2, latestVersion: V2, created: t(30), lastEventType: 'VaultKeyRotated' });
    });

    it('when the vault deletes it: deleted with its purge date, whichever producer reports last; recovered; purged', () => {
      const vaultDeleted = fromVault('VaultKeyDeleted', { ...vk, version: null, deletedDate: T0 + 40, scheduledPurgeDate: T0 + 40 + 7 * 86400 }, 40);
      const cryptoDeleted = fromCrypto('KeyDeleted', { ...vk, version: null, versions: [V1], deleted: T0 + 40 }, 40);
      const deleted = { status: 'deleted', deletedAt: t(40), scheduledPurgeDate: t(40 + 7 * 86400), versions: [V1], versionCount: 1 };
      expect(fold([...created, vaultDeleted])).toMatchObject(deleted);
      expect(fold([...created, vaultDeleted, cryptoDeleted])).toMatchObject(deleted);
      expect(fold([...created, cryptoDeleted, vaultDeleted])).toMatchObject(deleted);
      const recovered = fold([...created, vaultDeleted, fromVault('VaultKeyRecovered', { ...vk, version: null, recoveredDate: T0 + 50 }, 50)]);
      expect(recovered?.status).toBe('active');
      expect(recovered?.deletedAt).toBeUndefined();
      expect(recovered?.scheduledPurgeDate).toBeUndefined();
      expect(fold([...created, vaultDeleted, fromVault('VaultKeyPurged', { ...vk, version: null, purgedDate: T0 + 60, reason: 'request' }, 60)])).toMatchObject({ status: 'purged', purgedAt: t(60) });
    });

    it('when the vault restores it from a backup: every version back, the last one latest; a near-expiry notice changes nothing', () => {
      const record = (version: string, created: number) => {
        const { vault: _v, collection: _c, name: _n, managed: _m, origin: _o, ...r } = vaultVersion(version, created);
        return r;
      };
      const restored = fold([fromVault('VaultKeyRestored', { ...vk, version: V2, managed: false, restoredDate: T0 + 70, versions: [record(V1, T0), record(V2, T0 + 1)], rotationPolicy: null }, 70)]);
      expect(restored).toMatchObject({ status: 'active', versions: [V1, V2], versionCount: 2, latestVersion: V2, keyType: 'EC-HSM', tags: { team: 'a' } });
      const noticed = fold([...created, fromVault('VaultKeyNearExpiry', { ...vk, version: V1, exp: T0 + 86400, notifiedDate: T0 + 80 }, 80)]);
      const { lastEventType, lastEventTime, eventCount, ...rest } = noticed!;
      const { lastEventType: _t, lastEventTime: _tt, eventCount: _n, ...before } = fold(created)!;
      expect(rest).toEqual(before);
      expect([lastEventType, lastEventTime, eventCount]).toEqual(['VaultKeyNearExpiry', t(80), 3]);
    });

    it('the vault key contracts refuse key material and public key parts', () => {
      expect(() => msg('VaultKeyVersionCreated', { ...vaultVersion(V1, T0), publicKey: { kty: 'EC', crv: 'P-256', x: 'eA', y: 'eQ' } }, 1)).toThrow(/VaultKeyVersionCreated\.v1 is invalid/);
      expect(() => msg('VaultKeyVersionCreated', { ...vaultVersion(V1, T0), d: 'private' }, 1)).toThrow(/VaultKeyVersionCreated\.v1 is invalid/);
    });
  });

  it('a v1 key event (published before contracts, vault/name/version explicit) is upcast and folded', () => {
    const { collection: _collection, ...v1 } = keyVersion('a1', T0);
    const legacy = { ...v1, tenant: 't', materialId: 'm-1' };
    const s = fold([ev(msg('KeyCreated', legacy, 1), undefined, 'crypto')]);
    expect(s).toMatchObject({ kind: 'key', vault: 'v1', name: 'krsa', latestVersion: 'a1' });
    expect(JSON.stringify(s)).not.toContain('m-1');
  });

  it('keeps metadata only: the contracts refuse values, ciphertext and data-key handles', () => {
    expect(() => msg('SecretVersionCreated', { ...secret, version: V1, managed: false, ...attrs, created: T0, updated: T0, ciphertext: 'CT' })).toThrow(/SecretVersionCreated\.v2.*ciphertext/);
    expect(() => msg('SecretPurged', { ...secret, version: null, purgedDate: T0, reason: 'request', dataKeys: [{ keyId: 'k', keyRef: 'r' }] })).toThrow(/dataKeys/);
  });

  it('is not fooled by type names or stream ids: only contract types classify', () => {
    expect(lifecycleContracts.has('KeyMaterialWrapped')).toBe(false);
    expect(lifecycleContracts.has('DataKeyGenerated')).toBe(false);
    expect(lifecycleContracts.has('PrincipalDeleted')).toBe(false);
    // A secret event without its vault fails its contract instead of being guessed from a stream id.
    expect(() => msg('SecretDeleted', { collection: 'secrets', name: 'x', version: null, deletedDate: T0, scheduledPurgeDate: T0 })).toThrow(/SecretDeleted\.v2 is invalid: vault/);
  });
});

describe('object references of audit records', () => {
  it('uses the record properties, else parses the object id', () => {
    expect(objectRefOfRecord(sampleRecord())).toEqual({ vault: 'dev', kind: 'secret', name: 'db-password', version: '0123456789abcdef0123456789abcdef' });
    expect(parseObjectId('https://Prod.vault.example.com/keys/Signer/abc')).toEqual({ vault: 'prod', kind: 'key', name: 'signer', version: 'abc' });
    expect(parseObjectId('https://localhost:8443/secrets/x')).toBeUndefined();
    expect(objectRefOfRecord(sampleRecord({ properties: { vault: 'dev' } }))).toEqual({ vault: 'dev', kind: 'vault', name: 'dev' });
    // A challenge round trip (no token yet): only the vault and the request path.
    expect(objectRefOfRecord(sampleRecord({ properties: { vault: 'dev', requestUri: '/secrets/Db-Password?api-version=7.6' } }))).toEqual({ vault: 'dev', kind: 'secret', name: 'db-password' });
  });
});
