/**
 * Where "now" comes from, in milliseconds since the epoch. Services take a Clock so tests can
 * move time; deciders take none — time reaches them inside the command.
 */
export type Clock = () => number;

/** The wall clock. */
export const systemClock: Clock = () => Date.now();

/** A clock that only moves when told to (tests, replays). */
export function manualClock(startMs = 0): Clock & { advance(ms: number): void; set(ms: number): void } {
  let now = startMs;
  const clock = (() => now) as Clock & { advance(ms: number): void; set(ms: number): void };
  clock.advance = (ms: number) => {
    now += ms;
  };
  clock.set = (ms: number) => {
    now = ms;
  };
  return clock;
}
