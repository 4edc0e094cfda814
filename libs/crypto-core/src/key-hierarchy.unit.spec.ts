import { describe, expect, it } from '@jest/globals';
import { hkdfSync } from 'node:crypto';
import { DomainError } from './crypto.errors.js';
import { open, openWithContext, peekKeyId, seal, type ObjectIdentity } from './envelope.js';
import { createVaultKek, DEV_ROOT_HKDF, DevRootKey, generateDataKey, unwrapDataKey, unwrapVaultKek } from './key-hierarchy.js';

async function codeOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof DomainError) return e.code;
    throw e;
  }
  throw new Error('expected a DomainError, nothing was thrown');
}

const unseal = 'dev-unseal-secret-0123456789abcdef';
const vault = { tenant: 'tenant-a', vault: 'vault-1' };
const identity: ObjectIdentity = { ...vault, collection: 'secrets', name: 'api-key', version: 'v1' };

describe('DevRootKey', () => {
  it('is derived with HKDF-SHA256 and the documented salt/info (stable id for the same secret)', async () => {
    const a = DevRootKey.fromUnsealSecret(unseal);
    const b = DevRootKey.fromUnsealSecret(Buffer.from(unseal));
    expect(a.id).toBe(b.id);
    expect(a.id).toMatch(/^dev-[0-9a-f]{16}$/);
    const wrapped = await a.wrap(Buffer.from('kek'), Buffer.from('aad'));
    expect(peekKeyId(wrapped)).toBe(a.id);
    expect(await b.unwrap(wrapped, Buffer.from('aad'))).toEqual(Buffer.from('kek'));
    // Independent check of the derivation: the same HKDF output opens the root's envelopes.
    const expected = Buffer.from(hkdfSync('sha256', Buffer.from(unseal), DEV_ROOT_HKDF.salt, DEV_ROOT_HKDF.info, 32));
    expect(openWithContext(expected, wrapped, Buffer.from('aad'))).toEqual(Buffer.from('kek'));
  });

  it('a different unseal secret is a different root: unwrap fails with CiphertextInvalid', async () => {
    const a = DevRootKey.fromUnsealSecret(unseal);
    const other = DevRootKey.fromUnsealSecret(unseal + '!');
    expect(other.id).not.toBe(a.id);
    const wrapped = await a.wrap(Buffer.from('kek'), Buffer.from('aad'));
    expect(await codeOf(() => other.unwrap(wrapped, Buffer.from('aad')))).toBe('CiphertextInvalid');
    expect(await codeOf(() => a.unwrap(wrapped, Buffer.from('other aad')))).toBe('CiphertextInvalid');
  });

  it('rejects a short unseal secret and refuses to work once destroyed', async () => {
    expect(await codeOf(() => DevRootKey.fromUnsealSecret('short'))).toBe('BadParameter');
    const root = DevRootKey.fromUnsealSecret(unseal);
    root.destroy();
    expect(await codeOf(() => root.wrap(Buffer.from('x'), Buffer.alloc(0)))).toBe('RootUnavailable');
  });
});

describe('vault KEK and data keys', () => {
  it('root -> KEK -> data key -> value round trip', async () => {
    const root = DevRootKey.fromUnsealSecret(unseal);
    const created = await createVaultKek(root, vault);
    expect(peekKeyId(created.wrapped)).toBe(root.id);

    const kek = await unwrapVaultKek(root, vault, created.kekId, created.wrapped);
    const dk = generateDataKey(kek, identity);
    expect(dk.plaintext.length).toBe(32);
    expect(peekKeyId(dk.wrapped)).toBe(kek.id);

    const value = seal(dk.plaintext, dk.dataKeyId, Buffer.from('s3cr3t'), identity);
    dk.plaintext.fill(0);

    const again = unwrapDataKey(kek, identity, dk.wrapped);
    expect(open(again, value, identity, { expectedKeyId: dk.dataKeyId }).toString()).toBe('s3cr3t');
  });

  it('a KEK wrapped for one vault (or id) cannot be unwrapped as another', async () => {
    const root = DevRootKey.fromUnsealSecret(unseal);
    const created = await createVaultKek(root, vault);
    expect(await codeOf(() => unwrapVaultKek(root, { ...vault, vault: 'vault-2' }, created.kekId, created.wrapped))).toBe('CiphertextInvalid');
    expect(await codeOf(() => unwrapVaultKek(root, { ...vault, tenant: 'tenant-b' }, created.kekId, created.wrapped))).toBe('CiphertextInvalid');
    expect(await codeOf(() => unwrapVaultKek(root, vault, 'kek-other', created.wrapped))).toBe('CiphertextInvalid');
  });

  it('a wrapped data key copied to another object fails with CiphertextInvalid', async () => {
    const root = DevRootKey.fromUnsealSecret(unseal);
    const { kek } = await createVaultKek(root, vault);
    const dk = generateDataKey(kek, identity);
    expect(await codeOf(() => unwrapDataKey(kek, { ...identity, name: 'other' }, dk.wrapped))).toBe('CiphertextInvalid');
    expect(await codeOf(() => unwrapDataKey(kek, { ...identity, version: 'v2' }, dk.wrapped))).toBe('CiphertextInvalid');
    const { kek: otherKek } = await createVaultKek(root, vault);
    expect(await codeOf(() => unwrapDataKey(otherKek, identity, dk.wrapped))).toBe('CiphertextInvalid');
  });

  it('refuses data keys for objects outside the KEK vault, and a destroyed KEK', async () => {
    const root = DevRootKey.fromUnsealSecret(unseal);
    const { kek } = await createVaultKek(root, vault);
    expect(await codeOf(() => generateDataKey(kek, { ...identity, vault: 'vault-2' }))).toBe('BadParameter');
    kek.destroy();
    expect(await codeOf(() => generateDataKey(kek, identity))).toBe('RootUnavailable');
  });
});
