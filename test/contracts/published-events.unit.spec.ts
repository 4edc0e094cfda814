import { beforeAll, describe, expect, it } from '@jest/globals';
import { contracts, FORBIDDEN_FIELD, type ObjectIdentity } from '#libs/contracts';
import { EventRegistry, type Event, type PublishedEvent } from '#libs/kernel';
import { registerIdentityEvents } from '../../apps/identity/src/domain/identity.events.js';
import { principalDecider, type PrincipalCommand } from '../../apps/identity/src/domain/principal.decider.js';
import { roleAssignmentDecider } from '../../apps/identity/src/domain/role-assignment.decider.js';
import { registerSecretEvents } from '../../apps/vault/src/domain/secret/secret.events.js';
import { secretDecider, type SecretCommand } from '../../apps/vault/src/domain/secret/secret.decider.js';
import { registerVaultEvents } from '../../apps/vault/src/domain/vault/vault.events.js';
import { vaultDecider, type VaultCommand } from '../../apps/vault/src/domain/vault/vault.decider.js';
import { registerVaultServiceEvents } from '../../apps/vault/src/domain/vault-service.registry.js';
import { poolAdministrationDecider } from '../../apps/vault/src/domain/pool-administration/pool-administration.decider.js';
import { keyDecider as vaultKeyDecider, type KeyCommand as VaultKeyCommand } from '../../apps/vault/src/domain/key/key.decider.js';
import type { KeyVersionRecord } from '../../apps/vault/src/domain/key/key.events.js';
import { securityDomainDecider } from '../../apps/vault/src/domain/security-domain/security-domain.decider.js';
import { registerKeyEvents } from '../../apps/crypto/src/domain/key.events.js';
import { keyDecider, type KeyCommand } from '../../apps/crypto/src/domain/key.decider.js';
import type { KeyVersionData } from '../../apps/crypto/src/domain/key.model.js';

/**
 * Every event type identity, vault and crypto register has a contract, and what each one
 * publishes — built from the services' own deciders, as the services build them — validates
 * against it and carries none of the private fields (hashes, ciphertext, data-key handles,
 * material references).
 */
type Decider<S, C, E> = { initialState(): S; decide(c: C, s: S): readonly E[]; evolve(s: S, e: E): S };

/** Runs commands through a decider and returns every event it decided. */
function run<S, C, E extends Event>(d: Decider<S, C, E>, commands: readonly C[]): E[] {
  let state = d.initialState();
  const out: E[] = [];
  for (const c of commands) {
    const events = d.decide(c, state);
    for (const e of events) state = d.evolve(state, e);
    out.push(...events);
  }
  return out;
}

const TENANT = '4eeb1e29-c100-4249-9b4c-7c16d469679f';
const P = '0b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e01';
const APP = '2966c8e5-2fd9-419a-8c80-0c92362a70aa';
const VAULT_ID = '5f0c1f9e-3f7a-4a43-9d1c-6c1f0e0b7a11';
const V1 = '0123456789abcdef0123456789abcdef';
const V2 = 'fedcba9876543210fedcba9876543210';
const T0 = 1_800_000_000;
const SCRYPT = 'scrypt$16384$8$1$c2FsdA$aGFzaA';
const ARGON2 = '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo';
const CIPHERTEXT = 'AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyA=';

