import https from 'node:https';

/** The bootstrap administrator's credentials (.keyledger/bootstrap.json). */
export type AdminCredentials = { readonly tenantId: string; readonly clientId: string; readonly clientSecret: string; readonly authorityHost: string };

/**
 * The console's public client registration (one per console origin: its redirect URI), created
 * with the administrator's credentials on the first start, found again on the next ones.
 */
export async function ensureConsoleClient(admin: AdminCredentials, origin: string, ca: Buffer): Promise<string> {
  const name = `keyledger-console-${new URL(origin).port || '443'}`;
  const token = await call<{ access_token: string }>(admin.authorityHost, `/${admin.tenantId}/oauth2/v2.0/token`, ca, {
    method: 'POST',
    contentType: 'application/x-www-form-urlencoded',
    body: new URLSearchParams({ grant_type: 'client_credentials', client_id: admin.clientId, client_secret: admin.clientSecret, scope: 'https://identity.localhost/.default' }).toString(),
  });
  const auth = `Bearer ${token.access_token}`;
  const apps = await call<{ value: { appId: string; displayName: string }[] }>(admin.authorityHost, '/admin/applications', ca, { authorization: auth });
  const found = apps.value.find((a) => a.displayName === name);
  if (found) return found.appId;
  const created = await call<{ appId: string }>(admin.authorityHost, '/admin/applications', ca, {
    method: 'POST',
    authorization: auth,
    contentType: 'application/json',
    body: JSON.stringify({ displayName: name, publicClient: true, redirectUris: [`${origin}/`] }),
  });
  return created.appId;
}

function call<T>(base: string, path: string, ca: Buffer, o: { method?: string; authorization?: string; contentType?: string; body?: string } = {}): Promise<T> {
  const u = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: u.hostname === 'localhost' ? '127.0.0.1' : u.hostname,
        servername: u.hostname,
        port: u.port || 443,
        path: u.pathname,
        method: o.method ?? 'GET',
        ca,
        headers: { ...(o.authorization ? { authorization: o.authorization } : {}), ...(o.contentType ? { 'content-type': o.contentType } : {}) },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => ((res.statusCode ?? 500) < 300 ? resolve(JSON.parse(text) as T) : reject(new Error(`${o.method ?? 'GET'} ${u.pathname}: ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    if (o.body) req.write(o.body);
    req.end();
  });
}
