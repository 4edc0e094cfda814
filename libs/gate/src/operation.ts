/** The collections of a container's data plane. */
export type Collection = 'secrets' | 'keys' | 'certificates';

/**
 * One operation, declared once: what the gate needs to admit a request for it, whatever the
 * transport (REST route, gRPC method). Transports only translate to and from it.
 */
export type OperationDeclaration = {
  /** The audit operationName (Azure's where Azure has one), e.g. `SecretGet`, `KeySign`. */
  readonly name: string;
  /**
   * data: a container's data plane (the container is resolved, the caller authorised for
   * `action` on the object or collection); deployment: an operation on the deployment itself,
   * no container (the caller authorised for `action` at scope "/", e.g. the audit API);
   * admin: Keyledger's administration API (the service decides who administers, e.g. Key
   * Vault Administrator at "/"); authenticated: every verified caller is admitted, the operation checks the
   * rest itself (identity's development attestation authority); fallback: no operation
   * matched (404/405, still audited).
   */
  readonly kind: 'data' | 'deployment' | 'admin' | 'authenticated' | 'fallback';
  /**
   * The RBAC data action (data, deployment); absent when the operation authorises per object
   * itself (batch get). For admin operations: the capability the service's administrator check
   * is asked about (e.g. `roleAssignments/write`), absent for "administers the deployment".
   */
  readonly action?: string;
  readonly collection?: Collection;
  /** Transport parameter naming the object: the RBAC resource is then the object, else the collection. */
  readonly nameParam?: string;
  readonly versionParam?: string;
  /** Checks the object name and version (a DomainError BadParameter) before RBAC, which needs a well-formed resource. */
  readonly validate?: (name: string | undefined, version: string | undefined) => void;
};
