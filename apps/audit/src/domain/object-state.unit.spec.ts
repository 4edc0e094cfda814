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
