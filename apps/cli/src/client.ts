import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import { keyledgerHome } from '#libs/platform';

export type Credentials = { readonly tenantId: string; readonly clientId: string; readonly clientSecret: string; readonly authorityHost: string };

export class CliError extends Error {}

/** The bootstrap credentials (or AZURE_* variables when set), as the CLI authenticates by default. */
export function loadCredentials(env: NodeJS.ProcessEnv = process.env): Credentials {
  if (env.AZURE_CLIENT_ID && env.AZURE_CLIENT_SECRET && env.AZURE_TENANT_ID) {
    return { tenantId: env.AZURE_TENANT_ID, clientId: env.AZURE_CLIENT_ID, clientSecret: env.AZURE_CLIENT_SECRET, authorityHost: env.AZURE_AUTHORITY_HOST ?? `https://localhost:${env.IDENTITY_PORT ?? '9443'}` };
  }
  const file = env.KEYLEDGER_BOOTSTRAP_FILE ?? join(keyledgerHome(env), 'bootstrap.json');
  if (!existsSync(file)) throw new CliError(`no credentials: ${file} does not exist (start Keyledger with "npm start" first) and AZURE_CLIENT_ID/AZURE_CLIENT_SECRET/AZURE_TENANT_ID are not set`);
  return JSON.parse(readFileSync(file, 'utf8')) as Credentials;
}

function caBundle(env: NodeJS.ProcessEnv): Buffer | undefined {
  const file = join(keyledgerHome(env), 'tls', 'ca.crt');
  return existsSync(file) ? readFileSync(file) : undefined;
}

export type HttpResult = { readonly status: number; readonly body: unknown; readonly text: string };

export function request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}, env: NodeJS.ProcessEnv = process.env): Promise<HttpResult> {
  const ca = caBundle(env);
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: init.method ?? 'GET', headers: init.headers, ...(ca ? { ca } : {}), timeout: 30_000 }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = text ? JSON.parse(text) : {};
        } catch {
          // not JSON
        }
        resolve({ status: res.statusCode ?? 0, body, text });
      });
    });
    req.on('error', (err) => reject(new CliError(`cannot reach ${new URL(url).origin}: ${err.message}`)));
    req.on('timeout', () => req.destroy(new Error('timed out')));
    if (init.body) req.write(init.body);
    req.end();
  });
}

const tokenCache = new Map<string, string>();

export async function accessToken(creds: Credentials, resource: string): Promise<string> {
  const cached = tokenCache.get(resource);
  if (cached) return cached;
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: creds.clientId, client_secret: creds.clientSecret, scope: `${resource}/.default` });
  const res = await request(`${creds.authorityHost}/${creds.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: form.toString(),
  });
  const body = res.body as { access_token?: string; error?: string; error_description?: string };
  if (res.status !== 200 || !body.access_token) throw new CliError(`sign-in failed: ${body.error ?? res.status} ${body.error_description ?? ''}`.trim());
  tokenCache.set(resource, body.access_token);
  return body.access_token;
}

/** Calls an API with a bearer token; non-2xx answers become CliErrors carrying the server's code and message. */
export async function api(creds: Credentials, resource: string, url: string, method = 'GET', payload?: unknown): Promise<unknown> {
  const token = await accessToken(creds, resource);
  const res = await request(url, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(payload !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(payload !== undefined ? { body: JSON.stringify(payload) } : {}),
  });
  if (res.status >= 200 && res.status < 300) return res.body;
  const err = (res.body as { error?: { code?: string; message?: string } }).error;
  throw new CliError(`${res.status} ${err?.code ?? ''}: ${err?.message ?? res.text}`.trim());
}
