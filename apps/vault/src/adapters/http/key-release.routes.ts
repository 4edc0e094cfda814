import { createPublicKey, type JsonWebKey } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { KeyDataActions } from '#libs/auth';
import type { CryptoClient } from '#libs/crypto-client';
import { callContextOf } from '../../application/access/caller.js';
import type { KeysService, KeyView } from '../../application/keys/keys.service.js';
import { assertKeyName, assertKeyVersion } from '../../domain/key/key-operation.rules.js';
import { evaluateReleasePolicy } from '../../domain/key/release-policy.evaluator.js';
import { badParameter } from '../../domain/vault.errors.js';
import { AttestationRejected, type Attestation, type AttestationVerifier } from '../attestation/attestation.verifier.js';
import type { ReleaseTokenSigner } from '../attestation/release-token.signer.js';
import { cryptoVaultOf } from '../persistence/vaults.repository.js';
import { HttpProblem } from './azure-errors.js';
import { keyOperationProblem } from './key-operations.routes.js';
import { keyOperationTarget } from './key-operations.routes.js';
import { keyBundleOf, keyProblem } from './keys.routes.js';
import { dataPlane, type ApiPipeline, type OperationSpec } from './request-pipeline.js';

export type KeyReleaseRoutesDeps = {
  readonly crypto: CryptoClient;
  readonly keys: KeysService;
  readonly attestation: AttestationVerifier;
  readonly signer: ReleaseTokenSigner;
  /** Where the operator learns why an attestation was refused (never the token). */
  readonly onRejected?: (reason: string) => void;
};

const RELEASE: OperationSpec = {
  name: 'KeyRelease',
  kind: 'data',
  action: KeyDataActions.release,
  collection: 'keys',
  nameParam: 'name',
  versionParam: 'version',
  validate: (n, v) => {
    if (n !== undefined) assertKeyName(n);
    if (v !== undefined) assertKeyVersion(v);
  },
};

const ENCRYPTIONS = ['CKM_RSA_AES_KEY_WRAP', 'RSA_AES_KEY_WRAP_256', 'RSA_AES_KEY_WRAP_384'] as const;
type Enc = (typeof ENCRYPTIONS)[number];
const MAX_TARGET_CHARS = 64 * 1024;
const MAX_NONCE_CHARS = 1024;

/** Azure's answer to a `target` it cannot verify (recorded: 403 Forbidden, inner AccessDenied). */
const unverifiable = (): HttpProblem => new HttpProblem(403, 'Forbidden', 'Target environment attestation statement cannot be verified.', 'AccessDenied');

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

type ReleaseInput = { readonly target: string; readonly nonce?: string; readonly enc: Enc };

/** KeyReleaseParameters: `target` (required), `nonce`, `enc` (default CKM_RSA_AES_KEY_WRAP). */
export function parseReleaseParameters(body: unknown): ReleaseInput {
  if (!isRecord(body)) throw badParameter('The request body must be a JSON object.', { reason: 'Body' });
  const { target, nonce, enc } = body;
  if (typeof target !== 'string' || target === '') throw badParameter("Property 'target' is required and must be a string.", { reason: 'Target' });
  if (target.length > MAX_TARGET_CHARS) throw badParameter("Property 'target' is too long.", { reason: 'Target' });
  if (nonce !== undefined && nonce !== null && (typeof nonce !== 'string' || nonce.length > MAX_NONCE_CHARS)) throw badParameter("Property 'nonce' must be a string.", { reason: 'Nonce' });
  if (enc !== undefined && enc !== null && !(typeof enc === 'string' && (ENCRYPTIONS as readonly string[]).includes(enc))) {
    throw badParameter(`Property 'enc' must be one of ${ENCRYPTIONS.join(', ')}.`, { reason: 'Enc' });
  }
  return { target, ...(typeof nonce === 'string' ? { nonce } : {}), enc: (typeof enc === 'string' ? enc : 'CKM_RSA_AES_KEY_WRAP') as Enc };
}

/**
 * The attested RSA public key the released key is wrapped for, where Azure Attestation puts it:
 * `x-ms-runtime.keys`, a JWKS (the first RSA key; one marked for encryption preferred).
 */
export function attestedWrappingKey(claims: Readonly<Record<string, unknown>>): { readonly kid: string; readonly spki: Buffer } {
  const runtime = claims['x-ms-runtime'];
  const keys = isRecord(runtime) && Array.isArray(runtime.keys) ? runtime.keys.filter(isRecord) : [];
  const rsa = keys.filter((k) => k.kty === 'RSA');
  const chosen = rsa.find((k) => Array.isArray(k.key_ops) && k.key_ops.includes('encrypt')) ?? rsa[0];
  if (!chosen) throw new HttpProblem(400, 'BadParameter', "The attestation token carries no RSA public key in 'x-ms-runtime.keys' to release the key to.");
  try {
    const key = createPublicKey({ key: { kty: 'RSA', n: chosen.n, e: chosen.e } as JsonWebKey, format: 'jwk' });
    if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) throw new Error('short');
    return { kid: typeof chosen.kid === 'string' ? chosen.kid.slice(0, 200) : '', spki: key.export({ type: 'spki', format: 'der' }) };
  } catch {
    throw new HttpProblem(400, 'BadParameter', "The RSA key in 'x-ms-runtime.keys' of the attestation token is not a usable RSA public key of at least 2048 bits.");
  }
}

