import { describe, expect, it } from '@jest/globals';
import { classifyLifecycleEvent, evolveObjectState, lifecycleMetadata, type ObjectState, type ObservedLifecycleEvent } from './object-state.js';

/**
 * The vault service's key METADATA events (stream `key-{vaultId}-{name}`, apps/vault
 * domain/key/key.events.ts) as the audit service's classifier sees them.
 */
const VAULT_ID = '159e1b1e-7876-4ac1-884e-69afdb5eca52';
const subject = `key-${VAULT_ID}-signing-key`;
const ev = (type: string, data: Record<string, unknown>, time = '2026-01-01T00:00:00.000Z'): ObservedLifecycleEvent => ({ source: 'vault', type, subject, tenant: 't', time, data: lifecycleMetadata(data) });
const dir = (_t: string, id: string): string | undefined => (id === VAULT_ID ? 'dev' : undefined);

function fold(events: readonly ObservedLifecycleEvent[]): ObjectState | undefined {
  let s: ObjectState | undefined;
  for (const e of events) {
    const c = classifyLifecycleEvent(e, dir);
    if (c) s = evolveObjectState(s, e, c);
  }
  return s;
}

const V1 = '0123456789abcdef0123456789abcdef';
const V2 = 'fedcba9876543210fedcba9876543210';
const version = (v: string): Record<string, unknown> => ({ vaultId: VAULT_ID, name: 'Signing-Key', managed: false, origin: 'create', version: v, kty: 'RSA', keySize: 2048, crv: null, keyOps: ['sign'], hsm: false, exportable: false, enabled: true, nbf: null, exp: null, tags: { a: 'b' }, releasePolicy: null, created: 1767225600, updated: 1767225600 });

describe('vault key events in the audit object state', () => {
  it('classifies each vault key event as the change it is', () => {
    const change = (type: string, data: Record<string, unknown> = {}): string | undefined => classifyLifecycleEvent(ev(type, data), dir)?.change;
    expect(change('KeyVersionCreated', version(V1))).toBe('version');
    expect(change('KeyVersionUpdated', { version: V1, enabled: false })).toBe('attributes');
    expect(change('KeyDeleted')).toBe('deleted');
    expect(change('KeyRecovered')).toBe('recovered');
    expect(change('KeyPurged')).toBe('purged');
    expect(change('KeyRestored', { vaultId: VAULT_ID, name: 'Signing-Key', versions: [version(V1)] })).toBe('version');
    expect(change('KeyRotationPolicyUpdated', { expiryTime: 'P90D' })).toBe('attributes');
    expect(change('KeyRotated', { version: V2, previousVersion: V1, rotatedDate: 1767225600 })).toBe('version');
    // A notice changes nothing of the key's state.
    expect(change('KeyNearExpiry', { version: V1, exp: 1767225600, notifiedDate: 1767225000 })).toBe('touched');
    expect(classifyLifecycleEvent(ev('KeyDeleted', {}), dir)?.ref).toEqual({ vault: 'dev', kind: 'key', name: 'signing-key' });
  });

  it('follows a key through versions, an update, delete, recover, a rotation policy and purge', () => {
    const s = fold([ev('KeyVersionCreated', version(V1)), ev('KeyVersionCreated', version(V2)), ev('KeyVersionUpdated', { version: V2, enabled: false }), ev('KeyRotationPolicyUpdated', { expiryTime: 'P90D' }), ev('KeyDeleted', { deletedDate: 1767229200, scheduledPurgeDate: 1767834000 })]);
    expect(s).toMatchObject({ vault: 'dev', kind: 'key', name: 'signing-key', status: 'deleted', versions: [V1, V2], latestVersion: V2, enabled: false, keyType: 'RSA' });
    expect(fold([ev('KeyVersionCreated', version(V1)), ev('KeyDeleted', {}), ev('KeyRecovered', { recoveredDate: 1 })])?.status).toBe('active');
    expect(fold([ev('KeyVersionCreated', version(V1)), ev('KeyDeleted', {}), ev('KeyPurged', { purgedDate: 1767232800, reason: 'request' })])?.status).toBe('purged');
    expect(fold([ev('KeyRestored', { vaultId: VAULT_ID, name: 'Signing-Key', versions: [version(V1), version(V2)] })])).toMatchObject({ status: 'active', versions: [V1, V2], latestVersion: V2 });
  });
});
