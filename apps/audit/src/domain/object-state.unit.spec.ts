import { describe, expect, it } from '@jest/globals';
import { objectRefOfRecord, parseObjectId } from './object-ref.js';
import { classifyLifecycleEvent, evolveObjectState, isObjectLifecycleEvent, lifecycleMetadata, vaultDirectoryEntry, type ObjectState, type ObservedLifecycleEvent } from './object-state.js';
import { sampleRecord } from './audit-test.fixtures.js';

const VAULT_ID = '159e1b1e-7876-4ac1-884e-69afdb5eca52';
const ev = (type: string, subject: string, data: Record<string, unknown>, time = '2026-01-01T00:00:00.000Z'): ObservedLifecycleEvent => ({ source: 'vault', type, subject, tenant: 't', time, data: lifecycleMetadata(data) });
const dir = (_t: string, id: string): string | undefined => (id === VAULT_ID ? 'dev' : undefined);

function fold(events: readonly ObservedLifecycleEvent[]): ObjectState | undefined {
  let s: ObjectState | undefined;
  for (const e of events) {
    const c = classifyLifecycleEvent(e, dir);
    if (c) s = evolveObjectState(s, e, c);
  }
  return s;
}

describe('object state from lifecycle events', () => {
  it('follows a secret through versions, an update, delete, recover and purge (vault service shapes)', () => {
    const subject = `secret-${VAULT_ID}-db-password`;
    const s = fold([
      ev('SecretVersionCreated', subject, { name: 'db-password', vaultId: VAULT_ID, version: 'v1', enabled: true, created: 1767225600, updated: 1767225600, tags: { a: 'b' }, contentType: 'text/plain', keyRef: 'x', ciphertext: 'SECRET' }),
      ev('SecretVersionCreated', subject, { name: 'db-password', vaultId: VAULT_ID, version: 'v2', enabled: true }),
      ev('SecretVersionUpdated', subject, { version: 'v2', enabled: false, tags: { x: 'y' } }),
      ev('SecretDeleted', subject, { deletedDate: 1767229200, scheduledPurgeDate: 1774915200 }),
    ]);
    expect(s).toMatchObject({ vault: 'dev', kind: 'secret', name: 'db-password', status: 'deleted', versions: ['v1', 'v2'], versionCount: 2, latestVersion: 'v2', enabled: false, tags: { x: 'y' }, contentType: 'text/plain', deletedAt: '2026-01-01T01:00:00.000Z' });
    const recovered = fold([ev('SecretVersionCreated', subject, { name: 'db-password', vaultId: VAULT_ID, version: 'v1' }), ev('SecretDeleted', subject, {}), ev('SecretRecovered', subject, { recoveredDate: 1 })]);
    expect(recovered?.status).toBe('active');
    expect(recovered?.deletedAt).toBeUndefined();
    expect(fold([ev('SecretVersionCreated', subject, { name: 'db-password', vaultId: VAULT_ID, version: 'v1' }), ev('SecretPurged', subject, { purgedDate: 1767232800 })])).toMatchObject({ status: 'purged', purgedAt: '2026-01-01T02:00:00.000Z' });
  });

  it('reads vault events and crypto key events', () => {
    expect(vaultDirectoryEntry(ev('VaultCreated', 'vault-dev', { name: 'dev', vaultId: VAULT_ID }))).toEqual({ vaultId: VAULT_ID, name: 'dev' });
    expect(fold([ev('VaultCreated', 'vault-dev', { name: 'dev', vaultId: VAULT_ID, tags: { createdBy: 'x' } }), ev('VaultDeleted', 'vault-dev', { deletedDate: 1 })])).toMatchObject({ kind: 'vault', name: 'dev', vault: 'dev', status: 'deleted' });
    const key = fold([
      { source: 'crypto', type: 'KeyCreated', subject: 'key-t1/v1/krsa', tenant: 't1', time: '2026-01-01T00:00:00.000Z', data: lifecycleMetadata({ kty: 'RSA', name: 'krsa', vault: 'v1', version: 'a1', enabled: true }) },
      { source: 'crypto', type: 'KeyVersionAdded', subject: 'key-t1/v1/krsa', tenant: 't1', time: '2026-01-01T00:01:00.000Z', data: lifecycleMetadata({ kty: 'RSA', name: 'krsa', vault: 'v1', version: 'a2' }) },
    ]);
    expect(key).toMatchObject({ kind: 'key', vault: 'v1', name: 'krsa', keyType: 'RSA', versions: ['a1', 'a2'], latestVersion: 'a2' });
  });

  it('keeps metadata only: values, ciphertext, wrapped keys and policies never enter the projection', () => {
    const m = lifecycleMetadata({ name: 'n', value: 'PLAIN', ciphertext: 'CT', dataKeys: [{ keyId: 'k', wrapped: 'W' }], attributes: { enabled: true, secretValue: 'X' }, versions: [{ version: 'v1', ciphertext: 'CT2' }] });
    expect(m).toEqual({ name: 'n', attributes: { enabled: true }, versions: ['v1'] });
    expect(JSON.stringify(m)).not.toMatch(/PLAIN|CT|W"|X"/);
  });

  it('ignores events about no vault object', () => {
    expect(isObjectLifecycleEvent('DataKeyGenerated')).toBe(false);
    expect(isObjectLifecycleEvent('KeyMaterialWrapped')).toBe(false);
    expect(classifyLifecycleEvent(ev('SecretVersionCreated', 'secret-unknown', { version: 'v' }))).toBeUndefined();
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
