/**
 * Azure's key release policy (secure key release), evaluated against the verified claims of an
 * attestation token. Pure: no I/O, no clock.
 *
 * Grammar (Azure's policy language 1.0.0, the subset Azure documents for claim conditions):
 *   { "version": "1.0.0", "anyOf": [ { "authority": "<issuer URL>", "allOf" | "anyOf": [ cond… ] } ] }
 *   cond = { "claim": "<dotted path>", "equals": <JSON scalar> }
 *        | { "allOf": [ cond… ] } | { "anyOf": [ cond… ] }
 * The release is granted when some top-level `anyOf` member names the token's authority (its
 * `iss`, compared without a trailing slash, case-insensitively on scheme and host) and its
 * conditions hold. Anything else (unknown version, unknown condition operator, malformed node)
 * denies: a policy that cannot be understood never grants.
 */

export type Claims = Readonly<Record<string, unknown>>;

export type PolicyDecision = { readonly granted: true } | { readonly granted: false; readonly reason: string };

const MAX_DEPTH = 16;

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** An issuer URL in a comparable form: trimmed, without trailing slashes. */
export function normalizeAuthority(authority: string): string {
  return authority.trim().replace(/\/+$/, '');
}

const sameAuthority = (a: string, b: string): boolean => normalizeAuthority(a).toLowerCase() === normalizeAuthority(b).toLowerCase();

/** The value at a dotted claim path (`x-ms-runtime.client-payload.nonce`); an exact top-level key wins over a split. */
export function claimAt(claims: Claims, path: string): unknown {
  if (Object.prototype.hasOwnProperty.call(claims, path)) return claims[path];
  const parts = path.split('.');
  let node: unknown = claims;
  for (let i = 0; i < parts.length; i++) {
    if (!isRecord(node)) return undefined;
    // A key that itself contains dots (`x-ms-sevsnpvm-is-debuggable` has none, but be tolerant): try the longest match.
    let matched = false;
    for (let j = parts.length; j > i; j--) {
      const key = parts.slice(i, j).join('.');
      if (Object.prototype.hasOwnProperty.call(node, key)) {
        node = node[key];
        i = j - 1;
        matched = true;
        break;
      }
    }
    if (!matched) return undefined;
  }
  return node;
}

const scalar = (v: unknown): v is string | number | boolean | null => v === null || ['string', 'number', 'boolean'].includes(typeof v);

function holds(cond: unknown, claims: Claims, depth: number): boolean {
  if (depth > MAX_DEPTH || !isRecord(cond)) return false;
  if (Array.isArray(cond.allOf)) return cond.allOf.length > 0 && cond.allOf.every((c) => holds(c, claims, depth + 1));
  if (Array.isArray(cond.anyOf)) return cond.anyOf.some((c) => holds(c, claims, depth + 1));
  if (typeof cond.claim !== 'string' || cond.claim === '') return false;
  if (!('equals' in cond) || !scalar(cond.equals)) return false;
  const actual = claimAt(claims, cond.claim);
  if (!scalar(actual)) return false;
  // Azure compares booleans and strings as JSON values; a string "true" does not equal true.
  return actual === cond.equals;
}

/**
 * Grants when the policy (the decoded JSON document of `release_policy.data`) is satisfied by
 * the claims of a token issued by `issuer` (already verified: signature, trust, exp/nbf).
 */
export function evaluateReleasePolicy(policy: unknown, issuer: string, claims: Claims): PolicyDecision {
  if (!isRecord(policy)) return { granted: false, reason: 'The release policy is not a JSON object.' };
  if (policy.version !== undefined && policy.version !== '1.0.0' && policy.version !== '1.0') {
    return { granted: false, reason: 'The release policy version is not supported.' };
  }
  if (!Array.isArray(policy.anyOf) || policy.anyOf.length === 0) return { granted: false, reason: "The release policy has no 'anyOf' rules." };
  let authorityMatched = false;
  for (const rule of policy.anyOf) {
    if (!isRecord(rule) || typeof rule.authority !== 'string') continue;
    if (!sameAuthority(rule.authority, issuer)) continue;
    authorityMatched = true;
    const conditions = Array.isArray(rule.allOf) ? { allOf: rule.allOf } : Array.isArray(rule.anyOf) ? { anyOf: rule.anyOf } : null;
    if (conditions !== null && holds(conditions, claims, 0)) return { granted: true };
  }
  return { granted: false, reason: authorityMatched ? 'The attestation claims do not satisfy the release policy.' : 'The attestation authority is not named by the release policy.' };
}
