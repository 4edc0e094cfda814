import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Fastify, { type FastifyInstance } from 'fastify';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import pino from 'pino';
import { BuiltInRoleIds, StaticJwksSource, TokenVerifier } from '#libs/auth';
import type { AuditRecord } from '#libs/contracts';
import { AuditUnavailableError } from '#libs/eventstore';
import { AccessControl } from '../../application/access/access-control.js';
import type { VaultsService } from '../../application/vaults/vaults.service.js';
import type { VaultRecord } from '../persistence/vaults.repository.js';
import { secretNotFound } from '../../domain/vault.errors.js';
import { ApiPipeline, dataPlane } from './request-pipeline.js';
import { TokenAuthenticator } from './token-auth.js';

const TENANT = '4eeb1e29-c100-4249-9b4c-7c16d469679f';
const READER = '0b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e01';
const STRANGER = '1b5c2c4e-8f0a-4c51-9a43-3c0a2b1d9e02';
const APP = '5e3f1a2b-7c8d-4e9f-a0b1-c2d3e4f5a6b7';
const AUTHORITY = 'https://id.example.test:9443';
const RESOURCE = 'https://vault.localhost';
const issuerOf = (tid: string): string => `${AUTHORITY}/${tid}/v2.0`;

const dev: VaultRecord = {
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
    const verifier = new TokenVerifier({ jwks: new StaticJwksSource({ keys: [publicJwk] }), issuer: issuerOf, audiences: [RESOURCE], tenants: (t) => access.isKnownTenant(t) });
    const auth = new TokenAuthenticator(verifier, () => ({ authority: AUTHORITY, tenantId: access.challengeTenant(), resource: RESOURCE }), 100);
    const auditWriter = {
      write: async (r: AuditRecord) => {
        if (auditFails) throw new AuditUnavailableError(new Error('database down'));
        records.push(r);
      },
    };
    const vaults = { resolve: async (name: string) => (name === 'dev' ? dev : undefined) } as unknown as VaultsService;
    const pipeline = new ApiPipeline({
      logger: pino({ level: 'silent' }),
      access,
      auth,
      vaults,
      auditWriter,
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
    app = Fastify();
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
    expect(res.headers['www-authenticate']).toBe(`Bearer authorization="${AUTHORITY}/${TENANT}", resource="${RESOURCE}"`);
    expect(res.json()).toEqual({ error: { code: 'Unauthorized', message: 'AKV10000: Request is missing a Bearer, PoP, or MTLS_POP token.' } });
    expect(handled).toBe(before.handled);
    expect(records.length).toBe(before.records + 1);
    expect(lastRecord()).toMatchObject({ operationName: 'SecretSet', resultSignature: '401', resultType: 'Failure', id: res.headers['x-ms-request-id'] ?? lastRecord().id });
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
});
