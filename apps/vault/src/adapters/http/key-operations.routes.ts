import type { FastifyRequest } from 'fastify';
import { KeyDataActions, ManagedHsmAdminDataActions } from '#libs/auth';
import { CryptoError, CryptoErrorCode, type CryptoClient, type KeyOperationRequest, type KeyOperationResponse } from '#libs/crypto-client';
import type { AccessControl } from '../../application/access/access-control.js';
import { callContextOf } from '../../application/access/caller.js';
import type { KeysService } from '../../application/keys/keys.service.js';
import { assertKeyName, assertKeyVersion, auditableAlgorithm, parseKeyOperation, parseRandomBytesCount, type KeyOperationName } from '../../domain/key/key-operation.rules.js';
import { badParameter } from '../../domain/vault.errors.js';
import type { ContainerKind } from '../../domain/vault/vault.events.js';
import { cryptoVaultOf, type VaultRecord } from '../persistence/vaults.repository.js';
import { HttpProblem } from './azure-errors.js';
import { keyProblem } from './keys.routes.js';
import { dataPlane, type ApiPipeline, type OperationSpec } from './request-pipeline.js';

/** The kind of container a host serves: a key vault, or a Managed HSM pool (the domain's type). */
export type { ContainerKind };

export type KeyOperationRoutesDeps = {
  readonly crypto: CryptoClient;
  /** The vault's key metadata: which version a request means (the vault's latest, not crypto's). */
  readonly keys: KeysService;
  /** RBAC for the Managed HSM-only `/rng` (checked by the handler: in a vault that path does not exist). */
  readonly access?: AccessControl;
  /** Which kind of container a resolved host is. Until pools exist every container is a vault. */
  readonly containerKind?: (container: VaultRecord) => ContainerKind;
};

type Operation = {
  readonly name: KeyOperationName;
  /** The path segment (Azure's lower-case `wrapkey`/`unwrapkey`). */
  readonly segment: string;
  readonly spec: OperationSpec;
  readonly call: (crypto: CryptoClient, request: KeyOperationRequest) => Promise<KeyOperationResponse>;
};

const spec = (name: string, action: string): OperationSpec => ({
  name,
  kind: 'data',
  action,
  collection: 'keys',
  nameParam: 'name',
  versionParam: 'version',
  validate: (n, v) => {
    if (n !== undefined) assertKeyName(n);
    if (v !== undefined) assertKeyVersion(v);
  },
});

/** One OperationSpec per operation: Azure's audit operationName and the RBAC data action. */
const OPERATIONS: readonly Operation[] = [
  { name: 'encrypt', segment: 'encrypt', spec: spec('KeyEncrypt', KeyDataActions.encrypt), call: (c, r) => c.encrypt(r) },
  { name: 'decrypt', segment: 'decrypt', spec: spec('KeyDecrypt', KeyDataActions.decrypt), call: (c, r) => c.decrypt(r) },
  { name: 'wrapKey', segment: 'wrapkey', spec: spec('KeyWrap', KeyDataActions.wrapKey), call: (c, r) => c.wrapKey(r) },
  { name: 'unwrapKey', segment: 'unwrapkey', spec: spec('KeyUnwrap', KeyDataActions.unwrapKey), call: (c, r) => c.unwrapKey(r) },
  { name: 'sign', segment: 'sign', spec: spec('KeySign', KeyDataActions.sign), call: (c, r) => c.sign(r) },
  { name: 'verify', segment: 'verify', spec: spec('KeyVerify', KeyDataActions.verify), call: (c, r) => c.verify(r) },
];

/** `POST /rng`: Managed HSM only; the handler checks the container kind and RBAC. */
const RANDOM_BYTES: OperationSpec = { name: 'RandomBytesGet', kind: 'data' };

/** The pipeline's own answer for a path no route serves. */
const notFound = (): HttpProblem => new HttpProblem(404, 'NotFound', 'The requested resource was not found.');

const KEY_NOT_FOUND_HELP =
  'was not found in this key vault. If you recently deleted this key you may be able to recover it using the correct recovery command. For help resolving this issue, please see https://go.microsoft.com/fwlink/?linkid=2125182';

