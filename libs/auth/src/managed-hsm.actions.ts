import { KeyDataActions, KeyRotationPolicyDataActions, ManagedHsmKeyDataActions } from './data-actions.catalog.js';

/**
 * The one mapping from the Key Vault data action an operation declares
 * (`Microsoft.KeyVault/vaults/keys/...`) to the Managed HSM local-RBAC data action the same
 * operation needs on a pool (`Microsoft.KeyVault/managedHsm/keys/...`). Operations are declared
 * once, with their Key Vault action; the vault's gate asks this table when the container is a
 * pool. Sources: the data actions of the Managed HSM built-in roles (`roles.catalog.ts`, [HSM]):
 * reading deleted keys, recovering and purging them are `keys/deletedKeys/...` actions there
 * (Crypto Officer holds them, Crypto User does not), an update is `keys/write/action`.
 */
const BY_VAULT_ACTION: Readonly<Record<string, string>> = {
  [KeyDataActions.read]: ManagedHsmKeyDataActions.read,
  [KeyDataActions.create]: ManagedHsmKeyDataActions.create,
  [KeyDataActions.import]: ManagedHsmKeyDataActions.import,
  [KeyDataActions.update]: ManagedHsmKeyDataActions.write,
  [KeyDataActions.delete]: ManagedHsmKeyDataActions.delete,
  [KeyDataActions.backup]: ManagedHsmKeyDataActions.backup,
  [KeyDataActions.restore]: ManagedHsmKeyDataActions.restore,
  [KeyDataActions.recover]: ManagedHsmKeyDataActions.recoverDeleted,
  [KeyDataActions.purge]: ManagedHsmKeyDataActions.purgeDeleted,
  [KeyDataActions.encrypt]: ManagedHsmKeyDataActions.encrypt,
  [KeyDataActions.decrypt]: ManagedHsmKeyDataActions.decrypt,
  [KeyDataActions.wrapKey]: ManagedHsmKeyDataActions.wrapKey,
  [KeyDataActions.unwrapKey]: ManagedHsmKeyDataActions.unwrapKey,
  [KeyDataActions.sign]: ManagedHsmKeyDataActions.sign,
  [KeyDataActions.verify]: ManagedHsmKeyDataActions.verify,
  [KeyDataActions.release]: ManagedHsmKeyDataActions.release,
  [KeyDataActions.rotate]: ManagedHsmKeyDataActions.rotate,
  [KeyRotationPolicyDataActions.read]: ManagedHsmKeyDataActions.read,
  [KeyRotationPolicyDataActions.write]: ManagedHsmKeyDataActions.write,
};

/** Operations whose Key Vault action is shared with others but which need their own on a pool. */
const BY_OPERATION: Readonly<Record<string, string>> = {
  KeyGetDeleted: ManagedHsmKeyDataActions.readDeleted,
  KeyListDeleted: ManagedHsmKeyDataActions.readDeleted,
};

/**
 * The Managed HSM data action of an operation declared with Key Vault action `vaultAction`
 * (audit name `operationName`); undefined when the operation has none on a pool (secrets,
 * certificates: they do not exist there). A Managed HSM action passes through unchanged.
 */
export function managedHsmDataActionFor(operationName: string, vaultAction: string): string | undefined {
  if (vaultAction.startsWith('Microsoft.KeyVault/managedHsm/')) return vaultAction;
  return BY_OPERATION[operationName] ?? BY_VAULT_ACTION[vaultAction];
}
