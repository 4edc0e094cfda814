import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { newAuditRecord } from '#libs/contracts';
import type { AuditWriter } from '#libs/eventstore';
import { currentContext } from '#libs/platform';
import { AadError } from '../../application/aad-error.js';
import { FailedAuthThrottle } from '../../application/failed-auth.throttle.js';
import type { SignInService, UserTokens } from '../../application/sign-in.service.js';
import type { IssuedToken, TokenService } from '../../application/token.service.js';

type Form = Record<string, string | undefined>;

const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer';
const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** MSAL sends the short name Entra ID also accepts. */
const isDeviceCodeGrant = (g: string): boolean => g === DEVICE_CODE_GRANT || g === 'device_code';

/** application/x-www-form-urlencoded → a flat record; repeated keys keep the first value. */
export function registerFormParser(fastify: FastifyInstance): void {
  fastify.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 64 * 1024 }, (_req, body, done) => {
    const out: Form = {};
    for (const [k, v] of new URLSearchParams(body as string)) if (!(k in out)) out[k] = v;
    done(null, out);
  });
}

/**
 * The endpoints `@azure/identity` (MSAL) calls: OIDC discovery, JWKS, the v2 token
 * endpoint (client secret and client assertion), and both managed-identity shapes.
 * Every token request, issued or refused, leaves one audit record before the answer.
 */