const identitySamples = (): { events: Event[]; object?: ObjectIdentity }[] => {
  const principal = run(principalDecider, [
    { type: 'CreatePrincipal', data: { objectId: P, tenantId: TENANT, appId: APP, kind: 'servicePrincipal', displayName: 'app-one', boundTo: null } },
    { type: 'AddClientSecret', data: { secretId: '11111111-1111-4111-8111-111111111111', hash: SCRYPT, hint: 'abc', expiresAt: null } },
    { type: 'RevokeClientSecret', data: { secretId: '11111111-1111-4111-8111-111111111111' } },
    { type: 'RegisterClientCertificate', data: { thumbprintSha256: 'ab'.repeat(32), thumbprintSha1: 'cd'.repeat(20), publicKeyPem: '-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----', subject: 'CN=app', notAfter: '2030-01-01T00:00:00.000Z' } },
    { type: 'RevokeClientCertificate', data: { thumbprintSha256: 'ab'.repeat(32) } },
    { type: 'DisablePrincipal', data: { reason: 'test' } },
  ] satisfies PrincipalCommand[]);
  const managed = run(principalDecider, [
    { type: 'CreatePrincipal', data: { objectId: APP, tenantId: TENANT, appId: P, kind: 'managedIdentity', displayName: 'mi-one', boundTo: 'host-1' } },
    { type: 'IssueManagedIdentityHeader', data: { headerHash: SCRYPT } },
  ] satisfies PrincipalCommand[]);
  const user = run(principalDecider, [
    { type: 'CreatePrincipal', data: { objectId: '33333333-3333-4333-8333-333333333333', tenantId: TENANT, appId: '44444444-4444-4444-8444-444444444444', kind: 'user', displayName: 'alice', boundTo: null } },
    { type: 'SetUserPassword', data: { hash: ARGON2 } },
  ] satisfies PrincipalCommand[]);
  const assignment = run(roleAssignmentDecider, [
    { type: 'CreateRoleAssignment', data: { id: '22222222-2222-4222-8222-222222222222', principalId: P, roleDefinitionId: '4633458b-17de-408a-b874-0445c86b69e6', scope: '/vaults/dev' } },
    { type: 'DeleteRoleAssignment', data: { id: '22222222-2222-4222-8222-222222222222' } },
  ]);
  // Tenants and custom role definitions are appended by identity's application service directly (no decider).
  const definition = { id: '3f0c7a2e-5b1d-4e8f-9c6a-2d4b8e1f0a77', roleName: 'reader', description: '', roleType: 'CustomRole' as const, assignableScopes: ['/'], permissions: [{ actions: [], notActions: [], dataActions: ['Microsoft.KeyVault/vaults/secrets/getSecret/action'], notDataActions: [] }] };
  return [
    { events: [{ type: 'TenantCreated', data: { tenantId: TENANT, name: 'default', isDefault: true } }] },
    { events: principal },
    { events: managed },
    { events: user },
    { events: [{ type: 'PublicClientRegistered', data: { appId: APP, tenantId: TENANT, displayName: 'console', redirectUris: ['http://localhost:5173/'] } }] },
    { events: assignment },
    { events: [{ type: 'RoleDefinitionCreated', data: definition }, { type: 'RoleDefinitionDeleted', data: { id: definition.id } }] },
  ];
};

