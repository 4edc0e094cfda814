import type { KeyVersionRecord } from '../adapters/persistence/keys.repository.js';
import type { KeyVersionData } from '../domain/key.model.js';

/** A key version as the API returns it (proto KeyVersion; public parts as raw bytes). */
export interface KeyVersionView {
  readonly ref: { tenant: string; vault: string; collection: 'keys'; name: string; version: string };
  readonly key: { kty: string; keyOps: string[]; n: Buffer; e: Buffer; crv: string; x: Buffer; y: Buffer };
  readonly attributes: { enabled: boolean; notBefore: number; expires: number; exportable: boolean };
  readonly hsm: boolean;
  readonly created: number;
  readonly updated: number;
  /** Unix seconds of the key's soft delete; 0 while live. */
  readonly deleted: number;
}

const EMPTY = Buffer.alloc(0);
const bytes = (b64url: string | undefined): Buffer => (b64url ? Buffer.from(b64url, 'base64url') : EMPTY);

export function keyVersionView(k: KeyVersionRecord | (KeyVersionData & { readonly updated?: number; readonly deleted?: number | null })): KeyVersionView {
  const pk = k.publicKey;
  return {
    ref: { tenant: k.tenant, vault: k.vault, collection: 'keys', name: k.name, version: k.version },
    key: {
      kty: k.kty,
      keyOps: [...k.keyOps],
      n: pk?.kty === 'RSA' ? bytes(pk.n) : EMPTY,
      e: pk?.kty === 'RSA' ? bytes(pk.e) : EMPTY,
      crv: pk?.kty === 'EC' ? pk.crv : '',
      x: pk?.kty === 'EC' ? bytes(pk.x) : EMPTY,
      y: pk?.kty === 'EC' ? bytes(pk.y) : EMPTY,
    },
    attributes: { enabled: k.enabled, notBefore: k.notBefore ?? 0, expires: k.expires ?? 0, exportable: k.exportable },
    hsm: k.hsm,
    created: k.created,
    updated: k.updated ?? k.created,
    deleted: k.deleted ?? 0,
  };
}
