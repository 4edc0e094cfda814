export { AuditedOperationGate, identityOf, type Admission, type ContainerFacts, type GateOutcome, type GatePorts, type GateRequest, type RbacDecision } from './audited-operation.gate.js';
export { GateError, GateErrorCode } from './gate.errors.js';
export { assertStorable, MAX_INPUT_DEPTH, unstorableIn } from './input-hygiene.js';
export { OperationAudit, type RequestFacts } from './operation-audit.js';
export type { Collection, OperationDeclaration } from './operation.js';
export { AZURE_VAULT_LIMITS, parseThrottleLimits, RequestThrottle, THROTTLE_WINDOW_MS, throttleClassOf, type ThrottleClass, type ThrottleLimits } from './request-throttle.js';
export { LoadShedder, loadShedderFor, type LoadLimits, type SlotRelease } from './load-shedder.js';
