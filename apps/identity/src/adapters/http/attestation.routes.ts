import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SignJWT } from 'jose';
import type { TokenVerifier } from '#libs/auth';
import { newAuditRecord } from '#libs/contracts';
import type { AuditWriter } from '#libs/eventstore';
import { currentContext } from '#libs/platform';
import type { SigningKey } from '../../application/signing-keys.service.js';
import type { TokenService } from '../../application/token.service.js';

/** Lifetime of a development attestation token, seconds (Azure MAA issues 8 h; tests need minutes). */
const ATTESTATION_LIFETIME_SECONDS = 600;

/** Claims the issuer sets itself and a caller may not choose. */
const RESERVED = new Set(['iss', 'iat', 'nbf', 'exp', 'jti']);

export type AttestationDeps = {
  readonly tokens: TokenService;
  readonly verifier: TokenVerifier;
  readonly audit: AuditWriter;
  readonly publicUrl: string;
  readonly signingKey: () => Promise<SigningKey>;
  readonly jwks: () => Promise<unknown>;
};

/** The development attestation authority of a tenant: `{IDENTITY_PUBLIC_URL}/attestation/{tenantId}`. */
export const attestationIssuer = (publicUrl: string, tenantId: string): string => `${publicUrl}/attestation/${tenantId}`;

class AttestationError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);

/**
 * A development attestation authority, in the shape of Azure Attestation (MAA): OIDC metadata
 * and a JWKS (identity's own ES256 signing keys), and a token endpoint that signs the claims an
 * authenticated principal asks for — in a real deployment a TEE's evidence would be verified
 * first; here the caller (a test, a development enclave) states them. The attested public key
 * travels as MAA puts it: `x-ms-runtime.keys`, a JWKS. Not for production trust: a vault trusts
 * this authority only as configured (`VAULT_ATTESTATION_ISSUERS`). Each token request leaves one
 * audit record (`AttestationTokenIssue`), never the token or the claims.
 */
export function registerAttestationRoutes(fastify: FastifyInstance, deps: AttestationDeps): void {
  const { tokens, publicUrl } = deps;

  fastify.get<{ Params: { tenant: string } }>('/attestation/:tenant/.well-known/openid-configuration', async (req, reply) => {
    let tenantId: string;
    try {
      tenantId = await tokens.resolveTenant(req.params.tenant);
    } catch {
      return reply.code(404).send({ error: { code: 'NotFound', message: 'Unknown tenant.' } });
    }
    const issuer = attestationIssuer(publicUrl, tenantId);
    return reply.header('cache-control', 'max-age=3600').send({
      issuer,
      jwks_uri: `${issuer}/certs`,
      claims_supported: ['x-ms-runtime', 'x-ms-attestation-type', 'x-ms-ver', 'iss', 'iat', 'nbf', 'exp', 'jti'],
      id_token_signing_alg_values_supported: ['ES256'],
      response_types_supported: ['token'],
      revocation_endpoint: `${issuer}/revoke`,
    });
  });

  fastify.get('/attestation/:tenant/certs', async (_req: FastifyRequest, reply: FastifyReply) => reply.header('cache-control', 'max-age=300').send(await deps.jwks()));

  fastify.post<{ Params: { tenant: string }; Body: unknown }>('/attestation/:tenant/token', async (req, reply) => {
    const started = performance.now();
    let tenantId = req.params.tenant;
    let caller: { oid: string; appid?: string; tid: string } | undefined;
    let status = 200;
    let code: string | undefined;
    let token: string | undefined;
    try {
      let principal;
      try {
        principal = await deps.verifier.verifyAuthorizationHeader(req.headers.authorization);
      } catch {
        throw new AttestationError(401, 'Unauthorized', 'A valid access token for the identity service is required.');
      }
      caller = { oid: principal.objectId, tid: principal.tenantId, ...(principal.appId ? { appid: principal.appId } : {}) };
      try {
        tenantId = await tokens.resolveTenant(req.params.tenant);
      } catch {
        throw new AttestationError(404, 'NotFound', 'Unknown tenant.');
      }
      if (tenantId !== principal.tenantId) throw new AttestationError(403, 'Forbidden', 'A principal may only request attestation tokens of its own tenant.');
      const body = req.body;
      if (!isRecord(body)) throw new AttestationError(400, 'BadRequest', 'The body must be a JSON object of claims.');
      const reserved = Object.keys(body).find((k) => RESERVED.has(k));
      if (reserved !== undefined) throw new AttestationError(400, 'BadRequest', `The claim '${reserved}' is set by the issuer.`);
      const key = await deps.signingKey();
      const now = Math.floor(Date.now() / 1000);
      token = await new SignJWT({ ...body, 'x-ms-ver': '1.0', 'x-ms-attestation-type': body['x-ms-attestation-type'] ?? 'keyledger-development' })
        .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', jku: `${attestationIssuer(publicUrl, tenantId)}/certs` })
        .setIssuer(attestationIssuer(publicUrl, tenantId))
        .setIssuedAt(now)
        .setNotBefore(now)
        .setExpirationTime(now + ATTESTATION_LIFETIME_SECONDS)
        .setJti(randomUUID())
        .sign(key.privateKey);
    } catch (err) {
      const e = err instanceof AttestationError ? err : new AttestationError(500, 'InternalError', 'An internal error occurred.');
      if (!(err instanceof AttestationError)) reply.log.error({ err: err instanceof Error ? err.message : String(err) }, 'attestation token request failed');
      status = e.status;
      code = e.code;
      token = undefined;
      try {
        await record(deps.audit, req, started, status, tenantId, caller, code);
      } catch {
        return reply.code(503).send({ error: { code: 'ServiceUnavailable', message: 'The audit log is unavailable; no token was issued.' } });
      }
      return reply.code(status).send({ error: { code: e.code, message: e.message } });
    }
    try {
      await record(deps.audit, req, started, 200, tenantId, caller, undefined);
    } catch {
      return reply.code(503).send({ error: { code: 'ServiceUnavailable', message: 'The audit log is unavailable; no token was issued.' } });
    }
    return reply.header('cache-control', 'no-store').send({ token });
  });
}

function record(audit: AuditWriter, req: FastifyRequest, started: number, status: number, tenant: string, caller: { oid: string; appid?: string; tid: string } | undefined, code: string | undefined): Promise<void> {
  const ctx = currentContext();
  const url = req.url.split('?')[0] ?? req.url;
  return audit.write(
    newAuditRecord({
      tenant,
      source: 'identity',
      resourceId: url,
      operationName: 'AttestationTokenIssue',
      operationVersion: '1.0',
      resultType: status === 200 ? 'Success' : 'Failure',
      resultSignature: String(status),
      ...(code ? { resultDescription: code } : {}),
      durationMs: Math.round(performance.now() - started),
      callerIpAddress: req.ip,
      correlationId: ctx?.correlationId ?? '',
      identity: caller ? { oid: caller.oid, tid: caller.tid, ...(caller.appid ? { appid: caller.appid } : {}) } : {},
      properties: { requestUri: url, httpMethod: req.method, ...(code ? { errorCode: code } : {}) },
    }),
  );
}
