/**
 * Slows down guessing at the token endpoint: failed client authentications (a wrong secret, a
 * bad assertion, an unknown client) are counted per client and per caller address in fixed
 * windows; once either budget is spent, further attempts are refused before any credential is
 * checked — 429 with Retry-After, as Microsoft Entra ID throttles — until the window ends.
 * Successful requests are not counted.
 */
export type FailedAuthLimits = { readonly perClient: number; readonly perAddress: number; readonly windowMs: number };

export const DEFAULT_FAILED_AUTH_LIMITS: FailedAuthLimits = { perClient: 10, perAddress: 30, windowMs: 60_000 };

type Window = { start: number; count: number };

export class FailedAuthThrottle {
  private readonly windows = new Map<string, Window>();
  private lastSweep = 0;

  constructor(
    private readonly limits: FailedAuthLimits = DEFAULT_FAILED_AUTH_LIMITS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Seconds to wait before this client may try again from this address, or undefined. */
  retryAfter(client: string, address: string): number | undefined {
    const t = this.now();
    this.sweep(t);
    const budgets: ReadonlyArray<readonly [Window | undefined, number]> = [
      [this.current(`c|${client}`, t), this.limits.perClient],
      [this.current(`a|${address}`, t), this.limits.perAddress],
    ];
    const waits: number[] = [];
    for (const [w, limit] of budgets) if (w && w.count >= limit) waits.push(w.start + this.limits.windowMs - t);
    return waits.length ? Math.max(1, Math.ceil(Math.max(...waits) / 1000)) : undefined;
  }

  /** Counts one failed client authentication. */
  fail(client: string, address: string): void {
    const t = this.now();
    for (const key of [`c|${client}`, `a|${address}`]) {
      const w = this.current(key, t) ?? { start: t, count: 0 };
      w.count += 1;
      this.windows.set(key, w);
    }
  }

  private current(key: string, t: number): Window | undefined {
    const w = this.windows.get(key);
    return w && t - w.start < this.limits.windowMs ? w : undefined;
  }

  private sweep(t: number): void {
    if (t - this.lastSweep < this.limits.windowMs) return;
    this.lastSweep = t;
    for (const [k, w] of this.windows) if (t - w.start >= this.limits.windowMs) this.windows.delete(k);
  }
}