const vaultSamples = (): { events: Event[]; object: ObjectIdentity }[] => {
  const vault = run(vaultDecider, [
    { type: 'CreateVault', data: { vaultId: VAULT_ID, name: 'Dev', tenantId: TENANT, retentionDays: 7, purgeProtection: false, tags: { team: 'a' }, now: T0 } },
    { type: 'UpdateVault', data: { name: 'Dev', tags: { team: 'b' }, now: T0 + 1 } },
    { type: 'DeleteVault', data: { name: 'Dev', now: T0 + 2 } },
    { type: 'RecoverVault', data: { name: 'Dev', now: T0 + 3 } },
    { type: 'DeleteVault', data: { name: 'Dev', now: T0 + 4 } },
    { type: 'PurgeVault', data: { name: 'Dev', now: T0 + 4 + 8 * 86_400, reason: 'scheduled' } },
  ] satisfies VaultCommand[]);
  const sealed = { ciphertext: CIPHERTEXT, keyId: 'dk-1', keyRef: V1 };
  const set = (version: string, now: number): SecretCommand => ({
    type: 'SetSecret',
    data: { vaultId: VAULT_ID, name: 'Db-Password', version, now, managed: false, sealed, contentType: 'text/plain', tags: { a: 'b' }, attributes: { exp: now + 100 } },
  });
  const secret = run(secretDecider, [
    set(V1, T0),
    set(V2, T0 + 1),
    { type: 'UpdateSecret', data: { name: 'Db-Password', version: V2, now: T0 + 2, patch: { attributes: { enabled: false } } } },
    { type: 'DeleteSecret', data: { name: 'Db-Password', now: T0 + 3, retentionDays: 7 } },
    { type: 'RecoverSecret', data: { name: 'Db-Password', now: T0 + 4 } },
    { type: 'DeleteSecret', data: { name: 'Db-Password', now: T0 + 5, retentionDays: 7 } },
    { type: 'PurgeSecret', data: { name: 'Db-Password', now: T0 + 6, reason: 'request', purgeProtection: false } },
  ] satisfies SecretCommand[]);
  const restoredVersion = { version: V1, ciphertext: CIPHERTEXT, keyId: 'dk-2', keyRef: V1, contentType: null, tags: null, enabled: true, nbf: null, exp: null, created: T0, updated: T0 };
  const restored = run(secretDecider, [{ type: 'RestoreSecret', data: { vaultId: VAULT_ID, name: 'Other', now: T0 + 9, managed: false, versions: [restoredVersion, { ...restoredVersion, version: V2 }] } }]);
  return [
    { events: vault, object: { vault: 'dev', collection: null, name: 'dev' } },
    { events: secret, object: { vault: 'dev', collection: 'secrets', name: 'db-password' } },
    { events: restored, object: { vault: 'dev', collection: 'secrets', name: 'other' } },
    // A pool's security domain: the sealed domain key (ciphertext) stays in the store.
    {
      events: run({ ...securityDomainDecider, initialState: () => securityDomainDecider.initialState(true) }, [
        { type: 'ActivateSecurityDomain', data: { vaultId: VAULT_ID, domainId: '6b1d2c3e-4f50-4a61-8b72-9c83d4e5f607', sealedKey: CIPHERTEXT, via: 'download', required: 2, shares: 3, now: T0 } },
      ]),
      object: { vault: 'hsm-one', collection: null, name: 'hsm-one' },
    },
    ...vaultKeySamples(),
    ...poolAdministrationSamples(),
  ];
};

/** A Managed HSM pool's local RBAC and settings, built with the pool administration decider. */
const poolAdministrationSamples = (): { events: Event[]; object: ObjectIdentity }[] => {
  const ROLE = '3f0c7a2e-5b1d-4e8f-9c6a-2d4b8e1f0a77';
  const ASSIGNMENT = '22222222-2222-4222-8222-222222222222';
  const permissions = [{ actions: [], notActions: [], dataActions: ['Microsoft.KeyVault/managedHsm/keys/sign/action'], notDataActions: [] }];
  const events = run(poolAdministrationDecider, [
    { type: 'SetRoleDefinition', data: { poolId: VAULT_ID, roleDefinitionId: ROLE, roleName: 'Signer', description: 'signs', assignableScopes: ['/', '/keys/signer'], permissions } },
    { type: 'CreateRoleAssignment', data: { poolId: VAULT_ID, assignmentId: ASSIGNMENT, principalId: P, roleDefinitionId: ROLE, scope: '/keys/signer', builtInRole: false } },
    { type: 'DeleteRoleAssignment', data: { poolId: VAULT_ID, assignmentId: ASSIGNMENT } },
    { type: 'DeleteRoleDefinition', data: { poolId: VAULT_ID, roleDefinitionId: ROLE } },
    { type: 'UpdateSetting', data: { poolId: VAULT_ID, setting: 'allowkeymanagementoperationsthrougharm', value: 'TRUE' } },
  ]);
  return [{ events, object: { vault: 'pool1', collection: null, name: 'pool1' } }];
};

