import { ENCRYPTION_ALGORITHMS, KEY_WRAP_ALGORITHMS, SIGNATURE_ALGORITHMS, SIGNATURE_SCHEMES, type SignatureAlgorithm } from '#libs/crypto-core';
import { badParameter } from '../vault.errors.js';

/**
 * Azure's cryptographic operations on a key (`POST /keys/{name}/{version}/{operation}`) as
 * pure input rules: which algorithms each operation takes, the request bodies
 * (`KeyOperationsParameters`, `KeySignParameters`, `KeyVerifyParameters`) and `GetRandomBytesRequest`,
 * with Azure's 400 BadParameter messages. Nothing here sees a key: key type, key_ops and
 * validity are the crypto service's checks.
 */

/** The operations, by the name `key_ops` and the crypto service use. */
export type KeyOperationName = 'encrypt' | 'decrypt' | 'wrapKey' | 'unwrapKey' | 'sign' | 'verify';

/** Azure's key names (the same rule as secrets): 1–127 of `0-9a-zA-Z-`. */
export const KEY_NAME = /^[0-9a-zA-Z-]{1,127}$/;
/** Key versions: 32 hex characters (case-insensitive on the wire, lower-case inside). */
export const KEY_VERSION = /^[0-9a-f]{32}$/;

/** Azure names `RSNULL` (raw RSA over a caller-built DigestInfo) but Keyledger does not sign with it. */
const UNSUPPORTED_SIGNATURE = new Set(['RSNULL']);

/** Algorithms each operation accepts (Azure's names, crypto-core's tables). */
export const ALGORITHMS_OF: Readonly<Record<KeyOperationName, readonly string[]>> = {
  encrypt: ENCRYPTION_ALGORITHMS,
  decrypt: ENCRYPTION_ALGORITHMS,
  wrapKey: KEY_WRAP_ALGORITHMS,
  unwrapKey: KEY_WRAP_ALGORITHMS,
  sign: SIGNATURE_ALGORITHMS,
  verify: SIGNATURE_ALGORITHMS,
};

/** Largest decoded `value`/`aad` the vault forwards (the crypto service's own default limit). */
export const MAX_OPERATION_VALUE_BYTES = 65_536;
/** Largest decoded iv, tag or signature. */
const MAX_PARAMETER_BYTES = 2_048;

export type KeyOperationInput = {
  readonly algorithm: string;
  /** Plaintext, ciphertext, key to wrap/unwrap, or the digest (sign, verify). */
  readonly value: Buffer;
  readonly iv?: Buffer;
  readonly aad?: Buffer;
  readonly tag?: Buffer;
  /** verify only. */
  readonly signature?: Buffer;
};

export function assertKeyName(name: string): string {
  if (!KEY_NAME.test(name)) throw badParameter(`The request URI contains an invalid name: ${truncate(name, 160)}`, { reason: 'InvalidName' });
  return name;
}

