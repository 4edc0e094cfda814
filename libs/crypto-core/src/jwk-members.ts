import type { JsonWebKey } from 'node:crypto';
import { badParameter } from './crypto.errors.js';

export const RSA_PUBLIC_MEMBERS = ['n', 'e'] as const;
export const RSA_PRIVATE_MEMBERS = ['n', 'e', 'd', 'p', 'q', 'dp', 'dq', 'qi'] as const;
export const EC_PUBLIC_MEMBERS = ['x', 'y'] as const;
export const EC_PRIVATE_MEMBERS = ['x', 'y', 'd'] as const;

/**
 * The named members of a JWK, checked present. For a key exported by Node
 * (`KeyObject.export({ format: 'jwk' })`) they always are; a missing one means a broken key,
 * refused as `BadParameter` (`MalformedKey`) rather than carried on as `undefined`.
 */
export function jwkMembers<const K extends readonly (keyof JsonWebKey & string)[]>(jwk: JsonWebKey, names: K): { [P in K[number]]: string } {
  const out: Partial<Record<K[number], string>> = {};
  for (const name of names) {
    const value: unknown = jwk[name];
    if (typeof value !== 'string') throw badParameter('MalformedKey', `the key has no JWK member '${name}'`);
    out[name as K[number]] = value;
  }
  return out as { [P in K[number]]: string };
}
