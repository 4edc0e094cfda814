import { badParameter, ErrorCode, serviceError } from './crypto.errors.js';

/** Azure key types; the `-HSM` ones live in the PKCS#11 token. */
export const KEY_TYPES = ['RSA', 'RSA-HSM', 'EC', 'EC-HSM', 'oct', 'oct-HSM'] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export type KeyFamily = 'RSA' | 'EC' | 'oct';

/** Azure `key_ops`. */
export const KEY_OPERATIONS = ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import', 'export'] as const;
export type KeyOp = (typeof KEY_OPERATIONS)[number];

export const CURVE_NAMES = ['P-256', 'P-256K', 'P-384', 'P-521'] as const;
export type Curve = (typeof CURVE_NAMES)[number];

export function parseKeyType(kty: string): KeyType {
  if ((KEY_TYPES as readonly string[]).includes(kty)) return kty as KeyType;
  throw badParameter(`kty must be one of ${KEY_TYPES.join(', ')}`, { field: 'kty' });
}

export function familyOf(kty: KeyType): KeyFamily {
  return kty.startsWith('RSA') ? 'RSA' : kty.startsWith('EC') ? 'EC' : 'oct';
}

export function isHsmType(kty: KeyType): boolean {
  return kty.endsWith('-HSM');
}

export function keyTypeOf(family: KeyFamily, hsm: boolean): KeyType {
  return (hsm ? `${family}-HSM` : family) as KeyType;
}

/** Which operations a key family can carry at all. */
const ALLOWED_OPS: Readonly<Record<KeyFamily, readonly KeyOp[]>> = {
  RSA: ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'import', 'export'],
  EC: ['sign', 'verify', 'export'],
  oct: ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey', 'export'],
};

/** Azure's defaults when a create/import names no key_ops. */
const DEFAULT_OPS: Readonly<Record<KeyFamily, readonly KeyOp[]>> = {
  RSA: ['encrypt', 'decrypt', 'sign', 'verify', 'wrapKey', 'unwrapKey'],
  EC: ['sign', 'verify'],
  oct: ['encrypt', 'decrypt', 'wrapKey', 'unwrapKey'],
};

/** Validates key_ops for a family (deduplicated, in the given order); empty → Azure's defaults. */
export function normalizeKeyOps(ops: readonly string[] | null | undefined, family: KeyFamily): KeyOp[] {
  const list = ops ?? [];
  if (list.length === 0) return [...DEFAULT_OPS[family]];
  const out: KeyOp[] = [];
  for (const op of list) {
    if (!(KEY_OPERATIONS as readonly string[]).includes(op)) throw badParameter(`'${String(op).slice(0, 20)}' is not a key operation`, { field: 'key_ops' });
    if (!ALLOWED_OPS[family].includes(op as KeyOp)) throw badParameter(`key operation ${op} is not possible with ${family} keys`, { field: 'key_ops' });
    if (!out.includes(op as KeyOp)) out.push(op as KeyOp);
  }
  return out;
}

export interface Attributes {
  readonly enabled: boolean;
  /** Unix seconds or null. */
  readonly notBefore: number | null;
  readonly expires: number | null;
  readonly exportable: boolean;
}

export interface AttributesInput {
  readonly enabled?: boolean | null;
  readonly notBefore?: number | null;
  readonly expires?: number | null;
  readonly exportable?: boolean | null;
}

const MAX_UNIX = 253402300799; // 9999-12-31

function seconds(value: number | null | undefined, field: string): number | null {
  if (value === null || value === undefined || value === 0) return null;
  if (!Number.isInteger(value) || value < 0 || value > MAX_UNIX) throw badParameter(`${field} must be unix seconds`, { field });
  return value;
}

/** Attributes of a request; absent → enabled with no nbf/exp. */
export function normalizeAttributes(input: AttributesInput | null | undefined): Attributes {
  if (!input) return { enabled: true, notBefore: null, expires: null, exportable: false };
  const notBefore = seconds(input.notBefore, 'attributes.notBefore');
  const expires = seconds(input.expires, 'attributes.expires');
  if (notBefore !== null && expires !== null && expires <= notBefore) throw badParameter('attributes.expires must be after attributes.notBefore', { field: 'attributes.expires' });
  return { enabled: input.enabled !== false, notBefore, expires, exportable: input.exportable === true };
}

/** Public parts recorded in events (base64url), never private ones. */
export type PublicKeyData =
  | { readonly kty: 'RSA'; readonly n: string; readonly e: string }
  | { readonly kty: 'EC'; readonly crv: Curve; readonly x: string; readonly y: string };

/** One key version as events record it. */
export interface KeyVersionData {
  readonly tenant: string;
  readonly vault: string;
  readonly name: string;
  readonly version: string;
  readonly kty: KeyType;
  readonly hsm: boolean;
  readonly sizeBits: number;
  readonly crv: Curve | null;
  readonly keyOps: readonly KeyOp[];
  readonly enabled: boolean;
  readonly notBefore: number | null;
  readonly expires: number | null;
  readonly exportable: boolean;
  readonly publicKey: PublicKeyData | null;
  /** Reference to the material (a wrapped-material row or a token object): never the material. */
  readonly materialId: string;
  readonly created: number;
}

/** The operations on a key that policy checks. */
export type KeyUse = 'encrypt' | 'decrypt' | 'wrapKey' | 'unwrapKey' | 'sign' | 'verify' | 'import';

/** Uses that need the key inside nbf/exp (Azure: decrypt, unwrap and verify keep working outside). */
const TIME_BOUND: ReadonlySet<KeyUse> = new Set(['encrypt', 'wrapKey', 'sign']);

export interface KeyUsePolicyInput {
  readonly enabled: boolean;
  readonly notBefore: number | null;
  readonly expires: number | null;
  readonly keyOps: readonly string[];
}

/** Throws the refusal for using this key version now, or returns. */
export function assertKeyUsable(key: KeyUsePolicyInput, use: KeyUse, nowSeconds: number): void {
  if (!key.enabled) throw serviceError(ErrorCode.KeyDisabled, 'the key is disabled');
  if (!key.keyOps.includes(use)) throw serviceError(ErrorCode.KeyOperationNotAllowed, `the key's key_ops do not include ${use}`, { operation: use });
  if (TIME_BOUND.has(use)) {
    if (key.notBefore !== null && nowSeconds < key.notBefore) throw serviceError(ErrorCode.KeyNotYetValid, 'the key is not yet valid (nbf)');
    if (key.expires !== null && nowSeconds >= key.expires) throw serviceError(ErrorCode.KeyExpired, 'the key has expired (exp)');
  }
}
