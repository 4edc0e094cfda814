/**
 * Requests one after the other on one kept-alive TLS connection, each timed to the
 * microsecond with the monotonic clock (autocannon's latencies are whole milliseconds).
 */
import { Agent, request } from 'node:https';

export type SequentialLatency = { readonly requests: number; readonly p50: number; readonly p90: number; readonly p99: number; readonly non2xx: number };

/**
 * `count` requests one after the other on one kept-alive TLS connection (`next(i)` gives the
 * i-th), each timed from the call to the answer's last byte; percentiles in microseconds.
 */
export async function sequentialLatency(
  base: string,
  ca: Buffer | string,
  count: number,
  next: (i: number) => { readonly method: string; readonly path: string; readonly headers: Record<string, string>; readonly body?: string },
): Promise<SequentialLatency> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca });
  const url = new URL(base);
  const times: number[] = [];
  let non2xx = 0;
  try {
    for (let i = 0; i < count; i++) {
      const r = next(i);
      const t0 = process.hrtime.bigint();
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ host: url.hostname, port: url.port, path: r.path, method: r.method, headers: r.headers, agent }, (res) => {
          res.on('data', () => undefined);
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        });
        req.on('error', reject);
        req.end(r.body);
      });
      times.push(Number(process.hrtime.bigint() - t0) / 1000);
      if (status < 200 || status > 299) non2xx++;
    }
  } finally {
    agent.destroy();
  }
  return percentiles(times, non2xx);
}

/** p50/p90/p99 (rounded µs) of `times` (sorted in place). */
export function percentiles(times: number[], non2xx = 0): SequentialLatency {
  times.sort((a, b) => a - b);
  const at = (q: number): number => Math.round(times[Math.min(times.length - 1, Math.floor(q * times.length))] ?? Number.NaN);
  return { requests: times.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), non2xx };
}
