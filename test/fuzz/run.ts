/**
 * `npm run fuzz [-- --max-examples N] [--spec 2025-07-01/keys.json[,7.5/rbac.json…]] [--seed S] [--results F.json]`:
 * fuzzes the vault and Managed HSM pools with Microsoft's own OpenAPI description (see fuzz-runner.ts). Starts the four services from
 * this checkout's dist/ when they do not run (and stops them after), writes
 * test/fuzz/results/fuzz.json, and exits 1 on any failure (a 5xx or a deviation from the
 * specification that deviations.ts does not document).
 */
import https from 'node:https';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { stackEnv } from '../support/stack-env.js';
import { runFuzz, SPECS, type SpecResult } from './fuzz-runner.js';

type ServicesModule = { startServices: (o: { supervise: boolean }) => Promise<unknown>; stopServices: (children: unknown) => Promise<void> };

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

/** Requests per surface (secrets, keys, certificates, rbac, settings, backuprestore, securitydomain), over api-versions and passes. */
function bySurface(specs: readonly SpecResult[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const s of specs) {
    const surface = /\/([a-z]+)\.json/.exec(s.spec)?.[1] ?? s.spec;
    out[surface] = (out[surface] ?? 0) + s.requests;
  }
  return out;
}

function vaultUp(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port: 8443, path: '/health/live', ca: readFileSync(stackEnv.caFile), servername: 'localhost', timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

async function main(): Promise<number> {
  // The full run: 2 api-versions × (secrets, keys, certificates, pool administration), ≥ 20,000 requests (README "Fuzzing").
  const maxExamples = Number(arg('max-examples') ?? 100);
  const spec = arg('spec');
  const seed = arg('seed');
  const outDir = join(stackEnv.repoRoot, '.keyledger', 'fuzz');
  let children: unknown;
  let services: ServicesModule | undefined;
  if (!(await vaultUp())) {
    services = (await import(pathToFileURL(join(stackEnv.repoRoot, 'deploy', 'local', 'lib', 'services.mjs')).href)) as ServicesModule;
    console.log('[fuzz] starting the services (logs in .keyledger/logs)');
    children = await services.startServices({ supervise: true });
    // Interrupted: the services this run started are stopped, not left holding the ports.
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        void services?.stopServices(children).finally(() => process.exit(130));
      });
    }
  }
  try {
    const started = Date.now();
    const result = await runFuzz({ maxExamples, specs: spec ? spec.split(',') : SPECS, outDir, ...(seed ? { seed: Number(seed) } : {}) });
    const summary = {
      date: new Date().toISOString(),
      seconds: Math.round((Date.now() - started) / 1000),
      maxExamples,
      requests: result.requests,
      requestsBySurface: bySurface(result.specs),
      failures: result.failures,
      deviationsApplied: result.deviations,
      specs: result.specs.map((s) => ({ spec: s.spec, operations: s.operations, requests: s.requests, failures: s.failures.length, exitCode: s.exitCode, errors: s.errors.slice(0, 20) })),
    };
    const resultsDir = join(stackEnv.repoRoot, 'test', 'fuzz', 'results');
    mkdirSync(resultsDir, { recursive: true });
    // `--results fuzz-new-surfaces.json`: a run of some specifications keeps the full run's figures in fuzz.json.
    writeFileSync(join(resultsDir, arg('results') ?? 'fuzz.json'), `${JSON.stringify(summary, null, 2)}\n`);
    console.log(`\n[fuzz] ${result.requests} requests, ${result.failures.length} failures`);
    for (const f of result.failures) console.log(`  ${f.spec} ${f.operation}: ${f.check} — ${f.title}${f.status ? ` (${f.status})` : ''}${f.request ? ` ${f.request}` : ''}${f.body ? ` ${f.body}` : ''}`);
    return result.failures.length === 0 && result.specs.every((s) => s.errors.length === 0) ? 0 : 1;
  } finally {
    if (services && children) await services.stopServices(children);
  }
}

process.exitCode = await main();
