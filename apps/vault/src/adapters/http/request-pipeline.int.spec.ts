import { request } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Fastify, { type FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import pino from 'pino';
import { BuiltInRoleIds, StaticJwksSource, TokenVerifier } from '#libs/auth';
import type { AuditRecord } from '#libs/contracts';
import { AuditUnavailableError } from '#libs/eventstore';
import { AZURE_VAULT_LIMITS, RequestThrottle, type ThrottleClass } from '#libs/gate';
import { startDraining } from '#libs/kernel';
import { AccessControl } from '../../application/access/access-control.js';
import type { VaultsService } from '../../application/vaults/vaults.service.js';
import type { VaultRecord } from '../persistence/vaults.repository.js';
import { secretNotFound } from '../../domain/vault.errors.js';
import { vaultGate } from '../../application/access/vault-gate.js';
import { ApiPipeline, dataPlane, preRoutingOptions, REJECTED_OPERATION } from './request-pipeline.js';
import { TokenAuthenticator } from './token-auth.js';
import { challengeResource, vaultAudiences } from './vault-host.js';

const TENANT = '4eeb1e29-c100-4249-9b4c-7c16d469679f';
const READER = '0b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e01';
const STRANGER = '1b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e02';
const WRITER = '2b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e03';
/** The one caller with a small budget (two secret reads per 10 s): the throttling case. */
const NOISY = '2b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e04';

/** Azure's throttling for NOISY only, so that the other cases never meet a budget. */
class NoisyThrottle extends RequestThrottle {
  override take(container: string, principal: string, cls: ThrottleClass): number | undefined {
    return principal === NOISY ? super.take(container, principal, cls) : undefined;
  }
}
const APP = '5e3f1a2b-7c8d-4e9f-a0b1-c2d3e4f5a6b7';
const AUTHORITY = 'https://id.example.test:9443';
const RESOURCE = 'https://vault.localhost';
/** The vault as reached on port 8443: its challenge names the port, and tokens for either form are valid. */
const AUDIENCES = vaultAudiences('localhost', [8443]);
const issuerOf = (tid: string): string => `${AUTHORITY}/${tid}/v2.0`;

const dev: VaultRecord = {
  kind: 'vault',
  vaultId: 'a4c3b2d1-0000-4000-8000-000000000001',
  name: 'dev',
  nameKey: 'dev',
  tenantId: TENANT,
  retentionDays: 90,
  purgeProtection: false,
  tags: {},
  status: 'active',
  created: 0,
  updated: 0,
  deletedDate: null,
  scheduledPurgeDate: null,
};

type Injected = { statusCode: number; headers: Record<string, string | string[] | undefined>; body: string; json: () => unknown };

/** A plain HTTP round trip on loopback (Fastify's inject needs an ESM-only module Jest cannot load). */
function injector(app: FastifyInstance) {
  return (o: { method: string; url: string; headers?: Record<string, string>; payload?: string }): Promise<Injected> =>
    new Promise((resolve, reject) => {
      const { port } = app.server.address() as AddressInfo;
      const req = request({ host: '127.0.0.1', port, method: o.method, path: o.url, headers: o.headers ?? {} }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          resolve({ statusCode: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) as unknown });
        });
      });
      req.on('error', reject);
      if (o.payload !== undefined) req.write(o.payload);
      req.end();
    });
}

type RawAnswer = { status: number; headers: Record<string, string>; body: string; text: string };

/**
 * Bytes written as they are on a fresh loopback connection (no client-side validation or URL
 * normalisation), read until the server closes it. `status` 0: closed without an answer.
 */
function rawExchange(app: FastifyInstance, bytes: string): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const { port } = app.server.address() as AddressInfo;
    const socket = connect(port, '127.0.0.1', () => socket.write(bytes));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      const end = text.indexOf('\r\n\r\n');
      if (end < 0) return resolve({ status: 0, headers: {}, body: '', text });
      const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
      const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(statusLine ?? '')?.[1] ?? -1), headers, body: text.slice(end + 4), text });
    });
    socket.setTimeout(10_000, () => {
      socket.destroy();
      reject(new Error('no answer and the connection stayed open'));
    });
  });
}

/**
 * The pipeline on Fastify over loopback HTTP, without the stack: stub vault directory and
 * audit writer, real token verification and RBAC.
 */
