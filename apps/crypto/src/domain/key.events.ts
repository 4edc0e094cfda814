import { v, type EventRegistry, type PublishContext, type Validator } from '#libs/kernel';
import { KeyCreatedV2, KeyDeletedV2, KeyDestroyedV2, KeyImportedV2, KeyRecoveredV2, KeyRestoredV2, KeyUpdatedV2, KeyVersionAddedV2 } from '#libs/contracts';
import { CURVE_NAMES, KEY_OPERATIONS, KEY_TYPES, type KeyOp, type KeyVersionData } from './key.model.js';

/**
 * Key lifecycle events (stream `key-{tenant}/{vault}/{name}`, one stream per key name, all
 * versions). They carry public parts and references only: key material lives wrapped in
 * the mutable material table (software) or in the token (HSM), so destroying those is
 * crypto-shredding and the immutable log never yields a key.
 */
export type KeyCreated = { readonly type: 'KeyCreated'; readonly data: KeyVersionData };
/** A new generated version of an existing key. */
export type KeyVersionAdded = { readonly type: 'KeyVersionAdded'; readonly data: KeyVersionData };
export type KeyImported = { readonly type: 'KeyImported'; readonly data: KeyVersionData & { readonly importedFrom: 'jwk' | 'byok' } };
export type KeyUpdated = {
  readonly type: 'KeyUpdated';
  readonly data: {
    readonly version: string;
    readonly enabled: boolean;
    readonly notBefore: number | null;
    readonly expires: number | null;
    readonly keyOps: readonly KeyOp[];
    readonly updated: number;
  };
};
/** Purge: every version's material and token objects are destroyed. */
export type KeyDestroyed = { readonly type: 'KeyDestroyed'; readonly data: { readonly versions: readonly string[]; readonly destroyed: number } };
/** Soft delete: every version stays (material included) but is out of use until recovered or purged. */
export type KeyDeleted = { readonly type: 'KeyDeleted'; readonly data: { readonly versions: readonly string[]; readonly deleted: number } };
export type KeyRecovered = { readonly type: 'KeyRecovered'; readonly data: { readonly versions: readonly string[]; readonly recovered: number } };
/**
 * One version brought back from a backup blob (a restore appends one per version, in the
 * blob's order): its recorded data with fresh material, and when it was restored.
 */
export type KeyRestored = {
  readonly type: 'KeyRestored';
  readonly data: KeyVersionData & { readonly updated: number; readonly restored: number; readonly restoredFromVault: string };
};

export type KeyEvent = KeyCreated | KeyVersionAdded | KeyImported | KeyUpdated | KeyDestroyed | KeyDeleted | KeyRecovered | KeyRestored;

const oneOf = (values: readonly string[]) => (x: unknown): boolean => typeof x === 'string' && values.includes(x);
const unixOrNull = v.nullable(v.int);
const publicKey = (x: unknown): boolean => {
  if (x === null) return true;
  if (typeof x !== 'object' || Array.isArray(x)) return false;
  const o = x as Record<string, unknown>;
  if (o.kty === 'RSA') return v.nonEmpty(o.n) && v.nonEmpty(o.e) && Object.keys(o).length === 3;
  if (o.kty === 'EC') return oneOf(CURVE_NAMES)(o.crv) && v.nonEmpty(o.x) && v.nonEmpty(o.y) && Object.keys(o).length === 4;
  return false;
};

const versionShape = {
  tenant: v.nonEmpty,
  vault: v.nonEmpty,
  name: v.nonEmpty,
  version: v.nonEmpty,
  kty: oneOf(KEY_TYPES),
  hsm: v.boolean,
  sizeBits: v.int,
  crv: v.nullable(oneOf(CURVE_NAMES)),
  keyOps: v.arrayOf(oneOf(KEY_OPERATIONS)),
  enabled: v.boolean,
  notBefore: unixOrNull,
  expires: unixOrNull,
  exportable: v.boolean,
  publicKey,
  materialId: v.nonEmpty,
  created: v.int,
};

/** Refuses any field beyond the declared ones: nothing unplanned (material above all) gets into the log. */
function closed(shape: Record<string, (x: unknown) => boolean>): Validator {
  const base = v.object(shape);
  return (data) => {
    const problems = [...base(data)];
    if (typeof data === 'object' && data !== null) {
      for (const k of Object.keys(data)) if (!(k in shape)) problems.push(`${k} is not an allowed field`);
    }
    return problems;
  };
}

/** A key event's contract names its key explicitly (AppendOptions.object): vault, collection "keys", name. */
function keyIdentity(ctx: PublishContext, type: string): { vault: string; collection: 'keys'; name: string } {
  const o = ctx.object;
  if (!o || o.collection !== 'keys') throw new Error(`${type} appended without its key identity (AppendOptions.object)`);
  return { vault: o.vault, collection: 'keys', name: o.name };
}

/** The published view of one version: public parts and attributes; never the material reference nor the tenant (it is in the envelope). */
const publishedVersion = (type: string) => (d: Record<string, unknown>, ctx: PublishContext): Record<string, unknown> => {
  const { tenant: _tenant, vault: _vault, name: _name, materialId: _material, ...rest } = d;
  return { ...keyIdentity(ctx, type), ...rest };
};
const wholeKey = (type: string) => (d: Record<string, unknown>, ctx: PublishContext): Record<string, unknown> => ({ ...keyIdentity(ctx, type), version: null, ...d });

export function registerKeyEvents(registry: EventRegistry): EventRegistry {
  return registry
    .define({ type: 'KeyCreated', schemaVersion: 1, validate: closed(versionShape), contract: KeyCreatedV2, publish: publishedVersion('KeyCreated') })
    .define({ type: 'KeyVersionAdded', schemaVersion: 1, validate: closed(versionShape), contract: KeyVersionAddedV2, publish: publishedVersion('KeyVersionAdded') })
    .define({
      type: 'KeyImported',
      schemaVersion: 1,
      validate: closed({ ...versionShape, importedFrom: oneOf(['jwk', 'byok']) }),
      contract: KeyImportedV2,
      publish: publishedVersion('KeyImported'),
    })
    .define({
      type: 'KeyUpdated',
      schemaVersion: 1,
      validate: closed({ version: v.nonEmpty, enabled: v.boolean, notBefore: unixOrNull, expires: unixOrNull, keyOps: v.arrayOf(oneOf(KEY_OPERATIONS)), updated: v.int }),
      contract: KeyUpdatedV2,
      publish: (d, ctx) => ({ ...keyIdentity(ctx, 'KeyUpdated'), ...d }),
    })
    .define({ type: 'KeyDestroyed', schemaVersion: 1, validate: closed({ versions: v.arrayOf(v.nonEmpty), destroyed: v.int }), contract: KeyDestroyedV2, publish: wholeKey('KeyDestroyed') })
    .define({ type: 'KeyDeleted', schemaVersion: 1, validate: closed({ versions: v.arrayOf(v.nonEmpty), deleted: v.int }), contract: KeyDeletedV2, publish: wholeKey('KeyDeleted') })
    .define({ type: 'KeyRecovered', schemaVersion: 1, validate: closed({ versions: v.arrayOf(v.nonEmpty), recovered: v.int }), contract: KeyRecoveredV2, publish: wholeKey('KeyRecovered') })
    .define({
      type: 'KeyRestored',
      schemaVersion: 1,
      validate: closed({ ...versionShape, updated: v.int, restored: v.int, restoredFromVault: v.nonEmpty }),
      contract: KeyRestoredV2,
      publish: publishedVersion('KeyRestored'),
    });
}
