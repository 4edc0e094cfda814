import { ConcurrencyError, type AppendOptions, type AppendResult, type EventStore } from './event-store.js';
import { fold, type Command, type Decider, type Event } from '#libs/kernel';

/** What to do when an append meets a concurrent writer: decide again on fresh state, this often. */
export type VersionConflictRetry = {
  /** Attempts in all (1 = no retry). */
  readonly attempts: number;
  /** Waits before attempt `attempt + 1` (jitter keeps contending writers apart). */
  readonly backoff: (attempt: number) => Promise<void>;
};

/** Three attempts, no wait: the default for streams with little contention. */
export const RETRY_ON_VERSION_CONFLICT: VersionConflictRetry = { attempts: 3, backoff: async () => undefined };

/** Many attempts with a short random wait (≤ 50 ms): for hot streams, e.g. one secret set by many clients at once. */
export const RETRY_HOT_STREAMS: VersionConflictRetry = {
  attempts: 25,
  backoff: (attempt) => new Promise((r) => setTimeout(r, Math.random() * Math.min(50, 2 * attempt))),
};

/** A stream's state as loaded, with the version the append must expect. */
export type Loaded<S> = { readonly state: S; readonly streamVersion: number };

/**
 * The one way to handle a command: load the stream's state → decide (and do what the decision
 * needs, e.g. seal a value) → append expecting the version it was loaded at. A concurrent
 * writer makes the append fail with ConcurrencyError; the command is then handled again on
 * fresh state, as `retry` says. Everything else is thrown as is.
 */
export async function handleCommand<S, R>(load: () => Promise<Loaded<S>>, decideAndAppend: (loaded: Loaded<S>) => Promise<R>, retry: VersionConflictRetry = RETRY_ON_VERSION_CONFLICT): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    const loaded = await load();
    try {
      return await decideAndAppend(loaded);
    } catch (err) {
      if (err instanceof ConcurrencyError && attempt < retry.attempts) {
        await retry.backoff(attempt);
        continue;
      }
      throw err;
    }
  }
}

/**
 * `handleCommand` for a decider over a stream read from the event store: load → decide →
 * append with the expected version.
 */
export async function decideAndAppend<S, C extends Command, E extends Event>(
  store: EventStore,
  decider: Decider<S, C, E>,
  streamId: string,
  command: C | ((state: S) => C),
  options: AppendOptions<E>,
  retry: VersionConflictRetry = RETRY_ON_VERSION_CONFLICT,
): Promise<AppendResult<E> & { readonly state: S }> {
  return handleCommand(
    async () => {
      const history = await store.readStream<E>(streamId);
      return { state: fold(decider.evolve, decider.initialState(), history), streamVersion: history.at(-1)?.streamVersion ?? 0 };
    },
    async ({ state, streamVersion }) => {
      const events = decider.decide(typeof command === 'function' ? command(state) : command, state);
      const result = await store.appendToStream(streamId, streamVersion === 0 ? 'no_stream' : streamVersion, events, options);
      return { ...result, state: fold(decider.evolve, state, events) };
    },
    retry,
  );
}
