/** Lifts an event of one type and version to the next version (optionally renaming the type). */
export type Upcaster = (data: Record<string, unknown>) => { readonly type?: string; readonly data: Record<string, unknown> };

/**
 * What the registry needs of an integration-event contract (`libs/contracts` declares them with
 * zod; the kernel depends on nothing): the published type and version, and `check`, which
 * returns the validated message or throws an error naming the type and version (never the data).
 */
export type PublishedContract = {
  readonly type: string;
  readonly schemaVersion: number;
  readonly check: (data: unknown) => PublishedEvent;
};

/** The object a lifecycle event is about, as the appending code names it (see libs/contracts' ObjectIdentity). */
export type ObjectIdentity = {
  readonly vault: string;
  readonly collection: 'secrets' | 'keys' | 'certificates' | null;
  readonly name: string;
};

/**
 * Event definitions: every persisted type declares its current schema version and a
 * validator; older versions reach the current shape through upcasters keyed by
 * (type, schema version), applied on read. A published shape is never edited.
 */
export type Validator = (data: unknown) => readonly string[];

export type EventDefinition = {
  readonly type: string;
  readonly schemaVersion: number;
  /** Returns the problems with `data` (empty when valid). Messages must not echo values. */
  readonly validate: Validator;
  /**
   * The integration-event contract (libs/contracts) the event is published as: the envelope
   * carries the contract's type and schema version, and the data (the private data, or what
   * `publish` maps it to) is validated against the contract before it is written to the
   * outbox — a mismatch fails the append, nothing is written. Without a contract the event
   * is published as it is stored, after `publish` (service-internal events only: see
   * libs/contracts/README.md).
   */
  readonly contract?: PublishedContract;
  /**
   * What of the event leaves the service on Kafka. Events are stored whole (the store is
   * the custody of record); fields such as credential hashes or wrapped key material are
   * dropped from the published copy. With a contract, maps the private data to it.
   */
  readonly publish?: (data: Record<string, unknown>, ctx: PublishContext) => Record<string, unknown>;
};

/** What a publish mapping may use besides the event's data. */
export type PublishContext = {
  readonly streamId: string;
  readonly tenant: string;
  /** The vault object the appended events are about, as the appending code named it (AppendOptions.object). */
  readonly object?: ObjectIdentity;
};

/** The published form of an event: envelope type, schema version and data. */
export type PublishedEvent = { readonly type: string; readonly schemaVersion: number; readonly data: Record<string, unknown> };

export class EventValidationError extends Error {
  readonly code = 'EventValidationFailed';
  constructor(
    readonly eventType: string,
    readonly problems: readonly string[],
  ) {
    super(`event ${eventType} is invalid: ${problems.join('; ')}`);
    this.name = 'EventValidationError';
  }
}

export class UnknownEventTypeError extends Error {
  readonly code = 'UnknownEventType';
  constructor(readonly eventType: string) {
    super(`event type ${eventType} is not registered`);
    this.name = 'UnknownEventTypeError';
  }
}

export class UpcastError extends Error {
  readonly code = 'NoUpcasterPath';
  constructor(
    readonly eventType: string,
    readonly fromVersion: number,
    readonly toVersion: number,
    readonly eventId: string,
  ) {
    super(`no upcaster path for event ${eventType} (id ${eventId}) from schema version ${fromVersion} to ${toVersion}`);
    this.name = 'UpcastError';
  }
}

export class EventRegistry {
  private readonly defs = new Map<string, EventDefinition>();
  private readonly upcasters = new Map<string, Upcaster>();

  define(def: EventDefinition): this {
    this.defs.set(def.type, def);
    return this;
  }

  /** Registers how to lift `type` at `fromVersion` to `fromVersion + 1` (possibly renaming it). */
  upcast(type: string, fromVersion: number, fn: Upcaster): this {
    this.upcasters.set(`${type}@${fromVersion}`, fn);
    return this;
  }

  definition(type: string): EventDefinition {
    const def = this.defs.get(type);
    if (!def) throw new UnknownEventTypeError(type);
    return def;
  }

  has(type: string): boolean {
    return this.defs.has(type);
  }

  /** Every registered type (for checks that each published event has its contract). */
  get types(): readonly string[] {
    return [...this.defs.keys()];
  }

  /** Validates an event about to be written; throws naming the event. */
  check(type: string, data: unknown): EventDefinition {
    const def = this.definition(type);
    const problems = typeof data === 'object' && data !== null ? def.validate(data) : ['data must be an object'];
    if (problems.length > 0) throw new EventValidationError(type, problems);
    return def;
  }

  /**
   * The message an appended event is published as: its contract (validated; throws a
   * ContractError naming the event, never its data) or, without one, the stored data after
   * the definition's `publish` mapping.
   */
  published(type: string, schemaVersion: number, data: Record<string, unknown>, ctx: PublishContext): PublishedEvent {
    const def = this.definition(type);
    const mapped = def.publish ? def.publish(data, ctx) : data;
    if (!def.contract) return { type, schemaVersion, data: mapped };
    return def.contract.check(mapped);
  }

  /** Brings a stored event to the current shape of its (possibly renamed) type. */
  toCurrent(type: string, schemaVersion: number, data: Record<string, unknown>, eventId: string): { type: string; schemaVersion: number; data: Record<string, unknown> } {
    let t = type;
    let v = schemaVersion;
    let d = data;
    for (let guard = 0; guard < 100; guard++) {
      const def = this.defs.get(t);
      if (def && def.schemaVersion === v) return { type: t, schemaVersion: v, data: d };
      const up = this.upcasters.get(`${t}@${v}`);
      if (!up) throw new UpcastError(type, schemaVersion, def?.schemaVersion ?? -1, eventId);
      const next = up(d);
      t = next.type ?? t;
      d = next.data;
      v += 1;
    }
    throw new UpcastError(type, schemaVersion, -1, eventId);
  }
}

/** Small validator combinators for event payloads; messages name fields, never values. */
export const v = {
  object(shape: Record<string, (x: unknown) => boolean>, optional: readonly string[] = []): Validator {
    return (data) => {
      if (typeof data !== 'object' || data === null || Array.isArray(data)) return ['data must be an object'];
      const o = data as Record<string, unknown>;
      const problems: string[] = [];
      for (const [k, test] of Object.entries(shape)) {
        if (o[k] === undefined) {
          if (!optional.includes(k)) problems.push(`${k} is required`);
          continue;
        }
        if (!test(o[k])) problems.push(`${k} has the wrong type`);
      }
      return problems;
    };
  },
  string: (x: unknown): boolean => typeof x === 'string',
  nonEmpty: (x: unknown): boolean => typeof x === 'string' && x.length > 0,
  number: (x: unknown): boolean => typeof x === 'number' && Number.isFinite(x),
  int: (x: unknown): boolean => Number.isInteger(x),
  boolean: (x: unknown): boolean => typeof x === 'boolean',
  nullable: (t: (x: unknown) => boolean) => (x: unknown): boolean => x === null || t(x),
  arrayOf: (t: (x: unknown) => boolean) => (x: unknown): boolean => Array.isArray(x) && x.every(t),
  record: (x: unknown): boolean => typeof x === 'object' && x !== null && !Array.isArray(x),
  any: (): boolean => true,
};
