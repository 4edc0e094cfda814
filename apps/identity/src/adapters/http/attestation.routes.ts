import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SignJWT } from 'jose';
import type { TokenVerifier } from '#libs/auth';
import type { AuditSink } from '#libs/eventstore';
import { AuditedOperationGate, GateError, GateErrorCode, type OperationDeclaration } from '#libs/gate';
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
  readonly audit: AuditSink;
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

  // Issuing an attestation token is an operation of the one gate: any verified caller of the
  // tenant, exactly one durable record (or 503 and no token).
  const unauthorized = (): AttestationError => new AttestationError(401, 'Unauthorized', 'A valid access token for the identity service is required.');
  const gate = new AuditedOperationGate<never>({
    source: 'identity',
    resolve: async () => undefined,
    describe: () => ({ name: '', tenantId: '', scope: '/' }),
    ready: () => true,
    authenticate: async (authorization) => {
      try {
        return await deps.verifier.verifyAuthorizationHeader(authorization);
      } catch {
        throw unauthorized();
      }
    },
    credentialMissing: unauthorized,
    check: () => ({ allowed: false }),
    administratorAssignment: () => undefined,
    fallbackTenant: () => '',
    audit: deps.audit,
    onAuditFailure: (err, operation) => fastify.log.error({ err: err instanceof Error ? err.message : String(err), operation }, 'audit record of an attestation request could not be made durable'),
  });
  const ISSUE: OperationDeclaration = { name: 'AttestationTokenIssue', kind: 'authenticated' };
  const problemOf = (err: unknown): AttestationError => {
    if (err instanceof AttestationError) return err;
    if (err instanceof GateError && err.code === GateErrorCode.InputRejected) return new AttestationError(400, 'BadRequest', err.message);
    return new AttestationError(500, 'InternalError', 'An internal error occurred.');
  };

  fastify.post<{ Params: { tenant: string }; Body: unknown }>('/attestation/:tenant/token', async (req, reply) => {
    const url = req.url.split('?')[0] ?? req.url;
    const audit = gate.open(ISSUE, { requestId: randomUUID(), correlationId: currentContext()?.correlationId ?? '', callerIp: req.ip, method: req.method, requestUri: url, userAgent: String(req.headers['user-agent'] ?? '') });
    audit.containerPath = url;
    audit.tenant = req.params.tenant;
    const result = await gate.run(
      audit,
      { op: ISSUE, containerName: undefined, origin: '', authorization: req.headers.authorization, inputs: { params: req.params, body: req.body }, operationVersion: () => '1.0' },
      async ({ principal }) => {
        let tenantId: string;
        try {
          tenantId = await tokens.resolveTenant(req.params.tenant);
        } catch {
          throw new AttestationError(404, 'NotFound', 'Unknown tenant.');
        }
        audit.tenant = tenantId;
        if (tenantId !== principal.tenantId) throw new AttestationError(403, 'Forbidden', 'A principal may only request attestation tokens of its own tenant.');
        const body = req.body;
        if (!isRecord(body)) throw new AttestationError(400, 'BadRequest', 'The body must be a JSON object of claims.');
        const reserved = Object.keys(body).find((k) => RESERVED.has(k));
        if (reserved !== undefined) throw new AttestationError(400, 'BadRequest', `The claim '${reserved}' is set by the issuer.`);
        const key = await deps.signingKey();
        const now = Math.floor(Date.now() / 1000);
        return new SignJWT({ ...body, 'x-ms-ver': '1.0', 'x-ms-attestation-type': body['x-ms-attestation-type'] ?? 'keyledger-development' })
          .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', jku: `${attestationIssuer(publicUrl, tenantId)}/certs` })
          .setIssuer(attestationIssuer(publicUrl, tenantId))
          .setIssuedAt(now)
          .setNotBefore(now)
          .setExpirationTime(now + ATTESTATION_LIFETIME_SECONDS)
          .setJti(randomUUID())
          .sign(key.privateKey);
      },
      (err) => {
        const e = problemOf(err);
        if (e.status >= 500) reply.log.error({ err: err instanceof Error ? err.message : String(err) }, 'attestation token request failed');
        return { status: e.status, code: e.code };
      },
    );
    if (result.kind === 'audit-unavailable') return reply.code(503).send({ error: { code: 'ServiceUnavailable', message: 'The audit log is unavailable; no token was issued.' } });
    if (result.kind === 'failed') {
      const e = problemOf(result.error);
      return reply.code(e.status).send({ error: { code: e.code, message: e.message } });
    }
    return reply.header('cache-control', 'no-store').send({ token: result.value });
  });
}
