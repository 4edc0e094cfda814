import type { Command, Event } from './message.types.js';

/** Pure domain logic of one aggregate: no I/O, no clock, no randomness. */
export type Decider<State, Cmd extends Command, Ev extends Event> = {
  readonly initialState: () => State;
  /** Returns the events that the command produces, or throws a DomainError. */
  readonly decide: (command: Cmd, state: State) => readonly Ev[];
  readonly evolve: (state: State, event: Ev) => State;
};

/** The state after `events`, starting from `initial`. */
export function fold<State, Ev>(evolve: (s: State, e: Ev) => State, initial: State, events: readonly Ev[]): State {
  let state = initial;
  for (const e of events) state = evolve(state, e);
  return state;
}
