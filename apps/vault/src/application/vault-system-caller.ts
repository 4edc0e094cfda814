import { scopeOf, type VaultRecord } from '../adapters/persistence/vaults.repository.js';
import { systemCaller, type Caller } from './access/caller.js';
import { systemAudit } from './audit/system-audit.js';

/**
 * The vault acting on one of its objects on its own behalf (schedulers, issuance off the request
 * path): a caller whose change commits its own audit record, as the system principal.
 * `requestUri` names the pass that did it.
 */
export function vaultSystemCaller(vault: VaultRecord, collection: 'keys' | 'certificates', operationName: string, objectName: string, requestUri: string): Caller {
  const base = systemCaller(vault.tenantId, operationName);
  const audit = systemAudit(operationName, { correlationId: base.correlationId, ip: base.ip, requestUri, agent: 'keyledger-vault scheduler', tenantId: vault.tenantId });
  audit.operationVersion = 'scheduler';
  audit.identity = { oid: 'system', appid: 'keyledger-vault', tid: vault.tenantId };
  audit.tenant = vault.tenantId;
  audit.vault = vault.nameKey;
  audit.containerPath = scopeOf(vault);
  audit.collection = collection;
  audit.objectName = objectName;
  return { ...base, audit };
}