describe('the vault REST pipeline', () => {
  let app: FastifyInstance;
  let inject: ReturnType<typeof injector>;
  let privateKey: CryptoKey;
  let publicJwk: JWK;
  const records: AuditRecord[] = [];
  let auditFails = false;
  const identityEvents = { ready: true };
  let handled = 0;

  const token = (oid: string, overrides: Record<string, unknown> = {}): Promise<string> => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ tid: TENANT, oid, appid: APP, idtyp: 'app', iss: issuerOf(TENANT), aud: RESOURCE, iat: now, nbf: now, exp: now + 600, ...overrides })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'JWT' })
      .sign(privateKey);
  };

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    privateKey = pair.privateKey;
    publicJwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const access = new AccessControl();
    access.apply('TenantCreated', { tenantId: TENANT, name: 'default', isDefault: true }, '0');
    access.apply('RoleAssignmentCreated', { id: '9f1e2d3c-0000-4000-8000-000000000001', principalId: READER, roleDefinitionId: BuiltInRoleIds.keyVaultSecretsUser, scope: '/vaults/dev' }, '1');
    access.apply('RoleAssignmentCreated', { id: '9f1e2d3c-0000-4000-8000-000000000002', principalId: WRITER, roleDefinitionId: BuiltInRoleIds.keyVaultSecretsOfficer, scope: '/vaults/dev' }, '2');
    access.apply('RoleAssignmentCreated', { id: '9f1e2d3c-0000-4000-8000-000000000003', principalId: NOISY, roleDefinitionId: BuiltInRoleIds.keyVaultSecretsUser, scope: '/vaults/dev' }, '3');
    const verifier = new TokenVerifier({ jwks: new StaticJwksSource({ keys: [publicJwk] }), issuer: issuerOf, audiences: AUDIENCES, tenants: (t) => access.isKnownTenant(t) });
    const auth = new TokenAuthenticator(verifier, (origin) => ({ authority: AUTHORITY, tenantId: access.challengeTenant(), resource: challengeResource(AUDIENCES, origin) }), 100);
    const auditWriter = {
      write: async (r: AuditRecord) => {
        if (auditFails) throw new AuditUnavailableError(new Error('database down'));
        records.push(r);
      },
    };
    const vaults = { resolve: async (name: string) => (name === 'dev' ? dev : undefined) } as unknown as VaultsService;
    const gate = vaultGate({ vaults, access, auditWriter, identityEvents }, auth, pino({ level: 'silent' }), new NoisyThrottle(AZURE_VAULT_LIMITS, { ...AZURE_VAULT_LIMITS, secrets: 2 }));
    const pipeline = new ApiPipeline({
      logger: pino({ level: 'silent' }),
      gate,
      auth,
      vaults,
      domain: 'localhost',
      defaultVault: 'dev',
      publicUrl: '',
      ready: () => true,
      issuerOf,
      bodyLimit: 1024,
    });
    const op = (name: string, action: string) => ({ name, kind: 'data' as const, action, collection: 'secrets' as const, nameParam: 'name' });
    pipeline.route('GET', '/secrets/:name', op('SecretGet', 'Microsoft.KeyVault/vaults/secrets/getSecret/action'), async (req) => {
      handled++;
      const { st } = dataPlane(req);
      const name = (req.params as { name: string }).name;
      if (name === 'missing') throw secretNotFound(name);
      return { value: 'TOPSECRET', id: `${st.origin}/secrets/${name}/v` };
    });
    pipeline.route('PUT', '/secrets/:name', op('SecretSet', 'Microsoft.KeyVault/vaults/secrets/setSecret/action'), async (req) => {
      handled++;
      return { value: (req.body as { value: string }).value };
    });
    const { requireHostHeader, ...rejections } = preRoutingOptions(() => pipeline);
    app = Fastify({ ...rejections, http: { requireHostHeader }, routerOptions: { maxParamLength: 512 } });
    await pipeline.register(app);
    await app.listen({ port: 0, host: '127.0.0.1' });
    inject = injector(app);
  });

  afterAll(() => app.close());

  const lastRecord = (): AuditRecord => records[records.length - 1]!;

  it('answers an anonymous request with 401 and the challenge before reading its body, and audits it once', async () => {
    const before = { handled, records: records.length };
    const res = await inject({ method: 'PUT', url: '/secrets/x?api-version=7.6', headers: { host: 'dev.vault.localhost:8443', 'content-type': 'application/json' }, payload: '{not json' });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer authorization="${AUTHORITY}/${TENANT}", resource="${RESOURCE}:8443"`);
    expect(res.json()).toEqual({ error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token.' } });
    expect(handled).toBe(before.handled);
    expect(records.length).toBe(before.records + 1);
    expect(lastRecord()).toMatchObject({ operationName: 'SecretSet', resultSignature: '401', resultType: 'Failure', id: res.headers['x-ms-request-id'] ?? lastRecord().id });
  });

  it.each([
    ['U+0000 in a tag name (the fuzz finding)', '{"value":"","attributes":{"enabled":false},"contentType":"","tags":{"a\\u0000b":"\\u00cf\\u0013"}}', 'tags (a key)'],
    ['a lone surrogate in the value', '{"value":"x\\ud800"}', 'value'],
    ['U+0000 in the content type', '{"value":"v","contentType":"text\\u0000"}', 'contentType'],
  ])('refuses %s with 400 BadParameter before the handler runs, and records it once', async (_what, payload, where) => {
    const before = { handled, records: records.length };
    const res = await inject({ method: 'PUT', url: '/secrets/stfuzz-1?api-version=7.5', headers: { host: 'dev.vault.localhost:8443', authorization: `Bearer ${await token(WRITER)}`, 'content-type': 'application/json' }, payload });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'BadParameter' } });
    expect((res.json() as { error: { message: string } }).error.message).toContain(where);
    expect(handled).toBe(before.handled);
    expect(records.length).toBe(before.records + 1);
    expect(lastRecord()).toMatchObject({ operationName: 'SecretSet', resultSignature: '400', resultDescription: 'BadParameter' });
  });

  it('refuses U+0000 in a query parameter with 400 BadParameter', async () => {
    const res = await inject({ method: 'GET', url: '/secrets/db?api-version=7.6&maxresults=%00', headers: { host: 'dev.vault.localhost:8443', authorization: `Bearer ${await token(READER)}` } });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ error: { code: 'BadParameter' } });
  });

  it('serves an authorized request and records the RBAC decision', async () => {
    const res = await inject({ method: 'GET', url: '/secrets/db?api-version=7.6', headers: { host: 'dev.vault.localhost:8443', authorization: `Bearer ${await token(READER)}` } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ value: 'TOPSECRET', id: 'https://dev.vault.localhost:8443/secrets/db/v' });
    expect(res.headers['cache-control']).toBe('no-cache');
    const r = lastRecord();
    expect(r).toMatchObject({ operationName: 'SecretGet', operationVersion: '7.6', resultSignature: '200', identity: { oid: READER, appid: APP, tid: TENANT } });
    expect(r.properties).toMatchObject({ isRbacAuthorized: true, appliedAssignmentId: '9f1e2d3c-0000-4000-8000-000000000001', objectName: 'db', vault: 'dev' });
    expect(JSON.stringify(r)).not.toContain('TOPSECRET');
  });

  it('denies what the role does not grant with 403 ForbiddenByRbac before the body is read', async () => {
    const before = handled;
    const res = await inject({
      method: 'PUT',
      url: '/secrets/db?api-version=7.6',
      headers: { host: 'localhost:8443', authorization: `Bearer ${await token(READER)}`, 'content-type': 'application/json' },
      payload: '{broken',
    });
    expect(res.statusCode).toBe(403);
    const body = res.json() as { error: { code: string; message: string; innererror: { code: string } } };
    expect(body.error.code).toBe('Forbidden');
    expect(body.error.innererror.code).toBe('ForbiddenByRbac');
    expect(body.error.message.split('\r\n').slice(0, 5)).toEqual([
      'Caller is not authorized to perform action on resource.',
      'If role assignments, deny assignments or role definitions were changed recently, please observe propagation time.',
      `Caller: appid=${APP};oid=${READER};iss=${issuerOf(TENANT)}`,
      "Action: 'Microsoft.KeyVault/vaults/secrets/setSecret/action'",
      "Resource: '/vaults/dev/secrets/db'",
    ]);
    expect(handled).toBe(before);
    expect(lastRecord().properties.errorCode).toBe('ForbiddenByRbac');
  });

  it('denies a principal without assignments', async () => {
    const res = await inject({ method: 'GET', url: '/secrets/db?api-version=7.6', headers: { host: 'localhost', authorization: `Bearer ${await token(STRANGER)}` } });
    expect(res.statusCode).toBe(403);
  });

  it('checks the api-version (missing, unknown, percent-encoded key)', async () => {
    const auth = { host: 'localhost', authorization: `Bearer ${await token(READER)}` };
    expect((await inject({ method: 'GET', url: '/secrets/db', headers: auth })).statusCode).toBe(400);
    const unknown = await inject({ method: 'GET', url: '/secrets/db?api-version=1.0', headers: auth });
    expect(unknown.json()).toEqual({ error: { code: 'BadParameter', message: 'The specified version (1.0) is not recognized. Consider using the latest supported version (2026-04-01).' } });
    expect((await inject({ method: 'GET', url: '/secrets/db?api%2Dversion=2025-07-01', headers: auth })).statusCode).toBe(200);
  });

  it.each([['7.6-preview.2'], ['2026-03-01-preview'], ['9.9'], ['']])('challenges a request without a token before judging its api-version (%j)', async (version) => {
    const before = { handled, records: records.length };
    const res = await inject({ method: 'GET', url: `/secrets/db${version ? `?api-version=${version}` : ''}`, headers: { host: 'dev.vault.localhost:8443' } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer authorization="${AUTHORITY}/${TENANT}", resource="${RESOURCE}:8443"`);
    expect((res.json() as { error: { code: string } }).error.code).toBe('Unauthorized');
    expect(handled).toBe(before.handled);
    expect(records.length).toBe(before.records + 1);
    expect(lastRecord()).toMatchObject({ operationName: 'SecretGet', resultSignature: '401' });
  });

  it('serves the preview api-versions the Azure CLI sends, once authenticated', async () => {
    const auth = { host: 'dev.vault.localhost:8443', authorization: `Bearer ${await token(READER)}` };
    for (const v of ['7.6-preview.2', '7.4-preview.1', '2026-03-01-preview']) {
      const res = await inject({ method: 'GET', url: `/secrets/db?api-version=${v}`, headers: auth });
      expect([v, res.statusCode]).toEqual([v, 200]);
      expect(lastRecord().operationVersion).toBe(v);
    }
  });

  it.each([
    ['dev.vault.localhost:8443', `${RESOURCE}:8443`],
    ['localhost:8443', `${RESOURCE}:8443`],
    ['dev.vault.localhost', RESOURCE],
    ['dev.vault.localhost:443', RESOURCE],
    // a port the vault does not serve on: no token would be accepted for it, so the challenge does not name it
    ['dev.vault.localhost:9999', RESOURCE],
  ])('names the challenge resource for host %s as %s', async (host, resource) => {
    const res = await inject({ method: 'GET', url: '/secrets/db?api-version=7.6', headers: { host } });
    expect(res.statusCode).toBe(401);
    expect(res.headers['www-authenticate']).toBe(`Bearer authorization="${AUTHORITY}/${TENANT}", resource="${resource}"`);
  });

  it('accepts tokens for the resource with and without the port, and no other port', async () => {
    for (const aud of [RESOURCE, `${RESOURCE}:8443`, `${RESOURCE}:8443/`]) {
      const res = await inject({ method: 'GET', url: '/secrets/db?api-version=7.6', headers: { host: 'dev.vault.localhost:8443', authorization: `Bearer ${await token(READER, { aud })}` } });
      expect([aud, res.statusCode]).toEqual([aud, 200]);
    }
    for (const aud of [`${RESOURCE}:9999`, 'https://vault.localhost.evil:8443', 'https://managedhsm.localhost:8443']) {
      const res = await inject({ method: 'GET', url: '/secrets/db?api-version=7.6', headers: { host: 'dev.vault.localhost:8443', authorization: `Bearer ${await token(READER, { aud })}` } });
      expect([aud, res.statusCode]).toEqual([aud, 401]);
      expect(res.json()).toEqual({ error: { code: 'Unauthorized', message: 'AKV10022: Invalid audience.' } });
      expect(res.headers['www-authenticate']).toContain(`resource="${RESOURCE}:8443"`);
    }
  });

  it('rejects expired tokens with Azure’s message and the challenge', async () => {
    const past = Math.floor(Date.now() / 1000) - 7200;
    const res = await inject({ method: 'GET', url: '/secrets/db?api-version=7.6', headers: { host: 'localhost', authorization: `Bearer ${await token(READER, { iat: past, nbf: past, exp: past + 600 })}` } });
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ error: { code: 'Unauthorized', message: "[TokenExpired] Error validating token: 'S2S12086'." } });
    expect(res.headers['www-authenticate']).toMatch(/^Bearer authorization="/);
  });

  it('maps domain errors, unknown routes (404) and wrong methods (405) to the error envelope', async () => {
    const auth = { host: 'localhost', authorization: `Bearer ${await token(READER)}` };
    const missing = await inject({ method: 'GET', url: '/secrets/missing?api-version=7.6', headers: auth });
    expect(missing.statusCode).toBe(404);
    expect((missing.json() as { error: { code: string } }).error.code).toBe('SecretNotFound');
    const route = await inject({ method: 'GET', url: '/nowhere?api-version=7.6', headers: auth });
    expect(route.statusCode).toBe(404);
    const method = await inject({ method: 'DELETE', url: '/secrets/db?api-version=7.6', headers: auth });
    expect(method.statusCode).toBe(405);
    expect(method.json()).toEqual({ error: { code: 'MethodNotAllowed', message: 'HTTP DELETE not allowed' } });
  });

  it('answers 404 for a host that names no vault', async () => {
    const res = await inject({ method: 'GET', url: '/secrets/db?api-version=7.6', headers: { host: 'other.vault.localhost', authorization: `Bearer ${await token(READER)}` } });
    expect(res.statusCode).toBe(404);
    expect((res.json() as { error: { code: string } }).error.code).toBe('VaultNotFound');
  });

  it('fails closed: when the audit record cannot be made durable, the answer is a 503 without the secret', async () => {
    auditFails = true;
    try {
      const res = await inject({ method: 'GET', url: '/secrets/db?api-version=7.6', headers: { host: 'localhost', authorization: `Bearer ${await token(READER)}` } });
      expect(res.statusCode).toBe(503);
      expect(res.body).not.toContain('TOPSECRET');
      expect((res.json() as { error: { code: string } }).error.code).toBe('ServiceUnavailable');
    } finally {
      auditFails = false;
    }
  });

  /**
   * What Fastify's router or Node's HTTP parser rejects before any route or hook runs, and what
   * fails around the body: each answer is Azure's envelope with x-ms-request-id, made of no
   * internals, and leaves exactly one audit record, durable before the answer (else 503).
   */
  describe('requests rejected before routing or while the body is read', () => {
    const answers: RawAnswer[] = [];
    const raw = async (bytes: string): Promise<RawAnswer> => {
      const res = await rawExchange(app, bytes);
      answers.push(res);
      return res;
    };
    const errorOf = (res: RawAnswer): unknown => (JSON.parse(res.body) as { error: unknown }).error;

    /** The records written since `before`, once at least one is there (a dropped connection's comes after it closes). */
    async function recordsSince(before: number): Promise<AuditRecord[]> {
      for (let i = 0; i < 200 && records.length <= before; i++) await new Promise((r) => setTimeout(r, 10));
      await new Promise((r) => setTimeout(r, 50));
      return records.slice(before);
    }

    /** The one record a request left, with the fields every rejection carries. */
    async function oneRecord(before: number, res: RawAnswer): Promise<AuditRecord> {
      const written = await recordsSince(before);
      expect(written).toHaveLength(1);
      const r = written[0]!;
      if (res.status !== 0) {
        expect(res.headers['x-ms-request-id']).toBeTruthy();
        expect(r.id).toBe(res.headers['x-ms-request-id']);
        expect(r.resultSignature).toBe(String(res.status));
        expect(res.headers['content-type']).toBe('application/json; charset=utf-8');
      }
      expect(r.resultType).toBe('Failure');
      return r;
    }

    it('answers a malformed percent-encoding in the path (FST_ERR_BAD_URL) with 400 BadParameter and records the verified caller', async () => {
      const before = { records: records.length, handled };
      const res = await raw(
        `GET /secrets/%zz?api-version=7.5 HTTP/1.1\r\nHost: dev.vault.localhost:8443\r\nAuthorization: Bearer ${await token(READER)}\r\n` +
          'x-ms-client-request-id: corr-bad-url\r\nUser-Agent: azsdk-js-keyvault-secrets/4.10.0\r\nConnection: close\r\n\r\n',
      );
      expect(res.status).toBe(400);
      expect(errorOf(res)).toEqual({ code: 'BadParameter', message: 'The request URL is not valid: it contains a malformed percent-encoding.' });
      expect(res.headers['x-ms-client-request-id']).toBe('corr-bad-url');
      expect(res.headers['cache-control']).toBe('no-cache');
      const r = await oneRecord(before.records, res);
      expect(r).toMatchObject({ operationName: REJECTED_OPERATION, resultSignature: '400', resultDescription: 'BadParameter', correlationId: 'corr-bad-url', tenant: TENANT, resourceId: '/vaults/dev' });
      expect(r.identity).toEqual({ oid: READER, tid: TENANT, appid: APP, idtyp: 'app' });
      expect(r.properties).toMatchObject({ requestUri: '/secrets/%zz?api-version=7.5', httpMethod: 'GET', errorCode: 'BadParameter', vault: 'dev', clientInfo: 'azsdk-js-keyvault-secrets/4.10.0' });
      expect(handled).toBe(before.handled);
    });

    it.each([
      ['no token', ''],
      ['an invalid token', 'Authorization: Bearer not.a.token\r\n'],
    ])('records the caller of a malformed URL as unknown when it carries %s', async (_what, authorization) => {
      const before = records.length;
      const res = await raw(`DELETE /secrets/a%2/versions?api-version=7.6 HTTP/1.1\r\nHost: localhost:8443\r\n${authorization}Connection: close\r\n\r\n`);
      expect(res.status).toBe(400);
      expect((errorOf(res) as { code: string }).code).toBe('BadParameter');
      const r = await oneRecord(before, res);
      expect(r.identity).toEqual({});
      expect(r.properties).toMatchObject({ httpMethod: 'DELETE', requestUri: '/secrets/a%2/versions?api-version=7.6' });
    });

    it.each([
      ['a header name with a space', 'Bad Header: x'],
      ['a control character in a header value', 'X-Note: a\u0001b'],
      ['an unparsable Content-Length', 'Content-Length: abc'],
      ['both Content-Length and Transfer-Encoding', 'Content-Length: 2\r\nTransfer-Encoding: chunked'],
    ])('answers %s (rejected by Node’s parser) with 400 BadRequest and one record, caller unknown', async (_what, header) => {
      const before = { records: records.length, handled };
      const bearer = await token(READER);
      const res = await raw(`GET /secrets/db?api-version=7.6 HTTP/1.1\r\nHost: localhost\r\nx-ms-client-request-id: corr-bad-header\r\nAuthorization: Bearer ${bearer}\r\n${header}\r\n\r\n`);
      expect(res.status).toBe(400);
      expect(errorOf(res)).toEqual({ code: 'BadRequest', message: 'The request is not a valid HTTP request.' });
      expect(res.headers['x-ms-client-request-id']).toBe('corr-bad-header');
      expect(res.headers.connection).toBe('close');
      const r = await oneRecord(before.records, res);
      expect(r).toMatchObject({ operationName: REJECTED_OPERATION, correlationId: 'corr-bad-header', tenant: TENANT, identity: {} });
      expect(r.properties).toMatchObject({ httpMethod: 'GET', requestUri: '/secrets/db?api-version=7.6', errorCode: 'BadRequest' });
      expect(JSON.stringify(r)).not.toContain(bearer);
      expect(handled).toBe(before.handled);
    });

    it.each([
      ['an unknown method token', 'FOO /secrets/db?api-version=7.6 HTTP/1.1'],
      ['a request target that is not a path', 'GET ?api-version=7.6 HTTP/1.1'],
      ['an unknown HTTP version', 'GET /secrets/db?api-version=7.6 HTTP/7.2'],
    ])('answers a request line with %s with 400 BadRequest and one record', async (_what, line) => {
      const before = records.length;
      const res = await raw(`${line}\r\nHost: localhost\r\n\r\n`);
      expect(res.status).toBe(400);
      expect((errorOf(res) as { code: string }).code).toBe('BadRequest');
      expect((await oneRecord(before, res)).operationName).toBe(REJECTED_OPERATION);
    });

    it.each([
      ['a URL', `/secrets/db?api-version=7.6&pad=${'u'.repeat(20_000)}`, ''],
      ['a header', '/secrets/db?api-version=7.6', `X-Pad: ${'h'.repeat(20_000)}\r\n`],
    ])('answers %s that takes the request line and headers above 16 KB with 431 and one bounded record', async (_what, path, header) => {
      const before = records.length;
      const res = await raw(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n${header}\r\n`);
      expect(res.status).toBe(431);
      expect((errorOf(res) as { code: string }).code).toBe('RequestHeaderFieldsTooLarge');
      const r = await oneRecord(before, res);
      expect(r).toMatchObject({ operationName: REJECTED_OPERATION, resultSignature: '431', identity: {} });
      expect((r.properties.requestUri ?? '').length).toBeLessThanOrEqual(2048);
    });

    it('answers an HTTP/1.1 request without Host (which Node would answer bare) with 400 BadRequest and one record', async () => {
      const before = records.length;
      const res = await raw('GET /secrets/db?api-version=7.6 HTTP/1.1\r\nConnection: close\r\n\r\n');
      expect(res.status).toBe(400);
      expect(errorOf(res)).toEqual({ code: 'BadRequest', message: 'The request has no Host header.' });
      expect(await oneRecord(before, res)).toMatchObject({ operationName: 'SecretGet', resultDescription: 'BadRequest' });
    });

    it.each([
      ['malformed JSON', 'application/json', '{"value": ', 400, 'BadParameter'],
      ['a body above the route’s limit', 'application/json', JSON.stringify({ value: 'v'.repeat(2000) }), 413, 'RequestEntityTooLarge'],
      ['a media type other than JSON', 'text/plain', 'value=x', 415, 'UnsupportedMediaType'],
      ['a malformed Content-Type', ';;;', '{"value":"x"}', 415, 'UnsupportedMediaType'],
    ])('answers an authorized PUT with %s, rejected while its body is read, in the envelope with one record', async (_what, contentType, body, status, code) => {
      const before = { records: records.length, handled };
      const res = await raw(
        `PUT /secrets/db?api-version=7.6 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${await token(WRITER)}\r\nx-ms-client-request-id: corr-body\r\n` +
          `Content-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      expect(res.status).toBe(status);
      expect((errorOf(res) as { code: string }).code).toBe(code);
      const r = await oneRecord(before.records, res);
      expect(r).toMatchObject({ operationName: 'SecretSet', resultDescription: code, correlationId: 'corr-body', identity: { oid: WRITER } });
      expect(handled).toBe(before.handled);
    });

    it('drops the connection when the body of a routed request breaks HTTP framing; that request keeps its one record (400)', async () => {
      const before = { records: records.length, handled };
      const res = await raw(
        `PUT /secrets/db?api-version=7.6 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${await token(WRITER)}\r\n` +
          'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n',
      );
      expect(res.status).toBe(0);
      const r = await oneRecord(before.records, res);
      expect(r).toMatchObject({ operationName: 'SecretSet', resultSignature: '400', resultDescription: 'BadRequest', identity: { oid: WRITER } });
      expect(handled).toBe(before.handled);
    });

    it('answers methods Fastify does not route (TRACE, PROPFIND) with Azure’s 405 and one record', async () => {
      for (const method of ['TRACE', 'PROPFIND']) {
        const before = records.length;
        const res = await raw(`${method} /secrets/db?api-version=7.6 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${await token(READER)}\r\nConnection: close\r\n\r\n`);
        expect(res.status).toBe(405);
        expect(errorOf(res)).toEqual({ code: 'MethodNotAllowed', message: `HTTP ${method} not allowed` });
        expect(await oneRecord(before, res)).toMatchObject({ operationName: 'Unknown', resultDescription: 'MethodNotAllowed' });
      }
    });

    it('answers a CONNECT request (which Node would drop unanswered) with 405 and one record', async () => {
      const before = records.length;
      const res = await raw(`CONNECT localhost:8443 HTTP/1.1\r\nHost: localhost:8443\r\nx-ms-client-request-id: corr-connect\r\n\r\n`);
      expect(res.status).toBe(405);
      expect(errorOf(res)).toEqual({ code: 'MethodNotAllowed', message: 'HTTP CONNECT not allowed' });
      const r = await oneRecord(before, res);
      expect(r).toMatchObject({ operationName: REJECTED_OPERATION, correlationId: 'corr-connect', identity: {} });
      expect(r.properties).toMatchObject({ httpMethod: 'CONNECT', requestUri: 'localhost:8443', vault: 'dev' });
    });

    it('answers an Expect other than 100-continue (which Node would answer 417 bare) in the envelope with one record', async () => {
      const before = records.length;
      const res = await raw(`GET /secrets/db?api-version=7.6 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${await token(READER)}\r\nExpect: something\r\nConnection: close\r\n\r\n`);
      expect(res.status).toBe(417);
      expect((errorOf(res) as { code: string }).code).toBe('ExpectationFailed');
      expect(await oneRecord(before, res)).toMatchObject({ operationName: 'SecretGet', resultDescription: 'ExpectationFailed' });
    });

    it('answers a malformed second request pipelined after a good one once the first answer has left', async () => {
      const before = records.length;
      const bearer = await token(READER);
      const res = await raw(`GET /secrets/db?api-version=7.6 HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${bearer}\r\n\r\nGET /secrets/db HTTP/1.1\r\nBad Header: x\r\n\r\n`);
      expect(res.status).toBe(200);
      const second = res.text.slice(res.text.indexOf('HTTP/1.1', 10));
      expect(second).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
      const written = await recordsSince(before);
      expect(written.map((r) => [r.operationName, r.resultSignature])).toEqual([
        ['SecretGet', '200'],
        [REJECTED_OPERATION, '400'],
      ]);
    });

    it('fails closed: when the record of a rejected request cannot be made durable, the answer is a 503 and nothing is recorded', async () => {
      auditFails = true;
      try {
        const before = records.length;
        for (const bytes of [
          'GET /secrets/%zz?api-version=7.6 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n',
          'GET /secrets/db?api-version=7.6 HTTP/1.1\r\nHost: localhost\r\nBad Header: x\r\n\r\n',
          `GET /secrets/db?api-version=7.6 HTTP/1.1\r\nHost: localhost\r\nX-Pad: ${'h'.repeat(20_000)}\r\n\r\n`,
        ]) {
          const res = await raw(bytes);
          expect(res.status).toBe(503);
          expect((errorOf(res) as { code: string }).code).toBe('ServiceUnavailable');
          expect(res.headers['x-ms-request-id']).toBeTruthy();
        }
        expect(records.length).toBe(before);
      } finally {
        auditFails = false;
      }
    });

    it('never answers with a stack trace, a file path or an internal error code', () => {
      expect(answers.length).toBeGreaterThan(10);
      for (const res of answers) {
        expect(res.text).not.toMatch(/\bat [\w.<>]+ \(|\/work\/|node_modules|\.[cm]?[jt]s:\d+|FST_ERR|HPE_|ERR_HTTP|ECONNRESET/);
      }
    });
  });

  it("answers a caller over its budget with Azure's 429 Throttled and Retry-After, audited, without running the operation", async () => {
    const auth = { host: 'dev.vault.localhost:8443', authorization: `Bearer ${await token(NOISY)}` };
    const statuses: number[] = [];
    for (let i = 0; i < 2; i++) statuses.push((await inject({ method: 'GET', url: '/secrets/db?api-version=7.6', headers: auth })).statusCode);
    expect(statuses).toEqual([200, 200]);
    const before = { handled, records: records.length };
    const res = await inject({ method: 'GET', url: '/secrets/db?api-version=7.6', headers: auth });
    expect(res.statusCode).toBe(429);
    expect(Number(res.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect((res.json() as { error: { code: string; message: string } }).error).toMatchObject({ code: 'Throttled', message: expect.stringContaining('too many requests') });
    expect(handled).toBe(before.handled);
    expect(records.length).toBe(before.records + 1);
    expect(lastRecord()).toMatchObject({ resultSignature: '429', identity: { oid: NOISY } });
    // Another caller of the same vault is not held back by NOISY's budget.
    expect((await inject({ method: 'GET', url: '/secrets/db?api-version=7.6', headers: { ...auth, authorization: `Bearer ${await token(READER)}` } })).statusCode).toBe(200);
  });

  it('while starting (catching up with identity events) answers 503, audited once with the caller whose token verifies', async () => {
    identityEvents.ready = false;
    try {
      const before = { handled, records: records.length };
      const res = await inject({ method: 'GET', url: '/secrets/db?api-version=7.6', headers: { host: 'dev.vault.localhost:8443', authorization: `Bearer ${await token(READER)}` } });
      expect(res.statusCode).toBe(503);
      expect((res.json() as { error: { code: string } }).error.code).toBe('ServiceUnavailable');
      expect(handled).toBe(before.handled);
      expect(records.length).toBe(before.records + 1);
      expect(lastRecord()).toMatchObject({ resultSignature: '503', identity: { oid: READER }, properties: { objectName: 'db' } });
    } finally {
      identityEvents.ready = true;
    }
  });

  // Last: the process-wide shutdown state stays set for the rest of this file.
  it('during graceful shutdown answers 503 in Azure envelope, audited once with the caller, and runs nothing', async () => {
    startDraining();
    const before = { handled, records: records.length };
    const res = await inject({ method: 'GET', url: '/secrets/db?api-version=7.6', headers: { host: 'dev.vault.localhost:8443', authorization: `Bearer ${await token(READER)}` } });
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ error: { code: 'ServiceUnavailable', message: 'The service is shutting down. Retry later.' } });
    expect(res.headers['x-ms-request-id']).toBeTruthy();
    expect(handled).toBe(before.handled);
    expect(records.length).toBe(before.records + 1);
    expect(lastRecord()).toMatchObject({ resultSignature: '503', identity: { oid: READER }, properties: { objectName: 'db' } });
  });
});
