import { randomBytes } from 'node:crypto';
import autocannon from 'autocannon';
import { bootstrap, ca, httpsRequest, tokenFor } from '../support/identity.js';
import { suffix } from '../support/stack-env.js';

/**
 * Secret GET and SET throughput over HTTPS with keep-alive at 64 concurrent connections
 * (autocannon), against the running services with audit on (every request's audit record
 * is durable before its answer). GETs read 64 secrets round-robin (each connection in its
 * own order); each SET connection writes new versions of a secret of its own.
 *
 * BENCH_SECONDS (default 15) per phase; VAULT_URL (default https://localhost:8443, the dev vault).
 */
type Phase = { requests: number; perSecond: number; latencyMsP50: number; latencyMsP99: number; latencyMsMax: number; non2xx: number; errors: number };

function summary(r: autocannon.Result): Phase {
  return {
    requests: r.requests.total,
    perSecond: Math.round(r.requests.average),
    latencyMsP50: r.latency.p50,
    latencyMsP99: r.latency.p99,
    latencyMsMax: r.latency.max,
    non2xx: r.non2xx,
    errors: r.errors,
  };
}

function cannon(opts: autocannon.Options): Promise<autocannon.Result> {
  return new Promise((resolve, reject) => {
    autocannon(opts, (err, result) => (err ? reject(err) : resolve(result)));
  });
}

export async function run(): Promise<Record<string, unknown>> {
  const b = bootstrap();
  const base = (process.env.VAULT_URL ?? 'https://localhost:8443').replace(/\/+$/, '');
  const seconds = Number(process.env.BENCH_SECONDS ?? 15);
  const connections = 64;
  const token = await tokenFor(b.clientId, b.clientSecret, 'https://vault.localhost');
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const run = suffix();
  const value = randomBytes(48).toString('base64');
  const body = JSON.stringify({ value, contentType: 'text/plain' });

  // 64 secrets to read.
  const names = Array.from({ length: 64 }, (_, i) => `bench-get-${run}-${i}`);
  for (let i = 0; i < names.length; i += 16) {
    await Promise.all(
      names.slice(i, i + 16).map(async (n) => {
        const res = await httpsRequest(`${base}/secrets/${n}?api-version=7.6`, { method: 'PUT', headers, body });
        if (res.status !== 200) throw new Error(`seeding ${n}: ${res.status} ${res.text}`);
      }),
    );
  }
  const tlsOptions = { ca: ca() };

  // Warm-up: token cache, data key cache, JIT.
  await cannon({ url: base, connections, duration: 3, tlsOptions, requests: names.map((n) => ({ method: 'GET' as const, path: `/secrets/${n}/?api-version=7.6`, headers })) });

  let conn = 0;
  const get = await cannon({
    url: base,
    connections,
    duration: seconds,
    tlsOptions,
    setupClient: (client) => {
      const offset = conn++ % names.length;
      const order = [...names.slice(offset), ...names.slice(0, offset)];
      client.setRequests(order.map((n) => ({ method: 'GET', path: `/secrets/${n}/?api-version=7.6`, headers })));
    },
  });

  let writer = 0;
  const set = await cannon({
    url: base,
    connections,
    duration: seconds,
    tlsOptions,
    setupClient: (client) => {
      const name = `bench-set-${run}-${writer++}`;
      client.setRequests([{ method: 'PUT', path: `/secrets/${name}?api-version=7.6`, headers, body }]);
    },
  });

  return {
    target: base,
    connections,
    secondsPerPhase: seconds,
    valueBytes: value.length,
    get: summary(get),
    set: summary(set),
  };
}