export function registerTokenRoutes(fastify: FastifyInstance, tokens: TokenService, signIn: SignInService, audit: AuditWriter, publicUrl: string, jwks: () => Promise<unknown>, failures: FailedAuthThrottle = new FailedAuthThrottle()): void {
  fastify.get<{ Params: { tenant: string } }>('/:tenant/v2.0/.well-known/openid-configuration', async (req, reply) => {
    let tenantId: string;
    try {
      tenantId = await tokens.resolveTenant(req.params.tenant);
    } catch (err) {
      return sendAadError(reply, err);
    }
    const base = `${publicUrl}/${tenantId}`;
    return reply.header('cache-control', 'max-age=3600').send({
      issuer: tokens.issuer(tenantId),
      authorization_endpoint: `${base}/oauth2/v2.0/authorize`,
      token_endpoint: `${base}/oauth2/v2.0/token`,
      device_authorization_endpoint: `${base}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${base}/oauth2/v2.0/logout`,
      jwks_uri: `${base}/discovery/v2.0/keys`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['ES256', 'RS256'],
      response_modes_supported: ['query', 'fragment'],
      code_challenge_methods_supported: ['S256'],
      grant_types_supported: ['client_credentials', 'authorization_code', 'refresh_token', DEVICE_CODE_GRANT],
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'nbf', 'oid', 'tid', 'appid', 'idtyp', 'preferred_username', 'name', 'nonce', 'upn', 'scp'],
      tenant_region_scope: 'NA',
      cloud_instance_name: new URL(publicUrl).host,
      msgraph_host: 'graph.invalid',
    });
  });

  const keys = async (_req: FastifyRequest, reply: FastifyReply) => reply.header('cache-control', 'max-age=300').send(await jwks());
  fastify.get('/:tenant/discovery/v2.0/keys', keys);
  fastify.get('/discovery/keys', keys);

  fastify.post<{ Params: { tenant: string }; Body: Form | undefined }>('/:tenant/oauth2/v2.0/token', async (req, reply) => {
    const started = performance.now();
    const form = isForm(req.body) ? req.body : undefined;
    let issued: IssuedToken | undefined;
    let tenantId: string | undefined;
    try {
      if (!form) throw new AadError(400, 'invalid_request', 900144, "The request body must be application/x-www-form-urlencoded and contain the 'grant_type' parameter.", 'BodyMalformed');
      const grant = form.grant_type;
      if (!grant) throw new AadError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'grant_type'.", 'GrantTypeMissing');
      if (grant === 'authorization_code' || isDeviceCodeGrant(grant) || grant === 'refresh_token') {
        tenantId = await tokens.resolveTenant(req.params.tenant);
        const t: UserTokens =
          grant === 'authorization_code' ? await signIn.redeemCode(tenantId, form) : isDeviceCodeGrant(grant) ? await signIn.pollDevice(tenantId, form) : await signIn.refresh(tenantId, form);
        issued = t.issued;
        await auditToken(audit, req, started, 200, tenantId, issued, form.client_id, undefined, grant);
        return reply
          .header('cache-control', 'no-store, no-cache')
          .header('pragma', 'no-cache')
          .send({
            token_type: 'Bearer',
            scope: t.scope,
            expires_in: issued.expiresIn,
            ext_expires_in: issued.expiresIn,
            access_token: issued.accessToken,
            ...(t.refreshToken ? { refresh_token: t.refreshToken } : {}),
            ...(t.idToken ? { id_token: t.idToken } : {}),
            client_info: t.clientInfo,
          });
      }
      if (grant !== 'client_credentials') {
        throw new AadError(400, 'unsupported_grant_type', 70003, `The app requested an unsupported grant type '${grant.slice(0, 64)}'.`, 'GrantTypeUnsupported');
      }
      const clientId = (form.client_id ?? '').toLowerCase();
      if (!clientId) throw new AadError(400, 'invalid_request', 900144, "The request body must contain the following parameter: 'client_id'.", 'ClientIdMissing');
      tenantId = await tokens.resolveTenant(req.params.tenant);
      const client = `${tenantId}/${clientId}`;
      const wait = failures.retryAfter(client, req.ip);
      if (wait !== undefined) {
        throw new AadError(429, 'temporarily_unavailable', 50196, `Too many failed client authentications for this client or from this address. Retry after ${wait} seconds.`, 'FailedAuthThrottled', { 'retry-after': String(wait) });
      }
      const resource = tokens.resourceFromScope(form.scope);
      if (form.client_assertion) {
        if (form.client_assertion_type !== JWT_BEARER) {
          throw new AadError(400, 'invalid_request', 50027, `client_assertion_type must be ${JWT_BEARER}.`, 'AssertionTypeInvalid');
        }
        issued = await tokens.withClientAssertion(req.params.tenant, tenantId, clientId, form.client_assertion, resource);
      } else if (form.client_secret !== undefined) {
        issued = await tokens.withClientSecret(tenantId, clientId, form.client_secret, resource);
      } else {
        throw new AadError(401, 'invalid_client', 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.", 'CredentialMissing');
      }
      // `claims` (CAE, xms_cc) is accepted and ignored: tokens here carry no revocable sessions.
      await auditToken(audit, req, started, 200, tenantId, issued, form.client_id, undefined);
      return reply
        .header('cache-control', 'no-store, no-cache')
        .header('pragma', 'no-cache')
        .send({ token_type: 'Bearer', expires_in: issued.expiresIn, ext_expires_in: issued.expiresIn, access_token: issued.accessToken });
    } catch (err) {
      const e = err instanceof AadError ? err : undefined;
      // A refused client authentication (wrong secret or assertion, unknown client) counts against its budgets.
      if (e && tenantId && form?.client_id && (e.error === 'invalid_client' || e.error === 'unauthorized_client')) failures.fail(`${tenantId}/${form.client_id.toLowerCase()}`, req.ip);
      try {
        await auditToken(audit, req, started, e?.status ?? 500, tenantId ?? req.params.tenant, undefined, form?.client_id, e?.reason ?? 'InternalError', form?.grant_type);
      } catch {
        return reply.code(503).send({ error: 'temporarily_unavailable', error_description: 'The audit log is unavailable; no token was issued.', error_codes: [90033] });
      }
      return sendAadError(reply, err);
    }
  });

  // App Service / Functions shape: IDENTITY_ENDPOINT + X-IDENTITY-HEADER.
  fastify.get<{ Querystring: Record<string, string | undefined> }>('/msi/token', async (req, reply) => {
    const started = performance.now();
    const header = req.headers['x-identity-header'];
    try {
      if (typeof header !== 'string' || header.length === 0) throw new AadError(400, 'invalid_request', 700016, 'The X-IDENTITY-HEADER header is required.', 'IdentityHeaderMissing');
      const resource = req.query.resource;
      if (!resource) throw new AadError(400, 'invalid_request', 900144, "The 'resource' query parameter is required.", 'ResourceMissing');
      const issued = await tokens.forManagedIdentityHeader(header, resource);
      await auditToken(audit, req, started, 200, issued.principal.tenant_id, issued, issued.principal.app_id, undefined);
      return reply.header('cache-control', 'no-store').send({
        access_token: issued.accessToken,
        expires_on: String(issued.expiresOn),
        resource: issued.resource,
        token_type: 'Bearer',
        client_id: issued.principal.app_id,
      });
    } catch (err) {
      return failManagedIdentity(audit, req, reply, started, err);
    }
  });

  // IMDS shape: /metadata/identity/oauth2/token[/] with `Metadata: true`.
  const imds = async (req: FastifyRequest<{ Querystring: Record<string, string | undefined> }>, reply: FastifyReply) => {
    const started = performance.now();
    try {
      if (String(req.headers.metadata).toLowerCase() !== 'true') throw new AadError(400, 'invalid_request', 700016, 'Required metadata header not specified', 'MetadataHeaderMissing');
      const resource = req.query.resource;
      if (!resource) throw new AadError(400, 'invalid_request', 900144, "The 'resource' query parameter is required.", 'ResourceMissing');
      const issued = await tokens.forManagedIdentityOnHost(req.ip, resource, {
        ...(req.query.client_id ? { clientId: req.query.client_id } : {}),
        ...(req.query.object_id ? { objectId: req.query.object_id } : {}),
      });
      await auditToken(audit, req, started, 200, issued.principal.tenant_id, issued, issued.principal.app_id, undefined);
      return reply.header('cache-control', 'no-store').send({
        access_token: issued.accessToken,
        refresh_token: '',
        expires_in: String(issued.expiresIn),
        expires_on: String(issued.expiresOn),
        ext_expires_in: String(issued.expiresIn),
        not_before: String(issued.notBefore),
        resource: issued.resource,
        token_type: 'Bearer',
        client_id: issued.principal.app_id,
      });
    } catch (err) {
      return failManagedIdentity(audit, req, reply, started, err);
    }
  };
  fastify.get('/metadata/identity/oauth2/token', imds);
  fastify.get('/metadata/identity/oauth2/token/', imds);
}

