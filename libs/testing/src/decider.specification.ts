import { AssertionError, deepStrictEqual } from 'node:assert/strict';
import { DomainError, type Command, type Decider, type Event } from '#libs/kernel';

type ErrorClass = abstract new (...args: never[]) => Error;

/** What `thenThrows` accepts: a DomainError code, an error class, or a predicate. */
export type ErrorExpectation = string | ErrorClass | ((error: unknown) => boolean);

export type DeciderThen<State, Ev extends Event> = {
  /** The command produced exactly these events (deep equality, in order). */
  then(expected: Ev | readonly Ev[]): void;
  /** The command was rejected; returns the error for further checks. */
  thenThrows(expected?: ErrorExpectation): Error;
  /** The state after the given events and the produced ones. */
  thenState(expected: State): void;
};

export type DeciderWhen<State, Cmd extends Command, Ev extends Event> = {
  when(command: Cmd): DeciderThen<State, Ev>;
};

export type DeciderGiven<State, Cmd extends Command, Ev extends Event> = DeciderWhen<State, Cmd, Ev> & {
  given(events: Ev | readonly Ev[]): DeciderWhen<State, Cmd, Ev>;
};

/**
 * Given/when/then for pure deciders:
 *
 *   deciderSpec(secretDecider).given([created]).when(deleteSecret).then([deleted]);
 *   deciderSpec(secretDecider).given([]).when(deleteSecret).thenThrows('SecretNotFound');
 *
 * Deterministic by construction, and checks it: the given events, the command and every
 * state are deep-frozen (a decider that mutates its input fails loudly), and `decide` is run
 * twice on independently folded states — a decider that reads the clock or a random source
 * produces different events and fails the spec.
 *
 * Not awaitable: the chain is synchronous, like the decider.
 */
export function deciderSpec<State, Cmd extends Command, Ev extends Event>(decider: Decider<State, Cmd, Ev>): DeciderGiven<State, Cmd, Ev> {
  const given = (events: readonly Ev[]): DeciderWhen<State, Cmd, Ev> => ({
    when: (command) => outcome(decider, events, command),
  });
  return { given: (events) => given(toList(events)), when: (command) => outcome(decider, [], command) };
}

type Outcome<Ev> = { readonly ok: true; readonly events: readonly Ev[] } | { readonly ok: false; readonly error: unknown };

function outcome<State, Cmd extends Command, Ev extends Event>(decider: Decider<State, Cmd, Ev>, history: readonly Ev[], command: Cmd): DeciderThen<State, Ev> {
  const givenEvents = history.map((e) => deepFreeze(copyData(e)));
  const cmd = deepFreeze(copyData(command));
  let result: Outcome<Ev> | undefined;

  const run = (): Outcome<Ev> => {
    if (result) return result;
    const first = attempt(() => decider.decide(cmd, foldFrozen(decider, givenEvents)));
    const second = attempt(() => decider.decide(cmd, foldFrozen(decider, givenEvents)));
    if (first.ok !== second.ok || (first.ok && second.ok && !isDeepEqual(first.events, second.events))) {
      throw new AssertionError({ message: 'decide is not deterministic: the same command on the same history gave different results (does it read the clock or a random source?)' });
    }
    if (!first.ok && !second.ok && errorCode(first.error) !== errorCode(second.error)) {
      throw new AssertionError({ message: 'decide is not deterministic: the same command on the same history failed differently' });
    }
    result = first;
    return first;
  };

  return {
    then(expected) {
      if (typeof expected === 'function') throw new TypeError('a decider spec is synchronous: do not await it');
      const r = run();
      if (!r.ok) {
        throw new AssertionError({ message: `expected events, but decide threw ${describeError(r.error)}`, actual: r.error, expected, operator: 'then' });
      }
      deepStrictEqual(r.events, toList(expected), 'decide produced other events than expected');
    },
    thenThrows(expected) {
      const r = run();
      if (r.ok) {
        throw new AssertionError({
          message: `expected decide to throw${expected !== undefined ? ` ${describeExpectation(expected)}` : ''}, but it produced ${r.events.length} event(s): [${r.events.map((e) => e.type).join(', ')}]`,
        });
      }
      const err = r.error;
      if (!(err instanceof Error)) throw new AssertionError({ message: `decide threw a non-Error value: ${String(err)}` });
      if (expected === undefined) return err;
      if (typeof expected === 'string') {
        if (!(err instanceof DomainError)) throw new AssertionError({ message: `expected DomainError ${expected}, got ${describeError(err)}`, actual: err, expected, operator: 'thenThrows' });
        if (err.code !== expected) throw new AssertionError({ message: `expected DomainError ${expected}, got DomainError ${err.code}`, actual: err.code, expected, operator: 'thenThrows' });
        return err;
      }
      if (isErrorClass(expected)) {
        if (!(err instanceof expected)) throw new AssertionError({ message: `expected ${expected.name}, got ${describeError(err)}`, operator: 'thenThrows' });
        return err;
      }
      if (!expected(err)) throw new AssertionError({ message: `decide threw ${describeError(err)}, which does not match the expectation`, operator: 'thenThrows' });
      return err;
    },
    thenState(expectedState) {
      const r = run();
      if (!r.ok) throw new AssertionError({ message: `expected a state, but decide threw ${describeError(r.error)}` });
      const state = foldFrozen(decider, [...givenEvents, ...r.events.map((e) => deepFreeze(copyData(e)))]);
      deepStrictEqual(state, expectedState, 'state after the produced events differs');
    },
  };
}