/**
 * A refused key operation in Azure's words. Sources: 403 `Forbidden` with inner
 * `KeyOperationForbidden` "Operation decrypt is not permitted on this key." and inner
 * `KeyDisabled` "Operation X is not allowed on a disabled key." (answers recorded from Azure in
 * public SDK issues); 400 `BadParameter` "Key and signing algorithm are incompatible. Key {kid} …"
 * (idem). Azure's wording for expired / not-yet-valid keys was not found: the same 403 shape
 * with inner `KeyExpired` / `KeyNotYetValid`, by analogy with `SecretExpired`.
 */
export function keyOperationProblem(err: unknown, operation: KeyOperationName | 'release', algorithm: string, kid: string): unknown {
  if (!(err instanceof CryptoError)) return err;
  const op = operation;
  switch (err.code) {
    case CryptoErrorCode.KeyNotFound:
      return new HttpProblem(404, 'KeyNotFound', `A key with (name/id) ${kid} ${KEY_NOT_FOUND_HELP}`);
    case CryptoErrorCode.KeyOperationNotAllowed:
      // The crypto service uses one code for "key_ops lacks it" and "algorithm does not fit the key".
      if (/key_ops/.test(err.message)) return new HttpProblem(403, 'Forbidden', `Operation ${op} is not permitted on this key.`, 'KeyOperationForbidden');
      return new HttpProblem(
        400,
        'BadParameter',
        `Key and ${op === 'sign' || op === 'verify' ? 'signing' : 'encryption'} algorithm are incompatible. Key ${kid} cannot be used with algorithm '${algorithm}'${reasonOf(err.message)}.`,
      );
    case CryptoErrorCode.KeyDisabled:
      return new HttpProblem(403, 'Forbidden', `Operation ${op} is not allowed on a disabled key.`, 'KeyDisabled');
    case CryptoErrorCode.KeyExpired:
      return new HttpProblem(403, 'Forbidden', `Operation ${op} is not allowed on an expired key.`, 'KeyExpired');
    case CryptoErrorCode.KeyNotYetValid:
      return new HttpProblem(403, 'Forbidden', `Operation ${op} is not allowed on a key that is not yet valid.`, 'KeyNotYetValid');
    case CryptoErrorCode.BadParameter:
      return new HttpProblem(400, 'BadParameter', `The ${op} request is not valid for this key: ${err.message}.`);
    case CryptoErrorCode.CiphertextInvalid:
      return new HttpProblem(400, 'BadParameter', `The value could not be ${op === 'unwrapKey' ? 'unwrapped' : 'decrypted'} with this key and algorithm ${algorithm}.`);
    case CryptoErrorCode.NotSupported:
      return new HttpProblem(400, 'BadParameter', `Operation ${op} with algorithm ${algorithm} is not supported by this service: ${err.message}.`, 'NotSupported');
    case CryptoErrorCode.Sealed:
    case CryptoErrorCode.AuditUnavailable:
    case CryptoErrorCode.Unavailable:
      return new HttpProblem(503, 'ServiceUnavailable', 'The key custody service is unavailable. Retry later.');
    default:
      return new HttpProblem(500, 'InternalServerError', 'The server encountered an internal error.');
  }
}

/** The crypto service's reason after "cannot be used with this key: " (names kty/curve/size only). */
function reasonOf(message: string): string {
  const i = message.indexOf('cannot be used with this key: ');
  if (i >= 0) return `: ${message.slice(i + 'cannot be used with this key: '.length)}`;
  const needs = /needs an? [A-Za-z-]+ key/.exec(message);
  return needs ? `: it ${needs[0]}` : '';
}

const b64u = (b: Buffer): string => b.toString('base64url');

/**
 * Azure's cryptographic operations on keys (`POST /keys/{name}/{version}/encrypt|decrypt|
 * wrapkey|unwrapkey|sign|verify`; an empty version — `/keys/{name}//sign` — is the latest) and
 * the Managed HSM `POST /rng`. The crypto service does the cryptography and enforces key type,
 * key_ops, enabled, nbf and exp; the answer's `kid` names the version that did the work.
 * Plaintexts, digests, signatures and ciphertexts go nowhere but the crypto call and the answer.
 */
