/**
 * Throttling and load shedding through the official SDKs, against a vault process of this
 * build started with low budgets (VAULT_THROTTLE_LIMITS) and a bound of one request working at
 * once (VAULT_MAX_IN_FLIGHT=1, two waiting at most), and an identity process with a failed-authentication
 * budget of 3 per client: the SDK gets Azure's 429 Throttled / 503 with Retry-After, its retry
 * policy backs off and the call succeeds; every refusal is audited with the caller; the token
 * endpoint answers AAD's 429 temporarily_unavailable once a client's budget is spent.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { createDefaultHttpClient, type HttpClient, type PipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { KeyClient } from '@azure/keyvault-keys';
import { SecretClient } from '@azure/keyvault-secrets';
import { REPO_ROOT } from '#libs/platform';
import { accessToken, auditRecords, bootstrap, CA, closeDb, credential, eventually, raw, suffix, VAULT_RESOURCE, type AuditRow } from '../vault/vault-e2e.support.js';
import { spawnService, type SpawnedService } from './spawned-service.support.js';

jest.setTimeout(180_000);

const VAULT_PORT = Number(process.env.KEYLEDGER_E2E_THROTTLE_VAULT_PORT ?? 18643);
const VAULT_GRPC_PORT = Number(process.env.KEYLEDGER_E2E_THROTTLE_VAULT_GRPC_PORT ?? 18645);
const IDENTITY_PORT = Number(process.env.KEYLEDGER_E2E_THROTTLE_IDENTITY_PORT ?? 19643);

type Seen = { status: number; requestId: string; clientRequestId: string; retryAfter: string | undefined; body: string };

/** Every exchange the SDK makes (each retry too), with the headers and body the assertions need. */
class Recorder implements HttpClient {
  readonly seen: Seen[] = [];
  private readonly inner = createDefaultHttpClient();
  async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
    const res = await this.inner.sendRequest(request);
    this.seen.push({
      status: res.status,
      requestId: res.headers.get('x-ms-request-id') ?? '',
      clientRequestId: request.headers.get('x-ms-client-request-id') ?? '',
      retryAfter: res.headers.get('retry-after'),
      body: res.bodyAsText ?? '',
    });
    return res;
  }
}

const sdkOptions = (httpClient: HttpClient) => ({ httpClient, tlsOptions: { ca: CA.toString() }, disableChallengeResourceVerification: true, retryOptions: { maxRetries: 8, retryDelayInMs: 200, maxRetryDelayInMs: 2_000 } });

async function recordsOf(ids: readonly string[]): Promise<AuditRow[]> {
  return (await eventually(async () => {
    const rows = await auditRecords(ids);
    return rows.length >= ids.length ? rows : undefined;
  })) ?? auditRecords(ids);
}

