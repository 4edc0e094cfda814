import type { EventRegistry } from '#libs/kernel';
import { registerKeyEvents } from './key/key.events.js';
import { registerSecurityDomainEvents } from './security-domain/security-domain.events.js';
import { registerPoolAdministrationEvents } from './pool-administration/pool-administration.events.js';
import { registerSecretEvents } from './secret/secret.events.js';
import { registerVaultEvents } from './vault/vault.events.js';

/**
 * Every event the vault service's domain appends — vaults, secrets, key metadata, pool administration — each
 * registered with its contract (libs/contracts). The service's registry adds the spine's
 * service-internal lifecycle events to these (`vaultEventRegistry()` in vault.module.ts);
 * test/contracts/published-events.unit.spec.ts checks these ones.
 */
export function registerVaultServiceEvents(r: EventRegistry): EventRegistry {
  return registerSecurityDomainEvents(registerPoolAdministrationEvents(registerKeyEvents(registerSecretEvents(registerVaultEvents(r)))));
}