/** The key and version (`''` = latest) a `/keys/{name}/{version}/…` operation names, checked. */
export function keyOperationTarget(req: FastifyRequest): { readonly name: string; readonly requested: string } {
  const params = req.params as { name?: string; version?: string };
  const name = params.name ?? '';
  if (name === '') throw badParameter('The request URI contains an empty key name.', { reason: 'InvalidName' });
  assertKeyName(name);
  return { name, requested: assertKeyVersion(params.version ?? '') };
}

export function registerKeyOperationRoutes(api: ApiPipeline, deps: KeyOperationRoutesDeps): void {
  const { crypto } = deps;

  for (const operation of OPERATIONS) {
    const handler = async (req: FastifyRequest) => {
      const { st, vault, caller } = dataPlane(req);
      const { name, requested } = keyOperationTarget(req);
      const algorithm = auditableAlgorithm((req.body as { alg?: unknown } | undefined)?.alg);
      if (algorithm) st.audit.algorithm = algorithm;
      const input = parseKeyOperation(operation.name, req.body);
      // The version the vault knows (its latest for an empty segment): crypto may hold a newer
      // one the vault never recorded. A missing or deleted key is KeyNotFound before crypto is asked.
      const target = await deps.keys.resolveVersion(vault, name, requested || null).catch((err: unknown) => {
        input.value.fill(0);
        throw keyProblem(err, st.origin, name);
      });
      const request: KeyOperationRequest = {
        ctx: callContextOf(caller),
        ref: { tenant: vault.tenantId, vault: cryptoVaultOf(vault), collection: 'keys', name: target.name, version: target.version },
        algorithm: input.algorithm,
        value: input.value,
        ...(input.iv ? { iv: input.iv } : {}),
        ...(input.aad ? { aad: input.aad } : {}),
        ...(input.tag ? { tag: input.tag } : {}),
        ...(input.signature ? { signature: input.signature } : {}),
      };
      let res: KeyOperationResponse;
      try {
        res = await operation.call(crypto, request);
      } catch (err) {
        throw keyOperationProblem(err, operation.name, input.algorithm, `${st.origin}/keys/${target.name}/${target.version}`);
      } finally {
        input.value.fill(0);
      }
      const kid = `${st.origin}/keys/${target.name}/${res.kidVersion}`;
      st.audit.objectVersion = res.kidVersion;
      st.audit.objectId = kid;
      if (operation.name === 'verify') return { value: res.valid };
      const answer = {
        kid,
        value: b64u(res.result),
        ...(res.iv.length > 0 ? { iv: b64u(res.iv) } : {}),
        ...(res.tag.length > 0 ? { tag: b64u(res.tag) } : {}),
        ...(res.aad.length > 0 ? { aad: b64u(res.aad) } : {}),
      };
      res.result.fill(0);
      return answer;
    };
    api.route('POST', `/keys/:name/:version/${operation.segment}`, operation.spec, handler);
  }

  api.route('POST', '/rng', RANDOM_BYTES, async (req: FastifyRequest) => {
    const { st, vault, caller } = dataPlane(req);
    // Azure serves GetRandomBytes on Managed HSM pools only: a vault has no such path.
    if ((deps.containerKind?.(vault) ?? 'vault') !== 'managedHsm') throw notFound();
    const count = parseRandomBytesCount(req.body);
    const resource = `/managedHSMs/${vault.nameKey}`;
    const decision = deps.access?.check(caller.objectId, ManagedHsmAdminDataActions.rng, resource);
    st.audit.isRbacAuthorized = true;
    if (decision?.assignmentId) st.audit.appliedAssignmentId = decision.assignmentId;
    if (!decision?.allowed) {
      throw new HttpProblem(403, 'Forbidden', `Caller is not authorized to perform action on resource.\r\nAction: '${ManagedHsmAdminDataActions.rng}'\r\nResource: '${resource}'\r\n`, 'ForbiddenByRbac');
    }
    const { value } = await crypto.getRandomBytes({ ctx: callContextOf(caller), count }).catch((err: unknown) => {
      throw err instanceof CryptoError && err.retryable ? new HttpProblem(503, 'ServiceUnavailable', 'The key custody service is unavailable. Retry later.') : err;
    });
    return { value: b64u(value) };
  });
}