/** The vault's key metadata events, built with the vault's key decider (crypto's material events are keySamples). */
const vaultKeySamples = (): { events: Event[]; object: ObjectIdentity }[] => {
  const V3 = '33333333333333333333333333333333';
  const policy = { contentType: 'application/json; charset=utf-8', immutable: false, data: 'eyJ2ZXJzaW9uIjoiMS4wLjAifQ' };
  const material = (version: string, over: Partial<{ kty: string; keySize: number | null; crv: string | null; hsm: boolean }> = {}) => ({ version, kty: 'RSA', keySize: 2048, crv: null, keyOps: ['sign', 'verify'], hsm: false, ...over });
  const create = (version: string, now: number, origin: 'create' | 'import' | 'rotate', over: Parameters<typeof material>[1] = {}): VaultKeyCommand => ({
    type: 'CreateKeyVersion',
    data: { vaultId: VAULT_ID, name: 'Signer', now, origin, material: material(version, over), attributes: { exp: now + 3_600, exportable: true }, tags: { team: 'a' }, releasePolicy: policy },
  });
  const rotation = { lifetimeActions: [{ trigger: { timeAfterCreate: 'P90D' }, action: { type: 'Rotate' as const } }, { trigger: { timeBeforeExpiry: 'P30D' }, action: { type: 'Notify' as const } }], expiryTime: 'P1Y' };
  const key = run(vaultKeyDecider, [
    create(V1, T0, 'create'),
    create(V2, T0 + 1, 'rotate', { kty: 'EC-HSM', keySize: null, crv: 'P-256', hsm: true }),
    create(V3, T0 + 2, 'import'),
    { type: 'UpdateKeyVersion', data: { name: 'Signer', version: V1, now: T0 + 3, patch: { attributes: { enabled: false }, keyOps: ['verify'], tags: { team: 'b' } } } },
    { type: 'SetRotationPolicy', data: { name: 'Signer', now: T0 + 4, policy: rotation } },
    { type: 'NotifyNearExpiry', data: { name: 'Signer', version: V3, now: T0 + 5 } },
    { type: 'DeleteKey', data: { name: 'Signer', now: T0 + 6, retentionDays: 7 } },
    { type: 'RecoverKey', data: { name: 'Signer', now: T0 + 7 } },
    { type: 'DeleteKey', data: { name: 'Signer', now: T0 + 8, retentionDays: 7 } },
    { type: 'PurgeKey', data: { name: 'Signer', now: T0 + 9, reason: 'request', purgeProtection: false } },
  ] satisfies VaultKeyCommand[]);
  const record = (version: string): KeyVersionRecord => ({ version, kty: 'RSA', keySize: 3072, crv: null, keyOps: ['encrypt', 'decrypt'], hsm: false, exportable: false, enabled: true, nbf: null, exp: null, tags: null, releasePolicy: null, created: T0, updated: T0 });
  const restored = run(vaultKeyDecider, [
    { type: 'RestoreKey', data: { vaultId: VAULT_ID, name: 'Backup-Key', now: T0 + 10, managed: false, versions: [record(V1), record(V2)], rotationPolicy: { ...rotation, created: T0, updated: T0 } } },
  ]);
  return [
    { events: key, object: { vault: 'dev', collection: 'keys', name: 'signer' } },
    { events: restored, object: { vault: 'dev', collection: 'keys', name: 'backup-key' } },
  ];
};

const keySamples = (): { events: Event[]; object: ObjectIdentity }[] => {
  const version = (v: string, over: Partial<KeyVersionData> = {}): KeyVersionData => ({
    tenant: 't1',
    vault: 'dev',
    name: 'signer',
    version: v,
    kty: 'RSA',
    hsm: false,
    sizeBits: 2048,
    crv: null,
    keyOps: ['sign', 'verify'],
    enabled: true,
    notBefore: null,
    expires: null,
    exportable: false,
    publicKey: { kty: 'RSA', n: 'sXch', e: 'AQAB' },
    materialId: `km-${v}`,
    created: T0,
    ...over,
  });
  const key = run(keyDecider, [
    { type: 'AddKeyVersion', data: { origin: 'generated' }, version: version(V1) },
    { type: 'AddKeyVersion', data: { origin: 'generated' }, version: version(V2, { kty: 'EC', sizeBits: 256, crv: 'P-256', publicKey: { kty: 'EC', crv: 'P-256', x: 'eA', y: 'eQ' } }) },
    { type: 'AddKeyVersion', data: { origin: 'imported', importedFrom: 'jwk' }, version: version('33333333333333333333333333333333', { kty: 'oct', sizeBits: 256, publicKey: null }) },
    { type: 'UpdateKeyVersion', data: { version: V1, attributes: { enabled: false, notBefore: null, expires: T0 + 60 }, keyOps: ['sign'], updated: T0 + 1 } },
    { type: 'DeleteKey', data: { deleted: T0 + 2 } },
    { type: 'RecoverKey', data: { recovered: T0 + 3 } },
    { type: 'DestroyKey', data: { destroyed: T0 + 4 } },
  ] satisfies KeyCommand[]);
  const restored = run(keyDecider, [{ type: 'RestoreKey', data: { versions: [{ ...version(V1), vault: 'prod', updated: T0 }], restored: T0 + 5, fromVault: 'dev' } }]);
  return [
    { events: key, object: { vault: 'dev', collection: 'keys', name: 'signer' } },
    { events: restored, object: { vault: 'prod', collection: 'keys', name: 'signer' } },
  ];
};