function isForm(body: unknown): body is Form {
  return typeof body === 'object' && body !== null && !Array.isArray(body) && !Buffer.isBuffer(body);
}

async function failManagedIdentity(audit: AuditWriter, req: FastifyRequest, reply: FastifyReply, started: number, err: unknown): Promise<FastifyReply> {
  const e = err instanceof AadError ? err : undefined;
  try {
    await auditToken(audit, req, started, e?.status ?? 500, 'unknown', undefined, undefined, e?.reason ?? 'InternalError');
  } catch {
    return reply.code(503).send({ error: 'temporarily_unavailable', error_description: 'The audit log is unavailable; no token was issued.' });
  }
  return sendAadError(reply, err);
}

function sendAadError(reply: FastifyReply, err: unknown): FastifyReply {
  const ctx = currentContext();
  if (err instanceof AadError) return reply.code(err.status).headers(err.headers).send(err.body(ctx?.correlationId ?? '', ctx?.requestId ?? ''));
  reply.log.error({ err: err instanceof Error ? err.message : String(err) }, 'token request failed');
  return reply.code(500).send({ error: 'server_error', error_description: 'An internal error occurred.', error_codes: [90000] });
}

function auditToken(
  audit: AuditWriter,
  req: FastifyRequest,
  started: number,
  status: number,
  tenant: string,
  issued: IssuedToken | undefined,
  clientId: string | undefined,
  reason: string | undefined,
  grant?: string,
): Promise<void> {
  const grantType = grant && /^[a-z_:.-]{1,64}$/.test(grant) ? grant : undefined;
  const ctx = currentContext();
  const url = req.url.split('?')[0] ?? req.url;
  return audit.write(
    newAuditRecord({
      tenant,
      source: 'identity',
      resourceId: url,
      operationName: 'Authentication',
      operationVersion: '2.0',
      resultType: status === 200 ? 'Success' : 'Failure',
      resultSignature: String(status),
      ...(reason ? { resultDescription: reason } : {}),
      durationMs: Math.round(performance.now() - started),
      callerIpAddress: req.ip,
      correlationId: ctx?.correlationId ?? '',
      identity: issued
        ? { oid: issued.principal.object_id, appid: issued.clientId ?? issued.principal.app_id, tid: issued.principal.tenant_id, idtyp: issued.principal.kind === 'user' ? 'user' : 'app' }
        : clientId && /^[0-9a-fA-F-]{36}$/.test(clientId)
          ? { appid: clientId.toLowerCase() }
          : {},
      properties: {
        requestUri: url,
        httpMethod: req.method,
        ...(reason ? { errorCode: reason } : {}),
        ...(issued || grantType ? { extra: { ...(issued ? { resource: issued.resource } : {}), ...(grantType ? { grantType } : {}) } } : {}),
        ...(req.headers['user-agent'] ? { clientInfo: String(req.headers['user-agent']).slice(0, 200) } : {}),
      },
    }),
  );
}
