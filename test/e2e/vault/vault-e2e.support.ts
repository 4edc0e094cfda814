/**
 * Helpers of the vault end-to-end specs: the running services, the official Azure SDK with
 * the development CA, `*.localhost` resolution inside the test process, the identity and
 * vault admin APIs with the bootstrap credentials, raw HTTPS, and the vault schema's audit
 * records (the outbox payloads published to keyledger.audit.records.v1).
 */
import { createDecipheriv, createPrivateKey, randomBytes } from 'node:crypto';
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { ClientSecretCredential } from '@azure/identity';
import { SecretClient, type SecretClientOptions } from '@azure/keyvault-secrets';
import { createDefaultHttpClient, type HttpClient, type PipelineRequest, type PipelineResponse } from '@azure/core-rest-pipeline';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import pg from 'pg';
import { keyledgerHome } from '#libs/platform';

export const HOME = keyledgerHome();
export const CA = readFileSync(join(HOME, 'tls', 'ca.crt'));
export const VAULT_PORT = Number(process.env.VAULT_PORT ?? 8443);
export const DOMAIN = process.env.KEYLEDGER_DOMAIN ?? 'localhost';
export const VAULT_RESOURCE = `https://vault.${DOMAIN}`;
export const IDENTITY_RESOURCE = `https://identity.${DOMAIN}`;
export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://keyledger:keyledger@127.0.0.1:5432/keyledger';

export type Credentials = { readonly tenantId: string; readonly clientId: string; readonly clientSecret: string; readonly authorityHost: string };

/** The administrator credentials the first start wrote; IDENTITY_PUBLIC_URL (services on other ports) overrides the authority. */
const written = JSON.parse(readFileSync(join(HOME, 'bootstrap.json'), 'utf8')) as Credentials;
export const bootstrap: Credentials = { ...written, authorityHost: process.env.IDENTITY_PUBLIC_URL ?? written.authorityHost };

export const suffix = (): string => `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;

/** `*.localhost` → 127.0.0.1 in this process only (DESIGN §5: never by editing system files). */
export function installLocalhostDns(): void {
  const marker = dns as unknown as { __keyledgerPatched?: boolean };
  if (marker.__keyledgerPatched) return;
  const original = dns.lookup.bind(dns) as (...args: unknown[]) => void;
  const patched = (hostname: string, ...rest: unknown[]): void => {
    if (typeof hostname === 'string' && hostname.endsWith('.localhost')) {
      const callback = rest[rest.length - 1] as (err: Error | null, address: unknown, family?: number) => void;
      const options = rest.length > 1 ? rest[0] : undefined;
      const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all === true;
      process.nextTick(() => (all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4)));
      return;
    }
    original(hostname, ...rest);
  };
  (dns as unknown as { lookup: unknown }).lookup = patched;
  marker.__keyledgerPatched = true;
}

export const vaultUrl = (vault: string): string => `https://${vault}.vault.${DOMAIN}:${VAULT_PORT}`;
export const LOCALHOST_URL = `https://localhost:${VAULT_PORT}`;

export function credential(c: Credentials = bootstrap): ClientSecretCredential {
  return new ClientSecretCredential(c.tenantId, c.clientId, c.clientSecret, { authorityHost: c.authorityHost, disableInstanceDiscovery: true, tlsOptions: { ca: CA.toString() } });
}

/** One HTTP exchange the SDK made (including the 401 of the challenge handshake). */
export type Exchange = { readonly method: string; readonly url: string; readonly status: number; readonly requestId: string; readonly clientRequestId: string };

/** An HttpClient that records every exchange, to match each one with its audit record. */
export class RecordingHttpClient implements HttpClient {
  readonly exchanges: Exchange[] = [];
  private readonly inner = createDefaultHttpClient();

  async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
    const response = await this.inner.sendRequest(request);
    this.exchanges.push({
      method: request.method,
      url: request.url,
      status: response.status,
      requestId: response.headers.get('x-ms-request-id') ?? '',
      clientRequestId: request.headers.get('x-ms-client-request-id') ?? '',
    });
    return response;
  }

  take(): Exchange[] {
    return this.exchanges.splice(0);
  }
}