const services = [
  { name: 'identity', registry: registerIdentityEvents(new EventRegistry()), samples: identitySamples },
  // The vault's real domain registry (vault.module.ts composes it with the spine's service-internal events).
  { name: 'vault', registry: registerVaultServiceEvents(new EventRegistry()), samples: vaultSamples },
  { name: 'crypto', registry: registerKeyEvents(new EventRegistry()), samples: keySamples },
];

function publish(registry: EventRegistry, e: Event, object: ObjectIdentity | undefined): PublishedEvent {
  const def = registry.check(e.type, e.data); // the private event is valid as the service writes it
  return registry.published(e.type, def.schemaVersion, e.data as Record<string, unknown>, { streamId: 'stream-opaque', tenant: TENANT, ...(object ? { object } : {}) });
}

const forbiddenKeys = (o: unknown, path = ''): string[] =>
  typeof o !== 'object' || o === null ? [] : Object.entries(o).flatMap(([k, v]) => [...(!Array.isArray(o) && FORBIDDEN_FIELD.test(k) ? [`${path}${k}`] : []), ...forbiddenKeys(v, `${path}${k}.`)]);

describe.each(services)('$name: published events are their contracts', ({ name, registry, samples }) => {
  let all: { events: Event[]; object?: ObjectIdentity }[] = [];
  let sampled = new Set<string>();
  beforeAll(() => {
    all = samples();
    sampled = new Set(all.flatMap((s) => s.events.map((e) => e.type)));
  });

  it('every registered event type has a contract of its own service, and the samples cover every one', () => {
    for (const type of registry.types) {
      const contract = registry.definition(type).contract;
      expect([type, contract !== undefined]).toEqual([type, true]);
      expect([type, contract && contracts.publishes(name, contract.type)]).toEqual([type, true]);
      expect([type, sampled.has(type)]).toEqual([type, true]);
    }
  });

  it('every sample, published, validates against its contract (through the shared catalog too)', () => {
    for (const { events, object } of all) {
      for (const e of events) {
        const published = publish(registry, e, object);
        // The contract's type: the private name, except where it is another service's (the vault's key events publish as VaultKey…).
        expect(published.type).toBe(registry.definition(e.type).contract?.type);
        expect(contracts.parse(published.type, published.schemaVersion, JSON.parse(JSON.stringify(published.data)))).toEqual(published);
        if (object) expect(published.data).toMatchObject({ vault: object.vault, collection: object.collection, name: object.name });
      }
    }
  });

  it('redaction: no hash, ciphertext, data-key handle or material reference is published', () => {
    const text = all.flatMap(({ events, object }) => events.map((e) => JSON.stringify(publish(registry, e, object)))).join('\n');
    for (const needle of [SCRYPT, ARGON2, CIPHERTEXT, 'km-', 'dk-1', 'dk-2', '"hash"', '"headerHash"', '"ciphertext"', '"dataKeys"', '"materialId"', '"keyRef"']) expect([needle, text.includes(needle)]).toEqual([needle, false]);
    for (const { events, object } of all) for (const e of events) expect(forbiddenKeys(publish(registry, e, object).data)).toEqual([]);
  });
});

