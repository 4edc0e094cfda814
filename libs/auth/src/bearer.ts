import { DomainError } from '#libs/kernel';

/**
 * The `Authorization: Bearer …` header and Azure's `WWW-Authenticate` challenge.
 *
 * The challenge must be exactly what the Azure SDKs parse (see AZURE-COMPAT.md and the recorded
 * Azure responses in shared/conformance):
 *   Bearer authorization="https://login.microsoftonline.com/{tenant}", resource="https://vault.azure.net"
 * double-quoted values, `, ` between pairs, no trailing slash on either value.
 */

/** RFC 6750 b64token (token68): what a JWT or any opaque bearer token may contain. */
const TOKEN68 = /^[A-Za-z0-9\-._~+/]+=*$/;
const MAX_HEADER_LENGTH = 16 * 1024;

/**
 * Returns the bearer token of an `Authorization` header value (scheme case-insensitive).
 * Throws `TokenMissing` when there is no header, an empty one, or another scheme (Basic, …),
 * and `TokenInvalid` when it says Bearer but the credentials are malformed or the header repeats.
 * Messages never include the header's content.
 */
export function parseBearerToken(header: string | readonly string[] | undefined | null): string {
  if (header === undefined || header === null) throw new DomainError('TokenMissing', 'no Authorization header');
  if (typeof header !== 'string') {
    if (header.length === 0) throw new DomainError('TokenMissing', 'no Authorization header');
    if (header.length > 1) throw new DomainError('TokenInvalid', 'more than one Authorization header');
    return parseBearerToken(header[0]);
  }
  const value = header.trim();
  if (value.length === 0) throw new DomainError('TokenMissing', 'empty Authorization header');
  if (value.length > MAX_HEADER_LENGTH) throw new DomainError('TokenInvalid', 'Authorization header too long');
  const space = value.search(/[ \t]/);
  const scheme = space < 0 ? value : value.slice(0, space);
  if (scheme.toLowerCase() !== 'bearer') throw new DomainError('TokenMissing', 'Authorization header does not use the Bearer scheme');
  const token = space < 0 ? '' : value.slice(space).trim();
  if (token.length === 0) throw new DomainError('TokenMissing', 'Bearer scheme without a token');
  if (!TOKEN68.test(token)) throw new DomainError('TokenInvalid', 'Bearer token is malformed');
  return token;
}

export type BearerChallengeOptions = {
  /** Identity service base URL, e.g. `https://localhost:9443` (a trailing slash is removed). */
  readonly authority: string;
  readonly tenantId: string;
  /** `https://vault.<domain>` (a trailing slash is removed). Exactly one of `resource` / `scope`. */
  readonly resource?: string;
  /** Alternative to `resource`, e.g. `https://vault.<domain>/.default`. */
  readonly scope?: string;
};

const FORBIDDEN_IN_QUOTED = /["\\\r\n\u0000-\u001f\u007f]/;

function quotedValue(name: string, value: string): string {
  if (FORBIDDEN_IN_QUOTED.test(value)) throw new Error(`challenge ${name} contains characters that cannot appear in a quoted header value`);
  return value;
}

const withoutTrailingSlash = (s: string): string => s.replace(/\/+$/, '');

function httpsUrl(name: string, raw: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`challenge ${name} is not a URL`);
  }
  if (url.protocol !== 'https:') throw new Error(`challenge ${name} must be an https URL`);
  return withoutTrailingSlash(raw.trim());
}

/** Builds the `WWW-Authenticate` value for a 401: `Bearer authorization="…/<tenant>", resource="…"`. */
export function buildBearerChallenge(options: BearerChallengeOptions): string {
  const authority = httpsUrl('authority', options.authority);
  const tenant = options.tenantId.trim();
  if (!/^[A-Za-z0-9._-]{1,128}$/.test(tenant)) throw new Error('challenge tenantId is malformed');
  const authorization = quotedValue('authorization', `${authority}/${tenant}`);
  if ((options.resource === undefined) === (options.scope === undefined)) throw new Error('challenge needs exactly one of resource or scope');
  if (options.resource !== undefined) {
    return `Bearer authorization="${authorization}", resource="${quotedValue('resource', httpsUrl('resource', options.resource))}"`;
  }
  return `Bearer authorization="${authorization}", scope="${quotedValue('scope', withoutTrailingSlash((options.scope as string).trim()))}"`;
}