function foldFrozen<State, Cmd extends Command, Ev extends Event>(decider: Decider<State, Cmd, Ev>, events: readonly Ev[]): State {
  let state = deepFreeze(decider.initialState());
  for (const e of events) {
    try {
      state = deepFreeze(decider.evolve(state, e));
    } catch (err) {
      if (err instanceof TypeError && /read only|read-only|not extensible|frozen/i.test(err.message)) {
        throw new AssertionError({ message: `evolve mutated its input while applying ${e.type}: it must return a new state (${err.message})` });
      }
      throw err;
    }
  }
  return state;
}

function attempt<Ev>(fn: () => readonly Ev[]): Outcome<Ev> {
  try {
    return { ok: true, events: [...fn()] };
  } catch (error) {
    if (error instanceof TypeError && /read only|read-only|not extensible|frozen/i.test(error.message)) {
      throw new AssertionError({ message: `decide mutated its input (command or state): ${error.message}` });
    }
    return { ok: false, error };
  }
}

function toList<T>(x: T | readonly T[]): readonly T[] {
  return Array.isArray(x) ? (x as readonly T[]) : [x as T];
}

function isDeepEqual(a: unknown, b: unknown): boolean {
  try {
    deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

function isErrorClass(x: ErrorExpectation): x is ErrorClass {
  return typeof x === 'function' && (x === Error || x.prototype instanceof Error);
}

function errorCode(err: unknown): string {
  if (err instanceof DomainError) return `DomainError:${err.code}`;
  return err instanceof Error ? err.constructor.name : typeof err;
}

function describeError(err: unknown): string {
  if (err instanceof DomainError) return `DomainError ${err.code} (${err.message})`;
  if (err instanceof Error) return `${err.constructor.name}: ${err.message}`;
  return String(err);
}

function describeExpectation(x: ErrorExpectation): string {
  if (typeof x === 'string') return `DomainError ${x}`;
  if (isErrorClass(x)) return x.name;
  return 'a matching error';
}

/**
 * A deep copy of plain data (objects, arrays, Maps, Sets, Dates, Buffers and typed arrays) made
 * in this module's realm. Not `structuredClone`: under jest's VM context that builds objects with
 * another realm's prototypes, and `deepStrictEqual` then tells a decider that passes `command.data`
 * through apart from an identical expected event.
 */
function copyData<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) return value.map((v) => copyData(v)) as T;
  if (value instanceof Map) return new Map([...value].map(([k, v]) => [copyData(k), copyData(v)])) as T;
  if (value instanceof Set) return new Set([...value].map((v) => copyData(v))) as T;
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (Buffer.isBuffer(value)) return Buffer.from(value) as T;
  if (ArrayBuffer.isView(value)) return (value as unknown as Uint8Array).slice() as T;
  const out: Record<PropertyKey, unknown> = {};
  for (const key of Reflect.ownKeys(value)) out[key] = copyData((value as Record<PropertyKey, unknown>)[key]);
  return out as T;
}

/** Freezes a value and everything reachable from it (plain data: events, commands, states). */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  if (value instanceof Map || value instanceof Set) {
    // Maps and Sets cannot be frozen in place; their entries can.
    for (const v of value.values()) deepFreeze(v);
    if (value instanceof Map) for (const k of value.keys()) deepFreeze(k);
    return value;
  }
  for (const key of Reflect.ownKeys(value)) deepFreeze((value as Record<PropertyKey, unknown>)[key]);
  return Object.freeze(value);
}
