import { existsSync, readFileSync, statSync } from 'node:fs';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize, resolve, sep } from 'node:path';

/**
 * The console's own small server: the single-page app's static files, its public-client
 * configuration, and a same-origin pass-through to the identity, vault and audit APIs. It
 * holds no credential of its own for the pages: every API call carries the signed-in user's
 * token, so the user sees exactly what the APIs let that user see.
 */
export type ConsoleOptions = {
  readonly port: number;
  readonly bindHost: string;
  readonly webRoot: string;
  readonly tls: { readonly cert: Buffer; readonly key: Buffer; readonly ca: Buffer };
  /** The authority host (identity), e.g. https://localhost:9443. */
  readonly identityUrl: string;
  readonly auditUrl: string;
  /** The vault service, reached for `https://{vault}.vault.<domain>:<port>`. */
  readonly vaultPort: number;
  readonly domain: string;
  readonly tenantId: string;
  readonly clientId: string;
};

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.ico': 'image/x-icon',
};
const FORWARDED = ['authorization', 'content-type', 'accept', 'last-event-id', 'user-agent', 'x-ms-client-request-id'];
const VAULT_NAME = /^[a-zA-Z0-9-]{3,24}$/;

export function consoleConfig(o: ConsoleOptions, origin: string): Record<string, string> {
  return {
    authority: o.identityUrl,
    tenantId: o.tenantId,
    clientId: o.clientId,
    redirectUri: `${origin}/`,
    vaultResource: `https://vault.${o.domain}`,
    auditResource: `https://audit.${o.domain}`,
    identityResource: `https://identity.${o.domain}`,
  };
}

export async function startConsoleServer(o: ConsoleOptions): Promise<{ url: string; close: () => Promise<void> }> {
  const root = resolve(o.webRoot);
  const server = https.createServer({ cert: o.tls.cert, key: o.tls.key }, (req, res) => {
    void handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'BadGateway', message: 'the upstream service did not answer' } }));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://console.invalid');
    const path = url.pathname;
    if (path === '/health' || path === '/health/live') return json(res, 200, { status: 'ok' });
    if (path === '/config.json') return json(res, 200, consoleConfig(o, `https://${req.headers.host ?? `localhost:${o.port}`}`));
    if (path.startsWith('/api/identity/')) return proxy(req, res, new URL(o.identityUrl), path.slice('/api/identity'.length) + url.search);
    if (path.startsWith('/api/audit/')) return proxy(req, res, new URL(o.auditUrl), path.slice('/api/audit'.length) + url.search);
    if (path.startsWith('/api/vaults/')) {
      // /api/vaults/_/admin/… → the vault service's admin API; /api/vaults/{vault}/… → that vault's data plane.
      const [, , , vault = '', ...rest] = path.split('/');
      const host = vault === '_' ? 'localhost' : VAULT_NAME.test(vault) ? `${vault.toLowerCase()}.vault.${o.domain}` : undefined;
      if (!host) return json(res, 400, { error: { code: 'BadParameter', message: 'not a vault name' } });
      return proxy(req, res, new URL(`https://${host}:${o.vaultPort}`), `/${rest.join('/')}${url.search}`);
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { error: { code: 'MethodNotAllowed', message: 'static files only' } });
    // Static files; every other path is the app (client-side routes).
    let file: string;
    try {
      file = normalize(join(root, decodeURIComponent(path)));
    } catch {
      return json(res, 400, { error: { code: 'BadParameter', message: 'malformed path' } });
    }
    const target = file.startsWith(`${root}${sep}`) && existsSync(file) && statSync(file).isFile() ? file : join(root, 'index.html');
    if (!existsSync(target)) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' });
      return void res.end('The console is not built: run "npm run console:build".');
    }
    res.writeHead(200, {
      'content-type': TYPES[extname(target)] ?? 'application/octet-stream',
      'cache-control': target.endsWith('index.html') ? 'no-store' : 'public, max-age=3600',
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
      'content-security-policy': "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    });
    res.end(readFileSync(target));
  }

  function proxy(req: IncomingMessage, res: ServerResponse, upstream: URL, path: string): Promise<void> {
    return new Promise((done, fail) => {
      const headers: Record<string, string> = { host: upstream.host };
      for (const h of FORWARDED) {
        const v = req.headers[h];
        if (typeof v === 'string') headers[h] = v;
      }
      const up = https.request(
        {
          host: upstream.hostname.endsWith('localhost') ? '127.0.0.1' : upstream.hostname,
          servername: upstream.hostname,
          port: upstream.port || 443,
          method: req.method,
          path,
          headers,
          ca: o.tls.ca,
          agent: false,
        },
        (answer) => {
          const out: Record<string, string | string[]> = {};
          for (const [k, v] of Object.entries(answer.headers)) if (v !== undefined && !['connection', 'transfer-encoding', 'set-cookie'].includes(k)) out[k] = v;
          res.writeHead(answer.statusCode ?? 502, out);
          answer.pipe(res);
          answer.on('end', () => done());
          res.on('close', () => answer.destroy());
        },
      );
      up.on('error', fail);
      req.pipe(up);
    });
  }

  await new Promise<void>((ok) => server.listen(o.port, o.bindHost, ok));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `https://localhost:${port}/`,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}
