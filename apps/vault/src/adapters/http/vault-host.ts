/**
 * Vault addressing by host name (DESIGN §5): `{vault}.vault.<domain>[:port]` selects a
 * vault; `localhost`, `127.0.0.1` and `[::1]` select the default vault. Object ids are built
 * from the origin the client used (or a configured public URL behind a proxy), never from an
 * internal name: the SDKs send follow-up calls to the id's origin.
 */
const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

export type HostResolution = { readonly vault: string; readonly origin: string };

function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1).toLowerCase();
  const colon = host.lastIndexOf(':');
  return (colon < 0 ? host : host.slice(0, colon)).toLowerCase();
}

export function resolveVaultHost(host: string | undefined, options: { domain: string; defaultVault: string; publicUrl: string }): HostResolution | undefined {
  if (host === undefined || !HOST.test(host)) return undefined;
  const hostname = hostnameOf(host).replace(/\.$/, '');
  let vault: string | undefined;
  if (LOOPBACK.has(hostname)) vault = options.defaultVault;
  else {
    const suffix = `.vault.${options.domain.toLowerCase()}`;
    if (hostname.endsWith(suffix)) {
      const label = hostname.slice(0, -suffix.length);
      if (label.length > 0 && !label.includes('.')) vault = label;
    }
  }
  if (vault === undefined) return undefined;
  const origin = options.publicUrl ? options.publicUrl.replaceAll('{vault}', vault).replace(/\/+$/, '') : `https://${host.toLowerCase()}`;
  return { vault, origin };
}
