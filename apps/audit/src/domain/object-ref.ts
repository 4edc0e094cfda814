import type { AuditRecord } from '#libs/contracts';

export type ObjectKind = 'vault' | 'secret' | 'key' | 'certificate';

/** A vault object a record or an event is about: (tenant, vault, kind, name), plus a version when known. */
export type ObjectRef = {
  readonly vault: string;
  readonly kind: ObjectKind;
  /** The object name; the vault name for kind "vault". */
  readonly name: string;
  readonly version?: string;
};

const COLLECTION_KIND: Readonly<Record<string, ObjectKind>> = { secrets: 'secret', keys: 'key', certificates: 'certificate', deletedsecrets: 'secret', deletedkeys: 'key', deletedcertificates: 'certificate' };

export function kindOfCollection(collection: string | undefined): ObjectKind | undefined {
  return collection ? COLLECTION_KIND[collection.toLowerCase()] : undefined;
}

export const collectionOfKind = (kind: ObjectKind): string | null => (kind === 'vault' ? null : `${kind}s`);

/** `vault/collection/name` (or the vault name alone): one key across versions, for aggregations. */
export function objectRefKey(ref: ObjectRef): string {
  const c = collectionOfKind(ref.kind);
  return c ? `${ref.vault}/${c}/${ref.name}` : ref.vault;
}

const NAME = /^[0-9A-Za-z-]{1,127}$/;

/**
 * The object a record is about: from its `vault`/`collection`/`objectName` properties, or else
 * parsed from its object id (`https://{vault}.vault.{domain}/{collection}/{name}/{version}`).
 */
export function objectRefOfRecord(record: AuditRecord): ObjectRef | undefined {
  const p = record.properties ?? {};
  const kind = kindOfCollection(p.collection);
  if (p.vault && kind && p.objectName) return { vault: p.vault.toLowerCase(), kind, name: p.objectName.toLowerCase(), ...(p.objectVersion ? { version: p.objectVersion } : {}) };
  if (p.id) {
    const parsed = parseObjectId(p.id);
    if (parsed) return parsed;
  }
  // Requests refused before the object was resolved (no token yet, bad input) still name it in their path.
  if (p.vault && NAME.test(p.vault) && p.requestUri) {
    const path = /^(?:https?:\/\/[^/]+)?\/(secrets|keys|certificates|deletedsecrets|deletedkeys|deletedcertificates)\/([0-9A-Za-z-]{1,127})(?:\/([0-9a-fA-F]{32}))?(?:[/?]|$)/.exec(p.requestUri);
    const k = kindOfCollection(path?.[1]);
    if (path && k) return { vault: p.vault.toLowerCase(), kind: k, name: path[2]!.toLowerCase(), ...(path[3] ? { version: path[3] } : {}) };
  }
  if (p.vault && !p.collection && NAME.test(p.vault)) return { vault: p.vault.toLowerCase(), kind: 'vault', name: p.vault.toLowerCase() };
  return undefined;
}

/** Parses an Azure Key Vault object id; the vault comes from the host's first label (`dev.vault.localhost`). */
export function parseObjectId(id: string): ObjectRef | undefined {
  let url: URL;
  try {
    url = new URL(id);
  } catch {
    return undefined;
  }
  const labels = url.hostname.split('.');
  const vault = labels.length >= 3 && labels[1] === 'vault' ? labels[0]! : labels.length >= 3 && labels[1] === 'managedhsm' ? labels[0]! : undefined;
  const [collection, name, version] = url.pathname.split('/').filter(Boolean);
  const kind = kindOfCollection(collection);
  if (!vault || !kind || !name || !NAME.test(name)) return undefined;
  return { vault: vault.toLowerCase(), kind, name: name.toLowerCase(), ...(version ? { version } : {}) };
}
