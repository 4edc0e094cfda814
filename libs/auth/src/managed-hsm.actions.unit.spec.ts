import { describe, expect, it } from '@jest/globals';
import { KeyDataActions, KeyRotationPolicyDataActions, ManagedHsmAdminDataActions, ManagedHsmKeyDataActions, SecretDataActions } from './data-actions.catalog.js';
import { managedHsmDataActionFor } from './managed-hsm.actions.js';
import { BuiltInRoleIds, findBuiltInRole } from './roles.catalog.js';

describe('Key Vault → Managed HSM data actions', () => {
  it('maps every key action a keys operation declares to a Managed HSM action', () => {
    for (const action of [...Object.values(KeyDataActions), ...Object.values(KeyRotationPolicyDataActions)]) {
      const mapped = managedHsmDataActionFor('KeyAnything', action);
      expect([action, mapped?.startsWith('Microsoft.KeyVault/managedHsm/keys/')]).toEqual([action, true]);
    }
    expect(managedHsmDataActionFor('KeyCreate', KeyDataActions.create)).toBe(ManagedHsmKeyDataActions.create);
    expect(managedHsmDataActionFor('KeySign', KeyDataActions.sign)).toBe(ManagedHsmKeyDataActions.sign);
    expect(managedHsmDataActionFor('KeyUpdate', KeyDataActions.update)).toBe(ManagedHsmKeyDataActions.write);
    expect(managedHsmDataActionFor('KeyPurge', KeyDataActions.purge)).toBe(ManagedHsmKeyDataActions.purgeDeleted);
    expect(managedHsmDataActionFor('KeyRecover', KeyDataActions.recover)).toBe(ManagedHsmKeyDataActions.recoverDeleted);
  });

  it('reads of deleted keys need deletedKeys/read on a pool, other reads keys/read', () => {
    expect(managedHsmDataActionFor('KeyGet', KeyDataActions.read)).toBe(ManagedHsmKeyDataActions.read);
    expect(managedHsmDataActionFor('KeyGetDeleted', KeyDataActions.read)).toBe(ManagedHsmKeyDataActions.readDeleted);
    expect(managedHsmDataActionFor('KeyListDeleted', KeyDataActions.read)).toBe(ManagedHsmKeyDataActions.readDeleted);
  });

  it('has no Managed HSM action for secrets; a Managed HSM action passes through', () => {
    expect(managedHsmDataActionFor('SecretGet', SecretDataActions.getSecret)).toBeUndefined();
    expect(managedHsmDataActionFor('RandomBytesGet', ManagedHsmAdminDataActions.rng)).toBe(ManagedHsmAdminDataActions.rng);
  });

  it('every mapped action is granted by a Managed HSM built-in role (Crypto User or Crypto Officer)', () => {
    const granted = new Set([BuiltInRoleIds.managedHsmCryptoUser, BuiltInRoleIds.managedHsmCryptoOfficer].flatMap((id) => findBuiltInRole(id)?.permissions.flatMap((p) => p.dataActions) ?? []));
    for (const action of [...Object.values(KeyDataActions), ...Object.values(KeyRotationPolicyDataActions)]) {
      const mapped = managedHsmDataActionFor('KeyAnything', action)!;
      expect([mapped, granted.has(mapped)]).toEqual([mapped, true]);
    }
  });
});