export function secretClient(url: string, cred: ClientSecretCredential = credential(), options: SecretClientOptions = {}): SecretClient {
  return new SecretClient(url, cred, { tlsOptions: { ca: CA.toString() }, retryOptions: { maxRetries: 0 }, ...options });
}

export type RawResponse = { readonly status: number; readonly headers: Record<string, string | string[] | undefined>; readonly text: string; readonly json: unknown };

/** Raw HTTPS to the services (hosts under .localhost are dialled at 127.0.0.1 with SNI intact). */
export function raw(url: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<RawResponse> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: u.hostname.endsWith('.localhost') ? '127.0.0.1' : u.hostname,
        servername: u.hostname,
        port: u.port || 443,
        path: `${u.pathname}${u.search}`,
        method: init.method ?? 'GET',
        headers: { host: u.host, ...(init.headers ?? {}) },
        ca: CA,
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let json: unknown;
          try {
            json = text ? JSON.parse(text) : undefined;
          } catch {
            json = undefined;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
        });
      },
    );
    req.on('error', reject);
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
}

const tokens = new Map<string, string>();

export async function accessToken(resource: string, c: Credentials = bootstrap): Promise<string> {
  const key = `${c.clientId}|${resource}`;
  const hit = tokens.get(key);
  if (hit) return hit;
  const res = await raw(`${c.authorityHost}/${c.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: c.clientId, client_secret: c.clientSecret, scope: `${resource}/.default` }).toString(),
  });
  const token = (res.json as { access_token?: string } | undefined)?.access_token;
  if (res.status !== 200 || !token) throw new Error(`token request failed: ${res.status} ${res.text}`);
  tokens.set(key, token);
  return token;
}

async function adminCall(base: string, resource: string, path: string, method: string, body?: unknown): Promise<RawResponse> {
  const token = await accessToken(resource);
  return raw(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

/** The vault service's admin API (Key Vault Administrator at "/"). */
export const vaultAdmin = (path: string, method = 'GET', body?: unknown): Promise<RawResponse> => adminCall(LOCALHOST_URL, VAULT_RESOURCE, path, method, body);
/** The identity service's admin API. */
export const identityAdmin = (path: string, method = 'GET', body?: unknown): Promise<RawResponse> => adminCall(bootstrap.authorityHost, IDENTITY_RESOURCE, path, method, body);

/** A vault of the spec's own (each spec works in its own vault). */
export async function createVault(prefix: string, options: { retentionDays?: number; purgeProtection?: boolean } = {}): Promise<string> {
  const name = `${prefix}-${suffix()}`.slice(0, 24).replace(/-+$/, '');
  const res = await vaultAdmin('/admin/vaults', 'POST', { name, softDeleteRetentionInDays: options.retentionDays ?? 7, ...(options.purgeProtection ? { enablePurgeProtection: true } : {}) });
  if (res.status !== 201) throw new Error(`vault ${name} not created: ${res.status} ${res.text}`);
  return name;
}

/** Deletes and purges a spec's vault (its secrets are crypto-shredded). */
export async function dropVault(name: string): Promise<void> {
  await vaultAdmin(`/admin/vaults/${name}`, 'DELETE');
  await vaultAdmin(`/admin/deletedvaults/${name}`, 'DELETE');
}

export type ServicePrincipal = { readonly objectId: string; readonly appId: string; readonly clientSecret: string; readonly tenantId: string; readonly credentials: Credentials };

export async function createServicePrincipal(displayName: string): Promise<ServicePrincipal> {
  const res = await identityAdmin('/admin/principals', 'POST', { displayName, kind: 'servicePrincipal' });
  if (res.status !== 201) throw new Error(`principal not created: ${res.status} ${res.text}`);
  const p = res.json as { objectId: string; appId: string; clientSecret: string; tenantId: string };
  return { ...p, credentials: { tenantId: p.tenantId, clientId: p.appId, clientSecret: p.clientSecret, authorityHost: bootstrap.authorityHost } };
}

export async function assignRole(principalObjectId: string, role: string, scope: string): Promise<string> {
  const res = await identityAdmin('/admin/roleAssignments', 'POST', { principal: principalObjectId, role, scope });
  if (res.status !== 201) throw new Error(`role not assigned: ${res.status} ${res.text}`);
  return (res.json as { id: string }).id;
}

export async function unassignRole(assignmentId: string): Promise<void> {
  const res = await identityAdmin(`/admin/roleAssignments/${assignmentId}`, 'DELETE');
  if (res.status !== 200) throw new Error(`role not unassigned: ${res.status} ${res.text}`);
}

/** Polls `probe` until it returns a value (not undefined) or the deadline passes. */
export async function eventually<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000, intervalMs = 100): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

export type AuditRow = {
  id: string;
  operationName: string;
  operationVersion: string;
  resultType: string;
  resultSignature: string;
  correlationId: string;
  identity: { oid?: string; appid?: string; tid?: string };
  properties: { requestUri?: string; id?: string; objectName?: string; objectVersion?: string; collection?: string; isRbacAuthorized?: boolean; appliedAssignmentId?: string; errorCode?: string };
};

let pool: pg.Pool | undefined;
export function db(): pg.Pool {
  pool ??= new pg.Pool({ connectionString: DATABASE_URL, max: 4 });
  return pool;
}

export async function closeDb(): Promise<void> {
  await pool?.end();
  pool = undefined;
}

/** The vault's audit records with these ids (x-ms-request-id), from its outbox. */
export async function auditRecords(ids: readonly string[]): Promise<AuditRow[]> {
  const res = await db().query<{ data: AuditRow }>(
    `SELECT payload->'data' AS data FROM vault.outbox WHERE topic = 'keyledger.audit.records.v1' AND payload->'data'->>'id' = ANY($1::text[])`,
    [ids],
  );
  return res.rows.map((r) => r.data);
}

export async function eventCount(streamLike: string): Promise<number> {
  const res = await db().query<{ n: string }>(`SELECT count(*)::text AS n FROM vault.events WHERE stream_id LIKE $1`, [streamLike]);
  return Number(res.rows[0]?.n ?? 0);
}

/**
 * A token exactly like `valid` but expired an hour ago, signed with identity's current
 * signing key (read the way identity stores it). Stands in for a replayed old token without
 * waiting for one to expire.
 */
export async function forgeExpiredToken(valid: string): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return forgeWithIdentityKey(valid, { iat: now - 7200, nbf: now - 7200, exp: now - 3600 });
}

/** `valid`'s claims with `patch` applied, signed with identity's real current signing key. */
export async function forgeWithIdentityKey(valid: string, patch: Record<string, unknown>): Promise<string> {
  const kek = Buffer.from(readFileSync(join(HOME, 'identity', 'signing.kek'), 'utf8').trim(), 'base64');
  const kid = decodeProtectedHeader(valid).kid as string;
  const row = (await db().query<{ private_enc: Buffer }>('SELECT private_enc FROM identity.signing_keys WHERE kid = $1', [kid])).rows[0];
  if (!row) throw new Error('signing key not found');
  const sealed = row.private_enc;
  const d = createDecipheriv('aes-256-gcm', kek, sealed.subarray(1, 13));
  d.setAAD(Buffer.from(`signing-key:${kid}`));
  d.setAuthTag(sealed.subarray(13, 29));
  const pem = Buffer.concat([d.update(sealed.subarray(29)), d.final()]);
  const key = createPrivateKey(pem);
  pem.fill(0);
  return new SignJWT({ ...decodeJwt(valid), ...patch }).setProtectedHeader({ alg: 'ES256', kid, typ: 'JWT' }).sign(key);
}

/** What an Azure SDK call rejected with (a RestError's fields the specs read). */
export type RestErrorLike = { statusCode?: number; code?: string; message?: string; details?: unknown };

/** The error a call that must fail rejects with (the spec fails if it succeeds). */
export async function failure(p: Promise<unknown>): Promise<RestErrorLike> {
  try {
    await p;
  } catch (err) {
    return err as RestErrorLike;
  }
  throw new Error('expected the call to fail');
}
