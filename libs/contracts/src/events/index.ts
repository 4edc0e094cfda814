import { ContractCatalog, type MessageOf } from './contract.js';
import { IDENTITY_CONTRACTS, type IdentityContractEvent } from './identity.contracts.js';
import {
  MANAGED_HSM_ADMINISTRATION_CONTRACTS,
  POOL_CONTRACTS,
  SECRET_CONTRACTS,
  VAULT_CONTRACTS,
  VAULT_KEY_CONTRACTS,
  type ManagedHsmAdministrationContractEvent,
  type SecretContractEvent,
  type VaultContractEvent,
  type VaultKeyContractEvent,
} from './vault.contracts.js';
import { KEY_CONTRACTS, liftKeyVersionV1, type KeyContractEvent } from './crypto.contracts.js';

export * from './contract.js';
export * from './identity.contracts.js';
export * from './vault.contracts.js';
export * from './crypto.contracts.js';

/** The object lifecycle events of vaults, secrets and keys (the vault's metadata and crypto's material): what the audit service folds into object state. */
export type ObjectLifecycleEvent = VaultContractEvent | SecretContractEvent | VaultKeyContractEvent | KeyContractEvent;
export type ContractEvent = IdentityContractEvent | ObjectLifecycleEvent | ManagedHsmAdministrationContractEvent | MessageOf<(typeof POOL_CONTRACTS)[number]>;

export const LIFECYCLE_CONTRACTS = [...VAULT_CONTRACTS, ...SECRET_CONTRACTS, ...VAULT_KEY_CONTRACTS, ...KEY_CONTRACTS] as const;
export const ALL_CONTRACTS = [...IDENTITY_CONTRACTS, ...LIFECYCLE_CONTRACTS, ...MANAGED_HSM_ADMINISTRATION_CONTRACTS, ...POOL_CONTRACTS] as const;
export type ContractType = ContractEvent['type'];
export type ContractOf<T extends ContractType> = Extract<(typeof ALL_CONTRACTS)[number], { readonly type: T }>;
export type ContractMessageOf<T extends ContractType> = MessageOf<ContractOf<T>>;

/** Upcasters from earlier published versions: only where the old shape named everything the new one needs. */
function withUpcasters<M extends ContractEvent>(catalog: ContractCatalog<M>): ContractCatalog<M> {
  for (const type of ['KeyCreated', 'KeyVersionAdded', 'KeyImported', 'KeyRestored']) if (catalog.has(type)) catalog.upcast(type, 1, liftKeyVersionV1);
  if (catalog.has('VaultCreated')) {
    catalog.upcast('VaultCreated', 1, (d) => {
      const { tenantId: _tenant, ...rest } = d;
      return { data: { ...rest, vault: d['name'], collection: null, version: null } };
    });
  }
  return catalog;
}

/** Every contract of every service. */
export const contracts = withUpcasters(new ContractCatalog<ContractEvent>(ALL_CONTRACTS));
/** Only the vault/secret/key lifecycle contracts (what the audit service reads off the vault and crypto topics). */
export const lifecycleContracts = withUpcasters(new ContractCatalog<ObjectLifecycleEvent>(LIFECYCLE_CONTRACTS));
/** Only identity's contracts (what an RBAC read model reads off the identity topic). */
export const identityContracts = new ContractCatalog<IdentityContractEvent>(IDENTITY_CONTRACTS);
