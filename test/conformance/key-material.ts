/**
 * What the keys replay checks in place of values (shared/conformance README, "Keys and
 * certificates"): key material, signatures, ciphertexts, wrapped keys, random bytes and backup
 * blobs are real but never the recorded ones, so their shape is checked — present, base64url,
 * a plausible length for the key type or algorithm — and the JWK fields per key type.
 * The set of JSON keys is compared with the recording separately (shape.ts).
 */

const BASE64URL = /^[A-Za-z0-9_-]+$/;
const VERSION = /^[0-9a-f]{32}$/;
/** Coordinate (and raw r‖s half) length in bytes per curve. */
const CURVE_BYTES: Readonly<Record<string, number>> = { 'P-256': 32, 'P-256K': 32, 'P-384': 48, 'P-521': 66 };
const ES_BYTES: Readonly<Record<string, number>> = { ES256: 64, ES256K: 64, ES384: 96, ES512: 132 };
const PRIVATE_RSA = ['d', 'p', 'q', 'dp', 'dq', 'qi'];

/** Decoded length of a base64url string, or undefined when it is not one. */
export function base64urlBytes(v: unknown): number | undefined {
  if (typeof v !== 'string' || !BASE64URL.test(v) || v.length % 4 === 1) return undefined;
  return Buffer.from(v, 'base64url').length;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A kid as Keyledger must build it: `<origin>/keys/<name>/<32-hex version>`. */
function kidProblems(kid: unknown, origin: string, where: string): string[] {
  if (typeof kid !== 'string') return [`${where}.kid is not a string`];
  const prefix = `${origin}/keys/`;
  if (!kid.startsWith(prefix)) return [`${where}.kid "${kid.slice(0, 120)}" does not start with ${prefix}`];
  const parts = kid.slice(prefix.length).split('/');
  if (parts.length !== 2 || !parts[0] || !VERSION.test(parts[1] ?? '')) return [`${where}.kid "${kid.slice(0, 120)}" is not <name>/<32-hex version>`];
  return [];
}

/** The public JWK of a key bundle, by key type; never private parts. */
export function jwkProblems(key: unknown, origin: string, where = 'key'): string[] {
  if (!isObject(key)) return [`${where} is not an object`];
  const out = kidProblems(key.kid, origin, where);
  if (!Array.isArray(key.key_ops) || key.key_ops.some((op) => typeof op !== 'string')) out.push(`${where}.key_ops is not a list of operations`);
  const kty = String(key.kty);
  if (kty === 'RSA' || kty === 'RSA-HSM') {
    const n = base64urlBytes(key.n);
    const e = base64urlBytes(key.e);
    if (n === undefined || n < 256 || n > 512) out.push(`${where}.n is not the base64url of a 2048–4096-bit modulus`);
    if (e === undefined || e < 1 || e > 8) out.push(`${where}.e is not a base64url public exponent`);
    if (n !== undefined && Buffer.from(String(key.n), 'base64url')[0] === 0) out.push(`${where}.n has a leading zero byte (Azure answers the normalized n)`);
    for (const k of PRIVATE_RSA) if (k in key) out.push(`${where}.${k} (private key material) is in a response`);
  } else if (kty === 'EC' || kty === 'EC-HSM') {
    const size = CURVE_BYTES[String(key.crv)];
    if (size === undefined) out.push(`${where}.crv "${String(key.crv)}" is not an Azure curve`);
    else for (const c of ['x', 'y']) if (base64urlBytes(key[c]) !== size) out.push(`${where}.${c} is not a ${size}-byte base64url coordinate of ${String(key.crv)}`);
    if ('d' in key) out.push(`${where}.d (private key material) is in a response`);
    if ('key_size' in key) out.push(`${where}.key_size is set on an EC key`);
  } else if (kty === 'oct' || kty === 'oct-HSM') {
    if ('k' in key) out.push(`${where}.k (key material) is in a response`);
  } else out.push(`${where}.kty "${kty}" is not an Azure key type`);
  return out;
}

/**
 * Problems with the material in one of Keyledger's 2xx answers to a keys request: the JWK of
 * a key bundle or deleted key, `{kid, value}` of a cryptographic operation, `{value: true}` of
 * verify, a backup blob, the random bytes of `/rng`.
 */
export function keyMaterialProblems(path: string, requestBody: unknown, body: unknown, origin: string): string[] {
  if (!isObject(body)) return [];
  const op = /\/(sign|verify|encrypt|decrypt|wrapkey|unwrapkey|backup|rng)$/i.exec(path)?.[1]?.toLowerCase();
  const req = isObject(requestBody) ? requestBody : {};
  if (isObject(body.key)) return jwkProblems(body.key, origin);
  if (Array.isArray(body.value)) {
    return body.value.flatMap((item, i) => (isObject(item) && typeof item.kid === 'string' && item.kid.startsWith(`${origin}/`) ? kidProblems(item.kid, origin, `value[${i}]`) : []));
  }
  switch (op) {
    case 'verify':
      return body.value === true ? [] : [`verify answered ${JSON.stringify(body.value)}, expected true`];
    case 'sign': {
      const bytes = base64urlBytes(body.value);
      const alg = String(req.alg);
      const want = ES_BYTES[alg];
      const problems = kidProblems(body.kid, origin, '(body)');
      if (bytes === undefined) problems.push('the signature is not base64url');
      else if (want !== undefined && bytes !== want) problems.push(`an ${alg} signature of ${bytes} bytes (raw r‖s is ${want})`);
      else if (want === undefined && (bytes < 256 || bytes > 512)) problems.push(`an ${alg} signature of ${bytes} bytes (a 2048–4096-bit modulus)`);
      return problems;
    }
    case 'encrypt':
    case 'wrapkey':
    case 'decrypt':
    case 'unwrapkey': {
      const problems = kidProblems(body.kid, origin, '(body)');
      const bytes = base64urlBytes(body.value);
      if (bytes === undefined || bytes === 0) problems.push(`the ${op} result is not base64url`);
      else if ((op === 'encrypt' || op === 'wrapkey') && /^RSA/.test(String(req.alg)) && (bytes < 256 || bytes > 512)) problems.push(`an ${String(req.alg)} ciphertext of ${bytes} bytes`);
      return problems;
    }
    case 'backup':
      return base64urlBytes(body.value) ? [] : ['the backup blob is not base64url'];
    case 'rng': {
      const count = typeof req.count === 'number' ? req.count : undefined;
      const bytes = base64urlBytes(body.value);
      return bytes !== undefined && (count === undefined || bytes === count) ? [] : [`/rng answered ${bytes ?? 'no'} base64url bytes for count ${count}`];
    }
    default:
      return [];
  }
}
