import { z } from 'zod';

/**
 * Integration-event contracts: the shape of a message one service publishes for others,
 * declared once with zod (the TypeScript type and the validator come from the same
 * declaration). A contract is identified by its envelope `type` and `schemaVersion`
 * (`SecretDeleted` v2 is written `SecretDeleted.v2`); a published version is never edited, a
 * new shape is a new version with an upcaster from the previous one.
 */
export type ContractSource = 'identity' | 'vault' | 'crypto';

export type EventContract<T extends string = string, V extends number = number, S extends z.ZodType = z.ZodType> = {
  readonly type: T;
  readonly schemaVersion: V;
  /** The producing service. */
  readonly source: ContractSource;
  readonly schema: S;
  /** Validates data against the schema: the message, or a ContractError naming the type and version (never the data). */
  readonly check: (data: unknown) => ContractMessage;
};

export function defineContract<T extends string, V extends number, S extends z.ZodType>(c: { type: T; schemaVersion: V; source: ContractSource; schema: S }): EventContract<T, V, S> {
  assertNoSensitiveFieldNames(c.schema, `${c.type}.v${c.schemaVersion}`);
  const contract: EventContract<T, V, S> = Object.freeze({ ...c, check: (data: unknown) => checkContract(contract, data) });
  return contract;
}

/** The typed message (`type`, `schemaVersion`, `data`) of a contract. */
export type MessageOf<C> = C extends EventContract<infer T, infer V, infer S> ? { readonly type: T; readonly schemaVersion: V; readonly data: z.output<S> } : never;

/** The data of a contract, and a private event `{ type, data }` whose data is exactly the contract's. */
export type DataOf<C> = C extends EventContract<string, number, infer S> ? z.output<S> : never;
export type EventOf<C> = C extends EventContract<infer T, number, infer S> ? { readonly type: T; readonly data: z.output<S> } : never;

/** What crosses the wire in an envelope: the type, its version and the data. */
export type ContractMessage = { readonly type: string; readonly schemaVersion: number; readonly data: Record<string, unknown> };

/** The object a vault or crypto lifecycle event is about, named explicitly (never parsed from a stream id). */
export type ObjectCollection = 'secrets' | 'keys' | 'certificates';
export type ObjectIdentity = {
  /** The vault name. */
  readonly vault: string;
  /** null for an event about the vault itself. */
  readonly collection: ObjectCollection | null;
  /** The object name (the vault name for a vault event). */
  readonly name: string;
};

/**
 * Field names no contract may declare, at any depth: secret values, key material, plaintext,
 * ciphertext, digests, signatures, tokens and hashes of credentials (the private events keep
 * some of them; the published copy never does).
 */
export const FORBIDDEN_FIELD =
  /^(value|secret|secretValue|password|token|access_token|refresh_token|client_secret|client_assertion|plaintext|ciphertext|digest|signature|hash|headerHash|credentialHash|keyMaterial|key_material|material|wrapped|wrappedKey|dataKeys|k|d|p|q|dp|dq|qi)$/i;

export class ContractError extends Error {
  constructor(
    readonly code: 'UnknownContractType' | 'UnknownContractVersion' | 'ContractValidationFailed' | 'ContractFieldForbidden',
    message: string,
    readonly eventType: string,
    readonly schemaVersion?: number,
  ) {
    super(message);
    this.name = 'ContractError';
  }
}

/** Problems as `path: message`; zod's messages name fields and expectations, never the values. */
export function describeIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(data)'}: ${i.message}`);
}

function assertNoSensitiveFieldNames(schema: z.ZodType, id: string): void {
  const seen = new Set<unknown>();
  const walk = (s: unknown, path: string): void => {
    if (typeof s !== 'object' || s === null || seen.has(s)) return;
    seen.add(s);
    const def = (s as { _zod?: { def?: Record<string, unknown> } })._zod?.def;
    if (!def) return;
    const shape = def['shape'];
    if (typeof shape === 'object' && shape !== null) {
      for (const [k, child] of Object.entries(shape)) {
        if (FORBIDDEN_FIELD.test(k)) throw new ContractError('ContractFieldForbidden', `contract ${id} declares the forbidden field "${path}${k}"`, id);
        walk(child, `${path}${k}.`);
      }
    }
    for (const key of ['innerType', 'element', 'in', 'out', 'left', 'right']) walk(def[key], path);
    if (Array.isArray(def['options'])) for (const o of def['options']) walk(o, path);
  };
  walk(schema, '');
}

/**
 * Validates `data` against one contract (what a producer does before publishing) and returns
 * the message; throws a ContractError naming the type and version, never the data.
 */
export function checkContract(c: EventContract, data: unknown): ContractMessage {
  const id = `${c.type}.v${c.schemaVersion}`;
  const r = c.schema.safeParse(data);
  if (!r.success) throw new ContractError('ContractValidationFailed', `event ${id} is invalid: ${describeIssues(r.error).join('; ')}`, c.type, c.schemaVersion);
  if (typeof r.data !== 'object' || r.data === null || Array.isArray(r.data)) throw new ContractError('ContractValidationFailed', `event ${id} is invalid: data must be an object`, c.type, c.schemaVersion);
  return { type: c.type, schemaVersion: c.schemaVersion, data: r.data as Record<string, unknown> };
}

