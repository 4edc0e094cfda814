import { ConcurrencyError, type AppendOptions, type AppendResult, type EventStore } from './event-store.js';
import { fold, type Command, type Decider, type Event } from '#libs/kernel';

/**
 * load → decide → append with the expected version. A concurrent writer makes the
 * append fail with ConcurrencyError; the command is then decided again on fresh state.
 */
export async function decideAndAppend<S, C extends Command, E extends Event>(
  store: EventStore,
  decider: Decider<S, C, E>,
  streamId: string,
  command: C | ((state: S) => C),
  options: AppendOptions<E>,
  attempts = 3,
): Promise<AppendResult<E> & { readonly state: S }> {
  for (let attempt = 1; ; attempt++) {
    const history = await store.readStream<E>(streamId);
    const state = fold(decider.evolve, decider.initialState(), history);
    const version = history.length > 0 ? history[history.length - 1].streamVersion : 0;
    const cmd = typeof command === 'function' ? command(state) : command;
    const events = decider.decide(cmd, state);
    try {
      const result = await store.appendToStream(streamId, version === 0 ? 'no_stream' : version, events, options);
      return { ...result, state: fold(decider.evolve, state, events) };
    } catch (err) {
      if (err instanceof ConcurrencyError && attempt < attempts) continue;
      throw err;
    }
  }
}