describe('one type name, one service', () => {
  it('no two services publish the same type name (the vault key metadata is not the crypto key lifecycle)', () => {
    const owner = new Map<string, string>();
    for (const { name, registry } of services) {
      for (const type of registry.types) {
        const published = registry.definition(type).contract?.type ?? type;
        expect([published, owner.get(published) ?? name]).toEqual([published, name]);
        owner.set(published, name);
      }
    }
    const vault = registerVaultServiceEvents(new EventRegistry());
    for (const type of ['KeyDeleted', 'KeyRecovered', 'KeyRestored']) {
      expect(contracts.contract(type).source).toBe('crypto');
      expect(vault.definition(type).contract?.type).toBe(`Vault${type}`);
    }
  });
});

describe('vault key metadata contracts', () => {
  it('carry no key material and no public key parts (those are crypto\'s), at any depth', () => {
    const keysOf = (o: unknown): string[] => (typeof o !== 'object' || o === null ? [] : Object.entries(o).flatMap(([k, v]) => [...(Array.isArray(o) ? [] : [k]), ...keysOf(v)]));
    const registry = registerVaultServiceEvents(new EventRegistry());
    const published = vaultKeySamples().flatMap(({ events, object }) => events.map((e) => publish(registry, e, object)));
    expect(published.map((p) => p.type).every((t) => t.startsWith('VaultKey'))).toBe(true);
    const fields = new Set(published.flatMap((p) => keysOf(p.data)));
    for (const f of ['n', 'e', 'x', 'y', 'publicKey', 'jwk', 'key', 'materialId', 'vaultId']) expect([f, fields.has(f)]).toEqual([f, false]);
    for (const p of published) expect(p.data).toMatchObject({ vault: 'dev', collection: 'keys' });
  });
});

describe('publish mapping guards', () => {
  it('a vault or crypto lifecycle event appended without its object identity is refused, naming the event', () => {
    const registry = registerSecretEvents(registerVaultEvents(new EventRegistry()));
    expect(() => registry.published('SecretDeleted', 1, { deletedDate: T0, scheduledPurgeDate: T0 }, { streamId: `secret-${VAULT_ID}-x`, tenant: TENANT })).toThrow(/SecretDeleted appended without its secret identity/);
    const keys = registerKeyEvents(new EventRegistry());
    expect(() => keys.published('KeyDeleted', 1, { versions: [], deleted: T0 }, { streamId: 'key-t/v/k', tenant: TENANT, object: { vault: 'v', collection: 'secrets', name: 'k' } })).toThrow(/KeyDeleted appended without its key identity/);
    const vaultKeys = registerVaultServiceEvents(new EventRegistry());
    expect(() => vaultKeys.published('KeyDeleted', 1, { deletedDate: T0, scheduledPurgeDate: T0 }, { streamId: `key-${VAULT_ID}-k`, tenant: TENANT })).toThrow(/KeyDeleted appended without its key identity/);
  });

  it('a publish mapping that lets a private field through fails the contract (the append would write nothing)', () => {
    const registry = new EventRegistry().define({
      type: 'ClientSecretAdded',
      schemaVersion: 1,
      validate: () => [],
      contract: contracts.contract('ClientSecretAdded'),
      // A broken mapping: forgets to drop the hash.
      publish: (d) => d,
    });
    expect(() => registry.published('ClientSecretAdded', 1, { secretId: '11111111-1111-4111-8111-111111111111', hash: SCRYPT, hint: 'abc', expiresAt: null }, { streamId: 's', tenant: TENANT })).toThrow(
      /ClientSecretAdded\.v1 is invalid: .*hash/,
    );
    try {
      registry.published('ClientSecretAdded', 1, { secretId: '11111111-1111-4111-8111-111111111111', hash: SCRYPT, hint: 'abc', expiresAt: null }, { streamId: 's', tenant: TENANT });
    } catch (err) {
      expect(String(err)).not.toContain(SCRYPT);
    }
  });

  it('an event without a contract is published as stored, after its own publish mapping', () => {
    const registry = new EventRegistry().define({ type: 'ServiceStarted', schemaVersion: 1, validate: () => [], publish: (d) => ({ service: d['service'] }) });
    expect(registry.published('ServiceStarted', 1, { service: 'vault', pid: 1 }, { streamId: 's', tenant: 'system' })).toEqual({ type: 'ServiceStarted', schemaVersion: 1, data: { service: 'vault' } });
  });
});