/** A contract's schema as a problems-list validator (libs/eventstore's `Validator` shape), for private events stored exactly as published. */
export function validatorOf(c: EventContract): (data: unknown) => readonly string[] {
  return (data) => {
    const r = c.schema.safeParse(data);
    return r.success ? [] : describeIssues(r.error);
  };
}

/** Lifts `type` at `fromVersion` to `fromVersion + 1` (same idea as libs/eventstore's EventRegistry.upcast). */
export type Upcaster = (data: Record<string, unknown>) => { readonly type?: string; readonly data: Record<string, unknown> };

/**
 * The contracts of every service, by (type, version), with upcasters from older published
 * versions. `parse` brings any known message to the current version of its type and
 * validates it; an unknown type, an unknown version or invalid data throws a ContractError
 * naming the type and version (never the data).
 */
export class ContractCatalog<M extends ContractMessage = ContractMessage> {
  private readonly current = new Map<string, EventContract>();
  private readonly upcasters = new Map<string, Upcaster>();

  constructor(contracts: readonly EventContract[] = []) {
    for (const c of contracts) this.add(c);
  }

  add(c: EventContract): this {
    // Type names are unique across services: a consumer's switch discriminates on `type` alone.
    const existing = this.current.get(c.type);
    if (existing) throw new Error(`contract ${c.type} is declared twice (${existing.source} v${existing.schemaVersion}, ${c.source} v${c.schemaVersion})`);
    this.current.set(c.type, c);
    return this;
  }

  upcast(type: string, fromVersion: number, fn: Upcaster): this {
    this.upcasters.set(`${type}@${fromVersion}`, fn);
    return this;
  }

  has(type: string): boolean {
    return this.current.has(type);
  }

  /** Is this (type, producing service) a contract here? Another service's private event of the same name is not. */
  publishes(source: string, type: string): boolean {
    return this.current.get(type)?.source === source;
  }

  contract(type: string): EventContract {
    const c = this.current.get(type);
    if (!c) throw new ContractError('UnknownContractType', `no contract for event type "${printable(type)}"`, type);
    return c;
  }

  get types(): readonly string[] {
    return [...this.current.keys()];
  }

  get contracts(): readonly EventContract[] {
    return [...this.current.values()];
  }

  /** Whether a message at `schemaVersion` can be brought to its type's current version. */
  canRead(type: string, schemaVersion: number): boolean {
    try {
      this.lift(type, schemaVersion, {});
      return true;
    } catch {
      return false;
    }
  }

  /** Upcasts (if needed) and validates a received message; returns the current, typed shape. */
  parse(type: string, schemaVersion: number, data: unknown): M {
    if (typeof data !== 'object' || data === null || Array.isArray(data)) {
      this.contract(type);
      throw new ContractError('ContractValidationFailed', `event ${printable(type)}.v${schemaVersion} is invalid: data must be an object`, type, schemaVersion);
    }
    const lifted = this.lift(type, schemaVersion, data as Record<string, unknown>);
    return this.validate(lifted.type, lifted.schemaVersion, lifted.data) as M;
  }

  /** Validates data against the current version of its contract. */
  validate(type: string, schemaVersion: number, data: unknown): ContractMessage {
    const c = this.contract(type);
    if (c.schemaVersion !== schemaVersion) throw this.versionError(type, schemaVersion, c.schemaVersion);
    return checkContract(c, data);
  }

  private lift(type: string, schemaVersion: number, data: Record<string, unknown>): { type: string; schemaVersion: number; data: Record<string, unknown> } {
    const start = this.current.get(type);
    // A type renamed by an upcaster has no current contract of its own, only a path onwards.
    if (!start && !this.upcasters.has(`${type}@${schemaVersion}`)) this.contract(type);
    const currentVersion = start?.schemaVersion ?? -1;
    if (!Number.isInteger(schemaVersion) || schemaVersion < 1 || (start && schemaVersion > start.schemaVersion)) throw this.versionError(type, schemaVersion, currentVersion);
    let t = type;
    let v = schemaVersion;
    let d = data;
    for (let guard = 0; guard < 100; guard++) {
      const c = this.current.get(t);
      if (c && c.schemaVersion === v) return { type: t, schemaVersion: v, data: d };
      const up = this.upcasters.get(`${t}@${v}`);
      if (!up) throw this.versionError(type, schemaVersion, currentVersion);
      const next = up(d);
      t = next.type ?? t;
      d = next.data;
      v += 1;
    }
    throw this.versionError(type, schemaVersion, currentVersion);
  }

  private versionError(type: string, version: number, current: number): ContractError {
    const v = Number.isFinite(version) ? String(version) : 'NaN';
    return new ContractError(
      'UnknownContractVersion',
      current < 0
        ? `event ${type} at schema version ${v} cannot be read: no upcaster path from it to a current contract`
        : Number.isInteger(version) && version < current && version >= 1
          ? `event ${type} at schema version ${v} cannot be read: no upcaster from v${v} to the current v${current}`
          : `event ${type} has unknown schema version ${v} (current: v${current})`,
      type,
      version,
    );
  }
}

/** A type name from the wire, safe to put in a message. */
function printable(type: string): string {
  return /^[A-Za-z0-9._-]{1,100}$/.test(type) ? type : '(unprintable type name)';
}
