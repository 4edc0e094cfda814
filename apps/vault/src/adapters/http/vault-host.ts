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

/**
 * The token audiences the vault accepts: `https://vault.<domain>`, and the same with each port
 * other than 443 it is reached on (its own port, the port of its public URL). The Python SDKs
 * compare the challenge's resource with the vault's host AND port, the Node SDKs the host only:
 * on a port other than 443 the challenge names the port, and a token for either form is valid.
 */
export function vaultAudiences(domain: string, ports: readonly (number | undefined)[]): string[] {
  const base = `https://vault.${domain.toLowerCase()}`;
  const withPorts = ports.filter((p): p is number => p !== undefined && Number.isInteger(p) && p > 0 && p < 65536 && p !== 443).map((p) => `${base}:${p}`);
  return [...new Set([base, ...withPorts])];
}

/** The port of a vault URL or URL template (`https://{vault}.vault.example.com:9443`), if it names one. */
export function portOfUrl(url: string): number | undefined {
  if (!url) return undefined;
  try {
    const port = new URL(url.replaceAll('{vault}', 'vault')).port;
    return port === '' ? undefined : Number(port);
  } catch {
    return undefined;
  }
}

/**
 * The resource a 401 challenge names for a request that reached the vault at `origin`: the
 * accepted audience carrying the origin's port when there is one (`https://vault.localhost:8443`
 * for `https://dev.vault.localhost:8443`), else the port-less one (`audiences[0]`).
 */
export function challengeResource(audiences: readonly string[], origin: string | undefined): string {
  const base = audiences[0]!;
  if (origin === undefined) return base;
  let port = '';
  try {
    port = new URL(origin).port;
  } catch {
    return base;
  }
  const withPort = `${base}:${port}`;
  return port !== '' && audiences.includes(withPort) ? withPort : base;
}
