import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyledgerHome, REPO_ROOT } from '#libs/platform';
import { ensureConsoleClient, type AdminCredentials } from './console-client.js';
import { startConsoleServer } from './console-server.js';

// The web console: `npm start` runs it next to the four services (https://localhost:8446).
const home = keyledgerHome();
const port = Number(process.env.CONSOLE_PORT ?? 8446);
const tls = {
  cert: readFileSync(process.env.TLS_CERT_FILE ?? join(home, 'tls', 'server.crt')),
  key: readFileSync(process.env.TLS_KEY_FILE ?? join(home, 'tls', 'server.key')),
  ca: readFileSync(process.env.TLS_CA_FILE ?? join(home, 'tls', 'ca.crt')),
};
const admin = JSON.parse(readFileSync(process.env.BOOTSTRAP_FILE || join(home, 'bootstrap.json'), 'utf8')) as AdminCredentials;
const origin = `https://localhost:${port}`;

/** Identity starts next to the console: its registration is retried for a minute. */
async function registration(): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await ensureConsoleClient(admin, origin, tls.ca);
    } catch (err) {
      if (attempt >= 60) throw err;
      await new Promise((r) => setTimeout(r, 1000));
    }
  }
}

try {
  const clientId = await registration();
  const server = await startConsoleServer({
    port,
    bindHost: process.env.BIND_HOST ?? '127.0.0.1',
    webRoot: join(REPO_ROOT, 'apps', 'console', 'web-dist'),
    tls,
    identityUrl: admin.authorityHost,
    auditUrl: process.env.AUDIT_URL ?? `https://localhost:${process.env.AUDIT_PORT ?? 8444}`,
    vaultPort: Number(process.env.VAULT_PORT ?? 8443),
    domain: process.env.KEYLEDGER_DOMAIN ?? 'localhost',
    tenantId: admin.tenantId,
    clientId,
  });
  process.stdout.write(`${JSON.stringify({ level: 30, msg: 'console listening', url: server.url, clientId })}\n`);
  const stop = (): void => void server.close().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
} catch (err) {
  process.stderr.write(`console: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
