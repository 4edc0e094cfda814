import type { OperationAudit } from '#libs/gate';
import type { CallContext } from '../keyring/secret-keyring.js';

/** Who is asking, as the pipeline verified it, plus the request's audit record under construction. */
export type Caller = {
  readonly objectId: string;
  readonly tenantId: string;
  readonly appId?: string;
  readonly ip: string;
  readonly correlationId: string;
  readonly requestUri: string;
  readonly operationName: string;
  /** Present for API requests: mutations commit it with their events. */
  readonly audit?: OperationAudit;
};

export function callContextOf(caller: Caller): CallContext {
  return {
    tenantId: caller.tenantId,
    objectId: caller.objectId,
    appId: caller.appId ?? '',
    callerIp: caller.ip,
    correlationId: caller.correlationId,
    requestUri: caller.requestUri,
    operationName: caller.operationName,
  };
}

/** Work the service does on its own behalf (scheduled purge, bootstrap). */
export function systemCaller(tenantId: string, operationName: string): Caller {
  return {
    objectId: 'system',
    tenantId,
    appId: 'keyledger-vault',
    ip: '127.0.0.1',
    correlationId: `system-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`,
    requestUri: 'system',
    operationName,
  };
}
