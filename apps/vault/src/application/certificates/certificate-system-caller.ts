import type { VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import type { Caller } from '../access/caller.js';
import { vaultSystemCaller } from '../vault-system-caller.js';

/**
 * The vault acting on a certificate on its own behalf (lifetime actions, scheduled purge,
 * issuance off the request path). `requestUri` names the pass that did it.
 */
export function certificateSystemCaller(vault: VaultRecord, operationName: string, objectName: string, requestUri = 'scheduled-certificate-lifetime'): Caller {
  return vaultSystemCaller(vault, 'certificates', operationName, objectName, requestUri);
}
