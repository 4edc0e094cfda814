import { scopeOf, type VaultRecord } from '../../adapters/persistence/vaults.repository.js';
import { systemCaller, type Caller } from '../access/caller.js';
import { systemAudit } from '../audit/system-audit.js';

/**
 * The vault acting on a certificate on its own behalf (lifetime actions, scheduled purge,
 * issuance off the request path): a caller whose change commits its own audit record, as the
 * system principal. `requestUri` names the pass that did it.
 */
export function certificateSystemCaller(vault: VaultRecord, operationName: string, objectName: string, requestUri = 'scheduled-certificate-lifetime'): Caller {
  const base = systemCaller(vault.tenantId, operationName);
  const audit = systemAudit(operationName, { correlationId: base.correlationId, ip: base.ip, requestUri, agent: 'keyledger-vault scheduler', tenantId: vault.tenantId });
  audit.operationVersion = 'scheduler';
  audit.identity = { oid: 'system', appid: 'keyledger-vault', tid: vault.tenantId };
  audit.tenant = vault.tenantId;
  audit.vault = vault.nameKey;
  audit.containerPath = scopeOf(vault);
  audit.collection = 'certificates';
  audit.objectName = objectName;
  return { ...base, audit };
}
