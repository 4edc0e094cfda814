import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { ALL_CONTRACTS, ContractCatalog, ContractError, contracts, defineContract, identityContracts, lifecycleContracts } from './index.js';

function errorOf(fn: () => unknown): ContractError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ContractError) return err;
    throw err;
  }
  throw new Error('expected a ContractError');
}

const secretDeleted = { vault: 'dev', collection: 'secrets', name: 'db-password', version: null, deletedDate: 1, scheduledPurgeDate: 2 };

describe('contract catalog', () => {
  it('declares each type once, at one current version, from the service that publishes it', () => {
    const types = ALL_CONTRACTS.map((c) => c.type);
    expect(new Set(types).size).toBe(types.length);
    expect(contracts.types).toEqual(types);
    expect(new Set(ALL_CONTRACTS.map((c) => c.source))).toEqual(new Set(['identity', 'vault', 'crypto']));
    expect(lifecycleContracts.types.every((t) => contracts.has(t) && !identityContracts.has(t))).toBe(true);
  });

  it('a type name belongs to one service: declared twice is refused; publishes() checks the owner', () => {
    const again = defineContract({ type: 'KeyRestored', schemaVersion: 1, source: 'vault', schema: z.strictObject({ name: z.string() }) });
    expect(() => new ContractCatalog([...ALL_CONTRACTS, again])).toThrow('contract KeyRestored is declared twice (crypto v2, vault v1)');
    expect(contracts.publishes('crypto', 'KeyRestored')).toBe(true);
    expect(contracts.publishes('vault', 'KeyRestored')).toBe(false);
    expect(contracts.publishes('vault', 'SecretDeleted')).toBe(true);
  });

  it('parses a valid message at its current version', () => {
    expect(contracts.parse('SecretDeleted', 2, secretDeleted)).toEqual({ type: 'SecretDeleted', schemaVersion: 2, data: secretDeleted });
  });

  it('rejects an unknown type with an error naming it', () => {
    const e = errorOf(() => contracts.parse('SecretShredded', 1, {}));
    expect(e.code).toBe('UnknownContractType');
    expect(e.message).toBe('no contract for event type "SecretShredded"');
    expect(errorOf(() => contracts.parse('<script>', 1, {})).message).not.toContain('<script>');
  });

  it('rejects an unknown version with an error naming the type and the version', () => {
    for (const v of [3, 0, -1, 1.5]) {
      const e = errorOf(() => contracts.parse('SecretDeleted', v, secretDeleted));
      expect([v, e.code, e.eventType, e.schemaVersion]).toEqual([v, 'UnknownContractVersion', 'SecretDeleted', v]);
      expect(e.message).toContain(`event SecretDeleted has unknown schema version ${v} (current: v2)`);
    }
    // An older version with no upcaster (published before contracts, without its object identity).
    expect(errorOf(() => contracts.parse('SecretDeleted', 1, { deletedDate: 1, scheduledPurgeDate: 2 })).message).toBe(
      'event SecretDeleted at schema version 1 cannot be read: no upcaster from v1 to the current v2',
    );
    expect(contracts.canRead('SecretDeleted', 1)).toBe(false);
    expect(contracts.canRead('KeyCreated', 1)).toBe(true);
  });

  it('upcasts an older version where the old shape named everything (VaultCreated v1 → v2)', () => {
    const v1 = { vaultId: 'id-1', name: 'dev', tenantId: 't', retentionDays: 90, purgeProtection: false, tags: {}, created: 5 };
    expect(contracts.parse('VaultCreated', 1, v1)).toEqual({
      type: 'VaultCreated',
      schemaVersion: 2,
      data: { vault: 'dev', collection: null, name: 'dev', version: null, vaultId: 'id-1', retentionDays: 90, purgeProtection: false, tags: {}, created: 5 },
    });
  });

  it('an upcaster may rename a type; the chain runs version by version', () => {
    const made = defineContract({ type: 'ThingMade', schemaVersion: 3, source: 'vault', schema: z.strictObject({ id: z.string(), size: z.int() }) });
    const catalog = new ContractCatalog([made])
      .upcast('ThingCreated', 1, (d) => ({ data: { ...d, size: 0 } }))
      .upcast('ThingCreated', 2, (d) => ({ type: 'ThingMade', data: d }));
    expect(catalog.parse('ThingCreated', 1, { id: 'x' })).toEqual({ type: 'ThingMade', schemaVersion: 3, data: { id: 'x', size: 0 } });
    expect(errorOf(() => catalog.parse('ThingCreated', 7, { id: 'x' })).code).toBe('UnknownContractType');
  });

  it('invalid data is rejected naming the fields, never echoing the values', () => {
    const e = errorOf(() => contracts.parse('SecretVersionUpdated', 2, { ...secretDeleted, version: 'S3CR3T-NOT-A-VERSION', value: 'hunter2', enabled: 'yes' }));
    expect(e.code).toBe('ContractValidationFailed');
    expect(e.message).toMatch(/^event SecretVersionUpdated\.v2 is invalid: /);
    expect(e.message).toContain('version');
    expect(e.message).toContain('enabled');
    expect(e.message).toContain('"value"');
    expect(e.message).not.toContain('hunter2');
    expect(e.message).not.toContain('S3CR3T');
    expect(errorOf(() => contracts.parse('SecretDeleted', 2, null)).message).toBe('event SecretDeleted.v2 is invalid: data must be an object');
  });
});

describe('redaction by declaration', () => {
  it('no contract may declare a secret value, key material, a digest or a credential hash, at any depth', () => {
    for (const field of ['value', 'hash', 'headerHash', 'ciphertext', 'plaintext', 'd', 'k', 'dataKeys', 'client_secret', 'signature']) {
      const e = errorOf(() => defineContract({ type: 'Leaky', schemaVersion: 1, source: 'vault', schema: z.strictObject({ outer: z.array(z.strictObject({ [field]: z.string() })).nullable() }) }));
      expect([field, e.code, e.message]).toEqual([field, 'ContractFieldForbidden', `contract Leaky.v1 declares the forbidden field "outer.${field}"`]);
    }
  });

  it('tags are user metadata: a tag may be called value or k', () => {
    const data = { vault: 'dev', collection: null, name: 'dev', version: null, tags: { value: 'x', k: 'y' }, purgeProtection: false, updated: 1 };
    expect(contracts.parse('VaultUpdated', 2, data).data).toEqual(data);
  });

  it('strict schemas: an undeclared field (a hash, ciphertext) never passes', () => {
    expect(() => identityContracts.parse('ClientSecretAdded', 1, { secretId: '11111111-1111-4111-8111-111111111111', hint: 'abc', expiresAt: null, hash: 'scrypt$x' })).toThrow(/ClientSecretAdded\.v1 is invalid: \(data\): Unrecognized key: "hash"/);
    expect(() => lifecycleContracts.parse('KeyCreated', 1, { tenant: 't', vault: 'v', name: 'k', version: 'a', kty: 'RSA', hsm: false, sizeBits: 2048, crv: null, keyOps: [], enabled: true, notBefore: null, expires: null, exportable: false, publicKey: { kty: 'RSA', n: 'n', e: 'e', d: 'PRIVATE' }, materialId: 'm', created: 1 })).toThrow(
      /KeyCreated\.v2 is invalid: publicKey/,
    );
  });
});
