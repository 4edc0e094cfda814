import { describe, expect, it } from '@jest/globals';
import { deciderSpec } from '#libs/testing';
import { keyDecider } from './key.decider.js';
import type { KeyEvent } from './key.events.js';
import type { KeyVersionData } from './key.model.js';

const version = (v: string, over: Partial<KeyVersionData> = {}): KeyVersionData => ({
  tenant: 't',
  vault: 'v',
  name: 'k',
  version: v,
  kty: 'EC',
  hsm: false,
  sizeBits: 256,
  crv: 'P-256',
  keyOps: ['sign', 'verify'],
  enabled: true,
  notBefore: null,
  expires: null,
  exportable: false,
  publicKey: { kty: 'EC', crv: 'P-256', x: 'x', y: 'y' },
  materialId: `km-${v}`,
  created: 100,
  ...over,
});

const created = (v: string): KeyEvent => ({ type: 'KeyCreated', data: version(v) });

describe('key decider', () => {
  it('the first generated version is KeyCreated, the next ones KeyVersionAdded', () => {
    deciderSpec(keyDecider).given([]).when({ type: 'AddKeyVersion', data: { origin: 'generated' }, version: version('a') }).then([created('a')]);
    deciderSpec(keyDecider)
      .given([created('a')])
      .when({ type: 'AddKeyVersion', data: { origin: 'generated' }, version: version('b') })
      .then([{ type: 'KeyVersionAdded', data: version('b') }]);
  });

  it('an import is KeyImported, first version or not', () => {
    deciderSpec(keyDecider)
      .given([created('a')])
      .when({ type: 'AddKeyVersion', data: { origin: 'imported', importedFrom: 'byok' }, version: version('b', { hsm: true, kty: 'EC-HSM' }) })
      .then([{ type: 'KeyImported', data: { ...version('b', { hsm: true, kty: 'EC-HSM' }), importedFrom: 'byok' } }]);
  });

  it('a version id cannot be reused while the key lives', () => {
    deciderSpec(keyDecider).given([created('a')]).when({ type: 'AddKeyVersion', data: { origin: 'generated' }, version: version('a') }).thenThrows('BadParameter');
  });

  it('update of the latest version ("") merges unchanged fields', () => {
    deciderSpec(keyDecider)
      .given([created('a'), { type: 'KeyVersionAdded', data: version('b') }])
      .when({ type: 'UpdateKeyVersion', data: { version: '', attributes: null, keyOps: ['verify'], updated: 200 } })
      .then([{ type: 'KeyUpdated', data: { version: 'b', enabled: true, notBefore: null, expires: null, keyOps: ['verify'], updated: 200 } }]);
  });

  it('update of an unknown version is KeyNotFound', () => {
    deciderSpec(keyDecider).given([created('a')]).when({ type: 'UpdateKeyVersion', data: { version: 'zz', attributes: null, keyOps: null, updated: 1 } }).thenThrows('KeyNotFound');
  });

  it('destroy names every live version; afterwards the key is gone and may be created again', () => {
    deciderSpec(keyDecider)
      .given([created('a'), { type: 'KeyVersionAdded', data: version('b') }])
      .when({ type: 'DestroyKey', data: { destroyed: 300 } })
      .then([{ type: 'KeyDestroyed', data: { versions: ['a', 'b'], destroyed: 300 } }]);
    const destroyed: KeyEvent = { type: 'KeyDestroyed', data: { versions: ['a'], destroyed: 300 } };
    deciderSpec(keyDecider).given([created('a'), destroyed]).when({ type: 'DestroyKey', data: { destroyed: 301 } }).thenThrows('KeyNotFound');
    deciderSpec(keyDecider).given([created('a'), destroyed]).when({ type: 'AddKeyVersion', data: { origin: 'generated' }, version: version('a') }).then([created('a')]);
  });

  it('state reflects updates', () => {
    const state = [created('a'), { type: 'KeyUpdated', data: { version: 'a', enabled: false, notBefore: 5, expires: 10, keyOps: ['verify'], updated: 150 } } as KeyEvent].reduce(
      keyDecider.evolve,
      keyDecider.initialState(),
    );
    expect(state.versions.get('a')).toMatchObject({ enabled: false, notBefore: 5, expires: 10, keyOps: ['verify'], updated: 150, created: 100 });
  });

  it('delete keeps the versions out of use; recover brings them back; a new version waits for either', () => {
    const deleted: KeyEvent = { type: 'KeyDeleted', data: { versions: ['a', 'b'], deleted: 400 } };
    deciderSpec(keyDecider)
      .given([created('a'), { type: 'KeyVersionAdded', data: version('b') }])
      .when({ type: 'DeleteKey', data: { deleted: 400 } })
      .then([deleted]);
    deciderSpec(keyDecider).given([created('a')]).when({ type: 'RecoverKey', data: { recovered: 1 } }).thenThrows('KeyNotFound');
    deciderSpec(keyDecider).given([]).when({ type: 'DeleteKey', data: { deleted: 1 } }).thenThrows('KeyNotFound');
    const history = [created('a'), { type: 'KeyVersionAdded', data: version('b') } as KeyEvent, deleted];
    deciderSpec(keyDecider).given(history).when({ type: 'DeleteKey', data: { deleted: 401 } }).thenThrows('KeyNotFound');
    deciderSpec(keyDecider).given(history).when({ type: 'AddKeyVersion', data: { origin: 'generated' }, version: version('c') }).thenThrows('KeyConflict');
    deciderSpec(keyDecider).given(history).when({ type: 'UpdateKeyVersion', data: { version: 'a', attributes: null, keyOps: null, updated: 1 } }).thenThrows('KeyNotFound');
    deciderSpec(keyDecider).given(history).when({ type: 'RecoverKey', data: { recovered: 500 } }).then([{ type: 'KeyRecovered', data: { versions: ['a', 'b'], recovered: 500 } }]);
    deciderSpec(keyDecider).given(history).when({ type: 'DestroyKey', data: { destroyed: 600 } }).then([{ type: 'KeyDestroyed', data: { versions: ['a', 'b'], destroyed: 600 } }]);
    const state = history.reduce(keyDecider.evolve, keyDecider.initialState());
    expect(state.deleted).toBe(400);
    expect(keyDecider.evolve(state, { type: 'KeyRecovered', data: { versions: ['a', 'b'], recovered: 500 } }).deleted).toBeNull();
  });

  it('restore appends one KeyRestored per version, only onto a free name', () => {
    const restoredA = { ...version('a', { vault: 'v2', materialId: 'km-new-a' }), updated: 150 };
    const restoredB = { ...version('b', { vault: 'v2', materialId: 'km-new-b' }), updated: 160 };
    deciderSpec(keyDecider)
      .given([])
      .when({ type: 'RestoreKey', data: { versions: [restoredA, restoredB], restored: 700, fromVault: 'v' } })
      .then([
        { type: 'KeyRestored', data: { ...restoredA, restored: 700, restoredFromVault: 'v' } },
        { type: 'KeyRestored', data: { ...restoredB, restored: 700, restoredFromVault: 'v' } },
      ]);
    deciderSpec(keyDecider).given([created('a')]).when({ type: 'RestoreKey', data: { versions: [restoredA], restored: 1, fromVault: 'v' } }).thenThrows('KeyConflict');
    deciderSpec(keyDecider)
      .given([created('a'), { type: 'KeyDeleted', data: { versions: ['a'], deleted: 2 } }])
      .when({ type: 'RestoreKey', data: { versions: [restoredA], restored: 3, fromVault: 'v' } })
      .thenThrows('KeyConflict');
    deciderSpec(keyDecider)
      .given([created('a'), { type: 'KeyDestroyed', data: { versions: ['a'], destroyed: 2 } }])
      .when({ type: 'RestoreKey', data: { versions: [restoredA, restoredA], restored: 3, fromVault: 'v' } })
      .thenThrows('BadParameter');
    deciderSpec(keyDecider).given([]).when({ type: 'RestoreKey', data: { versions: [], restored: 3, fromVault: 'v' } }).thenThrows('BadParameter');
    const state = [{ type: 'KeyRestored', data: { ...restoredA, restored: 700, restoredFromVault: 'v' } } as KeyEvent].reduce(keyDecider.evolve, keyDecider.initialState());
    expect(state.versions.get('a')).toMatchObject({ vault: 'v2', materialId: 'km-new-a', updated: 150, created: 100 });
  });
});
