import type { ApplicationRow } from '../adapters/persistence/identity.repository.js';

/**
 * Microsoft's well-known first-party public clients, known to every tenant as in Entra ID:
 * a user signs in to them without registering anything. They have no secret; device code and
 * authorization code + PKCE are allowed, with the loopback redirect URIs Entra ID registers for
 * them (any port, RFC 8252 §7.3).
 *
 * - Azure CLI (`az login`; also the default client of `@azure/identity`'s and azure-identity's
 *   DeviceCodeCredential and InteractiveBrowserCredential, "developer sign-on");
 * - Azure PowerShell (`Connect-AzAccount`).
 */
export const FIRST_PARTY_CLIENTS: ReadonlyArray<{ readonly appId: string; readonly displayName: string; readonly redirectUris: readonly string[] }> = [
  { appId: '04b07795-8ddb-461a-bbee-02f9e1bf7b46', displayName: 'Microsoft Azure CLI', redirectUris: ['http://localhost'] },
  { appId: '1950a258-227b-4e31-a9cf-717495945fc2', displayName: 'Microsoft Azure PowerShell', redirectUris: ['http://localhost'] },
];

/** The first-party client with this id, as the tenant's application; undefined for any other id. */
export function firstPartyClient(tenantId: string, clientId: string): ApplicationRow | undefined {
  const known = FIRST_PARTY_CLIENTS.find((c) => c.appId === clientId.toLowerCase());
  return known
    ? { app_id: known.appId, tenant_id: tenantId, display_name: known.displayName, redirect_uris: [...known.redirectUris], public_client: true, created_at: new Date(0) }
    : undefined;
}

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Whether a redirect URI a request names is registered: the same string, or — for an http
 * loopback URI — the same host and path on any port (native apps listen on an ephemeral port).
 */
export function redirectUriRegistered(registered: readonly string[], requested: string): boolean {
  if (registered.includes(requested)) return true;
  let r: URL;
  try {
    r = new URL(requested);
  } catch {
    return false;
  }
  if (r.protocol !== 'http:' || !LOOPBACK.has(r.hostname) || r.hash !== '' || r.username !== '' || r.password !== '') return false;
  return registered.some((uri) => {
    let u: URL;
    try {
      u = new URL(uri);
    } catch {
      return false;
    }
    return u.protocol === 'http:' && u.hostname === r.hostname && u.pathname === r.pathname && u.search === r.search;
  });
}
