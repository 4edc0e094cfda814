/** How often and how patiently a consumer retries a failing handler before dead-lettering. */
export type RetryPolicy = {
  /** Handler attempts before the message goes to the dead-letter topic (default 5). */
  readonly attempts: number;
  /** First delay; doubles after each failure (default 100 ms). */
  readonly baseMs: number;
  /** Upper bound of one delay (default 10 s). */
  readonly maxMs: number;
};

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 100, maxMs: 10_000 };

export function retryPolicy(partial: Partial<RetryPolicy> = {}): RetryPolicy {
  const p = { ...DEFAULT_RETRY, ...partial };
  if (!Number.isInteger(p.attempts) || p.attempts < 1) throw new Error('retry attempts must be a positive integer');
  if (!(p.baseMs >= 0) || !(p.maxMs >= p.baseMs)) throw new Error('retry delays must satisfy 0 <= baseMs <= maxMs');
  return p;
}

/** Delay before attempt `failedAttempts + 1`: base, 2·base, 4·base, … capped at maxMs. No jitter: deterministic. */
export function backoffDelay(policy: RetryPolicy, failedAttempts: number): number {
  if (failedAttempts < 1) return 0;
  return Math.min(policy.maxMs, policy.baseMs * 2 ** (failedAttempts - 1));
}

const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * Infrastructure trouble rather than a bad message: the database is unreachable or shutting
 * down. Such failures are retried without counting towards dead-lettering, so an outage never
 * sends healthy messages to the dead-letter topic.
 */
export function isTransientInfrastructureError(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    // SQLSTATE class 08 (connection exception), 57P01..57P03 (admin shutdown, crash shutdown, cannot connect now).
    if (/^08/.test(code) || /^57P0[1-3]$/.test(code)) return true;
    if (TRANSIENT_NODE_CODES.has(code)) return true;
  }
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error/i.test(err.message);
}
