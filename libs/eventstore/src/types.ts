/**
 * Messages are discriminated unions: `{ type, data }`. Events are past tense
 * (`SecretVersionCreated`), commands imperative (`SetSecret`). Time and ids come in
 * through the command so deciders stay pure and deterministic.
 */
export type Event<Type extends string = string, Data extends object = object> = {
  readonly type: Type;
  readonly data: Data;
};

export type Command<Type extends string = string, Data extends object = object> = {
  readonly type: Type;
  readonly data: Data;
};

/** Pure domain logic of one aggregate: no I/O, no clock, no randomness. */
export type Decider<State, Cmd extends Command, Ev extends Event> = {
  readonly initialState: () => State;
  /** Returns the events that the command produces, or throws a DomainError. */
  readonly decide: (command: Cmd, state: State) => readonly Ev[];
  readonly evolve: (state: State, event: Ev) => State;
};

/** Errors with a stable code; adapters map codes to HTTP/gRPC, domain code never does. */
export class DomainError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: Readonly<Record<string, string | number | boolean>> = {},
  ) {
    super(message);
    this.name = 'DomainError';
  }
}

/** Exhaustiveness check for switches over unions. */
export function assertNever(value: never, what = 'value'): never {
  throw new Error(`unexpected ${what}: ${JSON.stringify(value)}`);
}

export function fold<State, Ev>(evolve: (s: State, e: Ev) => State, initial: State, events: readonly Ev[]): State {
  let state = initial;
  for (const e of events) state = evolve(state, e);
  return state;
}