/** '' = the latest version. */
export function assertKeyVersion(version: string): string {
  if (version === '') return '';
  const v = version.toLowerCase();
  if (!KEY_VERSION.test(v)) throw badParameter(`The request URI contains an invalid version: ${truncate(version, 64)}`, { reason: 'InvalidVersion' });
  return v;
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;

/**
 * Decodes a base64url field strictly (no `+`, `/`, whitespace; padding tolerated), or
 * returns a validation message in Azure's words.
 */
function decodeBase64Url(raw: unknown, field: string): Buffer | string {
  if (typeof raw !== 'string') return `Content of '${field}' is not base64url.`;
  const unpadded = raw.replace(/={1,2}$/, '');
  if (!BASE64URL.test(unpadded) || unpadded.length % 4 === 1) return `Content of '${field}' is not base64url.`;
  return Buffer.from(unpadded, 'base64url');
}

const isRecord = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

function truncate(s: string, max: number): string {
  const printable = s.replace(/[^\x20-\x7e]/g, '?');
  return printable.length > max ? `${printable.slice(0, max)}…` : printable;
}

/** Azure joins its request-validation messages with CRLF, one line each. */
function validationFailure(lines: readonly string[]): never {
  throw badParameter(lines.map((l) => `${l}\r\n`).join(''), { reason: 'Validation' });
}

const KNOWN_ALGORITHMS: ReadonlySet<string> = new Set<string>([...ENCRYPTION_ALGORITHMS, ...KEY_WRAP_ALGORITHMS, ...SIGNATURE_ALGORITHMS, ...UNSUPPORTED_SIGNATURE]);

/** A well-formed algorithm name to put in the audit record (Azure's own names only), else undefined. */
export function auditableAlgorithm(raw: unknown): string | undefined {
  return typeof raw === 'string' && KNOWN_ALGORITHMS.has(raw) ? raw : undefined;
}

/**
 * Parses the body of encrypt/decrypt/wrapkey/unwrapkey (`{alg, value, iv?, aad?, tag?}`), sign
 * (`{alg, value}` = digest) or verify (`{alg, digest, value}` = signature). Unknown members are
 * ignored, as Azure ignores them.
 */
export function parseKeyOperation(operation: KeyOperationName, raw: unknown): KeyOperationInput {
  if (!isRecord(raw)) throw badParameter('The request body is missing or is not a JSON object.', { reason: 'BodyMissing' });
  const problems: string[] = [];
  const alg = raw.alg;
  if (alg === undefined || alg === null) problems.push("Property 'alg' is required.");
  else if (typeof alg !== 'string' || alg === '') problems.push("Property 'alg' has invalid value");

  const decoded = (field: string, required: boolean): Buffer | undefined => {
    const v = raw[field];
    if (v === undefined || v === null) {
      if (required) problems.push(`Property '${field}' is required.`);
      return undefined;
    }
    const d = decodeBase64Url(v, field);
    if (typeof d === 'string') {
      problems.push(d);
      if (required) problems.push(`Property '${field}' is required.`);
      return undefined;
    }
    return d;
  };

  const isVerify = operation === 'verify';
  const value = decoded(isVerify ? 'digest' : 'value', true);
  const signature = isVerify ? decoded('value', true) : undefined;
  const iv = !isVerify && operation !== 'sign' ? decoded('iv', false) : undefined;
  const aad = !isVerify && operation !== 'sign' ? decoded('aad', false) : undefined;
  const tag = !isVerify && operation !== 'sign' ? decoded('tag', false) : undefined;
  if (problems.length > 0) validationFailure(problems);

  const algorithm = alg as string;
  if (UNSUPPORTED_SIGNATURE.has(algorithm) && (operation === 'sign' || operation === 'verify')) {
    throw badParameter(`Algorithm ${algorithm} is not supported by this service; use RS256, RS384 or RS512.`, { reason: 'UnsupportedAlgorithm' });
  }
  if (!ALGORITHMS_OF[operation].includes(algorithm)) {
    throw badParameter(`Invalid algorithm '${truncate(algorithm, 40)}' for the ${operation} operation. Supported: ${ALGORITHMS_OF[operation].join(', ')}.`, { reason: 'UnknownAlgorithm' });
  }
  const v = value as Buffer;
  if (operation === 'sign' || operation === 'verify') {
    const scheme = SIGNATURE_SCHEMES[algorithm as SignatureAlgorithm];
    if (v.length !== scheme.digestBytes) {
      throw badParameter(`Invalid length of '${isVerify ? 'digest' : 'value'}': ${v.length} bytes. ${algorithm} requires ${scheme.digestBytes} bytes, encoded with base64url.`, { reason: 'DigestLength' });
    }
  }
  if (v.length > MAX_OPERATION_VALUE_BYTES) throw badParameter(`Invalid length of 'value': ${v.length} bytes. At most ${MAX_OPERATION_VALUE_BYTES} bytes are accepted.`, { reason: 'ValueLength' });
  if ((aad?.length ?? 0) > MAX_OPERATION_VALUE_BYTES) throw badParameter(`Invalid length of 'aad': ${aad?.length ?? 0} bytes. At most ${MAX_OPERATION_VALUE_BYTES} bytes are accepted.`, { reason: 'AadLength' });
  for (const [field, b] of [['iv', iv], ['tag', tag], ['value', signature]] as const) {
    if ((b?.length ?? 0) > MAX_PARAMETER_BYTES) throw badParameter(`Invalid length of '${field}': ${b?.length ?? 0} bytes.`, { reason: 'ParameterLength' });
  }
  return { algorithm, value: v, ...(iv ? { iv } : {}), ...(aad ? { aad } : {}), ...(tag ? { tag } : {}), ...(signature ? { signature } : {}) };
}

/** `GetRandomBytesRequest` → count (1..128), with Azure's message for anything else. */
export function parseRandomBytesCount(raw: unknown): number {
  const count = isRecord(raw) ? raw.count : undefined;
  if (count === undefined || count === null) validationFailure(["Property 'count' is required."]);
  if (typeof count !== 'number' || !Number.isInteger(count) || count < 1 || count > 128) {
    throw badParameter('GetRandomBytesRequest: count cannot be greater than 128 or less than 1', { reason: 'Count' });
  }
  return count;
}
