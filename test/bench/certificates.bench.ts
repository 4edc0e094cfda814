import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { bootstrap, httpsRequest, tokenFor } from '../support/identity.js';
import { suffix } from '../support/stack-env.js';

/** Between two polls of a pending operation (the JS SDK's `intervalInMs` as the tests set it). */
const POLL_MS = 50;

/**
 * Certificate creation with the `Self` issuer (RSA 2048 and EC P-256): creations per second at
 * CONCURRENCY parallel clients and the time from `POST /certificates/{name}/create` to the
 * operation's `completed` (key made, CSR and certificate signed through the crypto service,
 * managed secret sealed, one audit record), beside `openssl genpkey` in the same run as the
 * ceiling (key generation dominates). Both issuers, `Self` and the tenant CA `Keyledger`, by default
 * (BENCH_ISSUERS=Self,Keyledger).
 *
 * Needs the four services running (inside the e2e lock on a shared machine). BENCH_SECONDS
 * (default 10) per case; CONCURRENCY (default 4); VAULT_URL (default https://localhost:8443).
 */
const run$ = promisify(execFile);

async function opensslKeysPerSec(kind: 'RSA' | 'EC', seconds: number): Promise<number> {
  const args = kind === 'RSA' ? ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'] : ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
  const end = Date.now() + seconds * 1000;
  let n = 0;
  while (Date.now() < end) {
    await run$('openssl', args);
    n++;
  }
  return n / seconds;
}

export async function run(): Promise<Record<string, unknown>> {
  const seconds = Number(process.env.BENCH_SECONDS ?? 10);
  const concurrency = Number(process.env.CONCURRENCY ?? 4);
  const base = (process.env.VAULT_URL ?? 'https://localhost:8443').replace(/\/+$/, '');
  const issuers = (process.env.BENCH_ISSUERS ?? 'Self,Keyledger').split(',');
  const b = bootstrap();
  const token = await tokenFor(b.clientId, b.clientSecret, 'https://vault.localhost');
  const headers = { authorization: `Bearer ${token}`, 'content-type': 'application/json' };
  const out: Record<string, unknown> = {};
  for (const issuer of issuers) {
    for (const kind of ['RSA', 'EC'] as const) {
      const tag = suffix();
      const latencies: number[] = [];
      let failures = 0;
      const end = Date.now() + seconds * 1000;
      const worker = async (w: number): Promise<void> => {
        for (let i = 0; Date.now() < end; i++) {
          const name = `bench-${issuer.toLowerCase()}-${kind.toLowerCase()}-${tag}-${w}-${i}`;
          const t0 = performance.now();
          const policy = { issuer: { name: issuer }, x509_props: { subject: `CN=${name}` }, key_props: kind === 'RSA' ? { kty: 'RSA', key_size: 2048 } : { kty: 'EC', crv: 'P-256' } };
          const res = await httpsRequest(`${base}/certificates/${name}/create?api-version=7.5`, { method: 'POST', headers, body: JSON.stringify({ policy }) });
          let status = (res.json as { status?: string } | undefined)?.status;
          // Issuance runs in the vault's background (a GET never issues): poll as an SDK does, not in a hot loop.
          while (res.status === 202 && status === 'inProgress') {
            await sleep(POLL_MS);
            status = ((await httpsRequest(`${base}/certificates/${name}/pending?api-version=7.5`, { headers })).json as { status?: string }).status;
          }
          if (status === 'completed') latencies.push(performance.now() - t0);
          else failures++;
        }
      };
      await Promise.all(Array.from({ length: concurrency }, (_, w) => worker(w)));
      latencies.sort((a, b) => a - b);
      const q = (p: number): number => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? 0;
      out[`${issuer}.${kind}`] = { creationsPerSec: latencies.length / seconds, createToCompletedMsP50: q(0.5), createToCompletedMsP99: q(0.99), created: latencies.length, failures };
    }
  }
  if (process.env.BENCH_OPENSSL !== '0') out.opensslKeygenPerSec = { RSA2048: await opensslKeysPerSec('RSA', Math.min(seconds, 5)), ECP256: await opensslKeysPerSec('EC', Math.min(seconds, 5)) };
  return out;
}