function policyDocument(k: KeyView): unknown {
  try {
    return JSON.parse(Buffer.from(k.releasePolicy?.data ?? '', 'base64url').toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * Secure key release (`POST /keys/{name}[/{version}]/release`, Azure's Keys_Release): the
 * `target` attestation token is verified first (signature from a tenant-trusted authority,
 * exp/nbf — else 403 AccessDenied, as Azure answers even for an unknown key); then the key
 * must exist, be exportable with a release policy, enabled and within nbf/exp; the policy is
 * evaluated against the token's claims (403 AccessDenied when unmet); crypto wraps the material
 * for the attested RSA key; the answer is `{value: <JWS release token>}` signed by the vault
 * (see ReleaseTokenSigner). Neither the token, the wrapped key nor the answer goes into a record or a log.
 */
export function registerKeyReleaseRoutes(api: ApiPipeline, deps: KeyReleaseRoutesDeps): void {
  const handler = async (req: FastifyRequest) => {
    const { st, vault, caller } = dataPlane(req);
    const { name, requested } = keyOperationTarget(req);
    const input = parseReleaseParameters(req.body);
    st.audit.algorithm = input.enc;

    let attestation: Attestation;
    try {
      attestation = await deps.attestation.verify(vault.tenantId, input.target);
    } catch (err) {
      if (err instanceof AttestationRejected) {
        deps.onRejected?.(err.message);
        throw unverifiable();
      }
      throw err;
    }

    const key = await deps.keys.get(vault, name, requested || null, caller).catch((err: unknown) => {
      throw keyProblem(err, st.origin, name);
    });
    const kid = `${st.origin}/keys/${key.name}/${key.version}`;
    st.audit.objectVersion = key.version;
    st.audit.objectId = kid;
    if (!key.exportable || key.releasePolicy === null) throw new HttpProblem(400, 'BadParameter', `Key ${kid} is not exportable and cannot be released.`);
    const now = Math.floor(Date.now() / 1000);
    if (!key.enabled) throw new HttpProblem(403, 'Forbidden', 'Operation release is not allowed on a disabled key.', 'KeyDisabled');
    if (key.nbf !== null && now < key.nbf) throw new HttpProblem(403, 'Forbidden', 'Operation release is not allowed on a key that is not yet valid.', 'KeyNotYetValid');
    if (key.exp !== null && now >= key.exp) throw new HttpProblem(403, 'Forbidden', 'Operation release is not allowed on an expired key.', 'KeyExpired');
    const decision = evaluateReleasePolicy(policyDocument(key), attestation.issuer, attestation.claims);
    if (!decision.granted) {
      deps.onRejected?.(decision.reason);
      throw new HttpProblem(403, 'Forbidden', 'Target environment attestation statement cannot be verified against the key release policy.', 'AccessDenied');
    }
    const wrapping = attestedWrappingKey(attestation.claims);

    let wrapped: Buffer;
    try {
      ({ wrapped } = await deps.crypto.releaseKey({
        ctx: callContextOf(caller),
        ref: { tenant: vault.tenantId, vault: cryptoVaultOf(vault), collection: 'keys', name: key.name, version: key.version },
        enc: input.enc,
        targetKey: wrapping.spki,
      }));
    } catch (err) {
      throw keyOperationProblem(err, 'release', input.enc, kid);
    }
    const keyHsm = Buffer.from(
      JSON.stringify({ schema_version: '1.0', header: { kid: wrapping.kid, alg: 'dir', enc: input.enc }, ciphertext: wrapped.toString('base64url'), generator: 'Keyledger' }),
    ).toString('base64url');
    wrapped.fill(0);
    const bundle = keyBundleOf(st, vault, key) as { key: Record<string, unknown> } & Record<string, unknown>;
    const value = await deps.signer.sign({
      request: { 'api-version': st.apiVersion, enc: input.enc, kid, ...(input.nonce !== undefined ? { nonce: input.nonce } : {}) },
      response: { key: { ...bundle, key: { ...bundle.key, key_hsm: keyHsm } } },
    });
    return { value };
  };
  api.route('POST', '/keys/:name/release', RELEASE, handler);
  api.route('POST', '/keys/:name/:version/release', RELEASE, handler);
}
