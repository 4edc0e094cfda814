import { readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { stackEnv } from './stack-env.js';

/** Test helpers around the running identity service, authenticated as the bootstrap administrator. */
export type Bootstrap = { tenantId: string; clientId: string; clientSecret: string; authorityHost: string };

export const bootstrap = (): Bootstrap => {
  const written = JSON.parse(readFileSync(join(stackEnv.home, 'bootstrap.json'), 'utf8')) as Bootstrap;
  // Services started on other ports (IDENTITY_PORT, …) name their authority in IDENTITY_PUBLIC_URL.
  return { ...written, authorityHost: process.env.IDENTITY_PUBLIC_URL ?? written.authorityHost };
};
export const ca = (): Buffer => readFileSync(stackEnv.caFile);

export type Reply = { status: number; headers: Record<string, string | string[] | undefined>; text: string; json: unknown };

export function httpsRequest(url: string, init: { method?: string; headers?: Record<string, string>; body?: string | Buffer } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: init.method ?? 'GET', headers: init.headers, ca: ca() }, (res) => {
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
    });
    req.on('error', reject);
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
}

export async function tokenFor(clientId: string, clientSecret: string, resource: string, tenantId = bootstrap().tenantId): Promise<string> {
  const res = await postForm(`${bootstrap().authorityHost}/${tenantId}/oauth2/v2.0/token`, {
    grant_type: 'client_credentials',
    client_id: clientId,
    client_secret: clientSecret,
    scope: `${resource}/.default`,
  });
  const body = res.json as { access_token?: string };
  if (res.status !== 200 || !body.access_token) throw new Error(`token request failed: ${res.status} ${res.text}`);
  return body.access_token;
}

export function postForm(url: string, form: Record<string, string>): Promise<Reply> {
  return httpsRequest(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form).toString() });
}

let adminToken: string | undefined;

/** Calls identity's admin API as the bootstrap administrator. */
export async function identityAdmin(path: string, method = 'GET', body?: unknown): Promise<Reply> {
  const b = bootstrap();
  adminToken ??= await tokenFor(b.clientId, b.clientSecret, 'https://identity.localhost');
  return httpsRequest(`${b.authorityHost}${path}`, {
    method,
    headers: { authorization: `Bearer ${adminToken}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
}

export type TestPrincipal = { objectId: string; appId: string; tenantId: string; clientSecret: string; displayName: string };

export async function createServicePrincipal(displayName: string): Promise<TestPrincipal> {
  const res = await identityAdmin('/admin/principals', 'POST', { displayName, kind: 'servicePrincipal' });
  if (res.status !== 201) throw new Error(`create principal failed: ${res.status} ${res.text}`);
  return res.json as TestPrincipal;
}

export async function assignRole(principal: string, role: string, scope: string): Promise<string> {
  const res = await identityAdmin('/admin/roleAssignments', 'POST', { principal, role, scope });
  if (res.status !== 201) throw new Error(`assign failed: ${res.status} ${res.text}`);
  return (res.json as { id: string }).id;
}

export async function unassignRole(id: string): Promise<void> {
  const res = await identityAdmin(`/admin/roleAssignments/${id}`, 'DELETE');
  if (res.status !== 200) throw new Error(`unassign failed: ${res.status} ${res.text}`);
}

export function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [h, p] = token.split('.');
  return { header: JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>, payload: JSON.parse(Buffer.from(p!, 'base64url').toString()) as Record<string, unknown> };
}
