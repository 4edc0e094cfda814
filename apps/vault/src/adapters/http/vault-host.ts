import type { ContainerKind } from '../../domain/vault/vault.events.js';

/**
 * Container addressing by host name (DESIGN §5): `{vault}.vault.<domain>[:port]` selects a
 * vault, `{pool}.managedhsm.<domain>[:port]` a Managed HSM pool (its own namespace: a pool may
 * share a vault's name, as in Azure, where they are different resource types);
 * `localhost`, `127.0.0.1` and `[::1]` select the default vault. Object ids are built from the
 * origin the client used (or a configured public URL behind a proxy), never from an internal
 * name: the SDKs send follow-up calls to the id's origin.
 */
const HOST = /^(?:\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+)(?::\d{1,5})?$/;
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

/** The two kinds of container the vault service serves (the domain's type). */
export type { ContainerKind };

/** `vault`: the container's name (a vault's or a pool's, per `kind`). */
export type HostResolution = { readonly vault: string; readonly kind: ContainerKind; readonly origin: string };

export type HostOptions = {
  readonly domain: string;
  readonly defaultVault: string;
  /** Public origin template of vaults (`{vault}` replaced), '' for the Host header's. */
  readonly publicUrl: string;
  /** Public origin template of pools (`{pool}` replaced), '' for the Host header's. */
  readonly publicHsmUrl?: string;
};

function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1).toLowerCase();
  const colon = host.lastIndexOf(':');
  return (colon < 0 ? host : host.slice(0, colon)).toLowerCase();
}

/** The single label before `suffix` in `hostname`, if `hostname` is `{label}{suffix}`. */
function labelBefore(hostname: string, suffix: string): string | undefined {
  if (!hostname.endsWith(suffix)) return undefined;
  const label = hostname.slice(0, -suffix.length);
  return label.length > 0 && !label.includes('.') ? label : undefined;
}

export function resolveVaultHost(host: string | undefined, options: HostOptions): HostResolution | undefined {
  if (host === undefined || !HOST.test(host)) return undefined;
  const hostname = hostnameOf(host).replace(/\.$/, '');
  const domain = options.domain.toLowerCase();
  if (LOOPBACK.has(hostname)) return { vault: options.defaultVault, kind: 'vault', origin: originOf(host, options.publicUrl, '{vault}', options.defaultVault) };
  const vault = labelBefore(hostname, `.vault.${domain}`);
  if (vault !== undefined) return { vault, kind: 'vault', origin: originOf(host, options.publicUrl, '{vault}', vault) };
  const pool = labelBefore(hostname, `.managedhsm.${domain}`);
  if (pool !== undefined) return { vault: pool, kind: 'managedHsm', origin: originOf(host, options.publicHsmUrl ?? '', '{pool}', pool) };
  return undefined;
}

function originOf(host: string, template: string, placeholder: string, name: string): string {
  return template ? template.replaceAll(placeholder, name).replace(/\/+$/, '') : `https://${host.toLowerCase()}`;
}

/** The kind of container an origin (`https://dev.managedhsm.localhost:8443`) addresses, by its host name alone. */
export function kindOfOrigin(origin: string | undefined, domain: string): ContainerKind {
  if (origin === undefined) return 'vault';
  try {
    return labelBefore(new URL(origin).hostname.toLowerCase(), `.managedhsm.${domain.toLowerCase()}`) !== undefined ? 'managedHsm' : 'vault';
  } catch {
    return 'vault';
  }
}

/**
 * The token audiences the vault accepts: `https://vault.<domain>`, and the same with each port
 * other than 443 it is reached on (its own port, the port of its public URL). The Python SDKs
 * compare the challenge's resource with the vault's host AND port, the Node SDKs the host only:
 * on a port other than 443 the challenge names the port, and a token for either form is valid.
 */
export function vaultAudiences(domain: string, ports: readonly (number | undefined)[], kind: ContainerKind = 'vault'): string[] {
  const base = `https://${kind === 'managedHsm' ? 'managedhsm' : 'vault'}.${domain.toLowerCase()}`;
  const withPorts = ports.filter((p): p is number => p !== undefined && Number.isInteger(p) && p > 0 && p < 65536 && p !== 443).map((p) => `${base}:${p}`);
  return [...new Set([base, ...withPorts])];
}

/** The port of a vault URL or URL template (`https://{vault}.vault.example.com:9443`), if it names one. */
export function portOfUrl(url: string): number | undefined {
  if (!url) return undefined;
  try {
    const port = new URL(url.replaceAll('{vault}', 'vault').replaceAll('{pool}', 'pool')).port;
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