describe('throttling and load shedding through the SDKs', () => {
  let vault: SpawnedService;
  const url = `https://localhost:${VAULT_PORT}`;

  beforeAll(async () => {
    vault = await spawnService('vault', VAULT_PORT, {
      VAULT_THROTTLE: 'azure',
      VAULT_THROTTLE_LIMITS: 'secrets=4',
      VAULT_THROTTLE_PRINCIPAL_LIMITS: 'secrets=4',
      VAULT_MAX_IN_FLIGHT: '1',
      VAULT_MAX_QUEUED: '2',
      VAULT_QUEUE_TIMEOUT_MS: '5000',
      VAULT_GRPC_ENABLED: 'true',
      VAULT_GRPC_PORT: String(VAULT_GRPC_PORT),
    });
  });

  afterAll(async () => {
    await vault?.stop();
    await closeDb();
  });

  it('answers a spent budget with 429 Throttled and Retry-After; the SDK backs off and succeeds; each 429 is audited with the caller', async () => {
    const http = new Recorder();
    const client = new SecretClient(url, credential(), sdkOptions(http));
    const sfx = suffix();
    for (let i = 0; i < 7; i++) {
      const s = await client.setSecret(`throttle-${sfx}-${i}`, `v${i}`);
      expect(s.value).toBe(`v${i}`);
    }
    const throttled = http.seen.filter((x) => x.status === 429);
    expect(throttled.length).toBeGreaterThan(0);
    for (const t of throttled) {
      expect(Number(t.retryAfter)).toBeGreaterThanOrEqual(1);
      expect(JSON.parse(t.body)).toEqual({ error: { code: 'Throttled', message: expect.stringMatching(/^Request was not processed because too many requests were received/) } });
      // The same request (its x-ms-client-request-id) went through on a later attempt.
      expect(http.seen.some((x) => x.clientRequestId === t.clientRequestId && x.status === 200)).toBe(true);
    }
    const records = await recordsOf(throttled.map((t) => t.requestId));
    expect(records).toHaveLength(throttled.length);
    for (const r of records) {
      expect(r).toMatchObject({ operationName: 'SecretSet', resultSignature: '429', identity: { appid: bootstrap.clientId } });
      expect(r.properties.errorCode).toBe('Throttled');
    }
  });

  it('beyond its bound on concurrent work answers 503 ServiceUnavailable with Retry-After at once, audited; the SDK retries get through', async () => {
    const http = new Recorder();
    const keys = new KeyClient(url, credential(), sdkOptions(http));
    const name = `shed-${suffix()}`;
    await keys.createEcKey(name, { curve: 'P-256' });
    const got = await Promise.all(Array.from({ length: 9 }, () => keys.getKey(name)));
    expect(got.every((k) => k.name === name)).toBe(true);
    const shed = http.seen.filter((x) => x.status === 503);
    expect(shed.length).toBeGreaterThan(0);
    for (const s of shed) {
      expect(s.retryAfter).toBe('1');
      expect(JSON.parse(s.body)).toEqual({ error: { code: 'ServiceUnavailable', message: expect.stringMatching(/busy/), innererror: { code: 'ServerBusy' } } });
    }
    const records = await recordsOf(shed.map((s) => s.requestId));
    expect(records).toHaveLength(shed.length);
    for (const r of records) {
      expect(r).toMatchObject({ operationName: 'KeyGet', resultSignature: '503', identity: { appid: bootstrap.clientId } });
      expect(r.properties.errorCode).toBe('ServerBusy');
    }
    // Every answer the SDK saw has exactly one record.
    const all = http.seen.map((x) => x.requestId);
    expect(await recordsOf(all)).toHaveLength(all.length);
  });

  it('tells a throttled gRPC call when to come back: RESOURCE_EXHAUSTED with retry-after and grpc-retry-pushback-ms trailers', async () => {
    type Unary = (req: object, md: grpc.Metadata, cb: (err: grpc.ServiceError | null) => void) => void;
    const pkg = grpc.loadPackageDefinition(
      protoLoader.loadSync(join(REPO_ROOT, 'libs', 'contracts', 'proto', 'keyledger', 'v1', 'secrets.proto'), { keepCase: false, longs: Number, defaults: true, arrays: true, oneofs: true }),
    ) as unknown as { keyledger: { v1: { Secrets: grpc.ServiceClientConstructor } } };
    const client = new pkg.keyledger.v1.Secrets(`localhost:${VAULT_GRPC_PORT}`, grpc.credentials.createSsl(CA)) as unknown as grpc.Client & { set: Unary };
    const token = await accessToken(VAULT_RESOURCE);
    const sfx = suffix();
    try {
      const errors: (grpc.ServiceError | null)[] = [];
      for (let i = 0; i < 12; i++) {
        const md = new grpc.Metadata();
        md.set('authorization', `Bearer ${token}`);
        errors.push(await new Promise<grpc.ServiceError | null>((resolve) => client.set({ name: `grpc-throttle-${sfx}-${i}`, value: `v${i}` }, md, (err) => resolve(err))));
      }
      const throttled = errors.filter((e): e is grpc.ServiceError => e !== null);
      // A budget of 4 per 10 s window: of twelve calls in a row at most eight (one window turning) get through.
      expect(throttled.length).toBeGreaterThanOrEqual(4);
      for (const e of throttled) {
        expect(e.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
        expect(e.metadata.get('keyledger-error-code')).toEqual(['Throttled']);
        const seconds = Number(e.metadata.get('retry-after')[0]);
        expect(seconds).toBeGreaterThanOrEqual(1);
        expect(e.metadata.get('grpc-retry-pushback-ms')).toEqual([String(seconds * 1000)]);
      }
    } finally {
      client.close();
    }
  });
});

describe('the token endpoint throttles failed client authentications', () => {
  let identity: SpawnedService;
  beforeAll(async () => {
    identity = await spawnService('identity', IDENTITY_PORT, { IDENTITY_FAILED_AUTH_PER_CLIENT: '3', IDENTITY_FAILED_AUTH_PER_ADDRESS: '1000' });
  });
  afterAll(async () => {
    await identity?.stop();
  });

  it("answers AAD's 429 temporarily_unavailable with Retry-After once a client's budget is spent, before checking the credential", async () => {
    const b = bootstrap;
    const token = (secret: string) =>
      raw(`https://localhost:${IDENTITY_PORT}/${b.tenantId}/oauth2/v2.0/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', client_id: b.clientId, client_secret: secret, scope: 'https://vault.localhost/.default' }).toString(),
      });
    for (let i = 0; i < 3; i++) {
      const r = await token(`wrong-${i}`);
      expect(r.status).toBe(401);
      expect((r.json as { error: string }).error).toBe('invalid_client');
    }
    const refused = await token('wrong-again');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(refused.json).toMatchObject({ error: 'temporarily_unavailable', error_codes: [50196], error_description: expect.stringMatching(/Too many failed client authentications/) });
    // Refused before the credential is checked: the right secret waits too.
    expect((await token(b.clientSecret)).status).toBe(429);
  });
});
