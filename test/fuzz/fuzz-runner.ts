/**
 * Fuzzes the running vault with schemathesis, driven by Microsoft's own OpenAPI description of
 * the Key Vault data plane (vendored in test/fuzz/openapi/). For each specification: a working
 * copy with the api-version pinned and the reviewed deviations applied (deviations.ts), one
 * schemathesis run (positive and negative generation, the five conformance checks) against a
 * vault of its own with a real token, and a summary read from schemathesis' NDJSON report.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bootstrap, httpsRequest, tokenFor } from '../support/identity.js';
import { stackEnv, suffix } from '../support/stack-env.js';
import { DEVIATIONS, pinApiVersion, type Parameter, type Spec } from './deviations.js';

export const CHECKS = ['not_a_server_error', 'status_code_conformance', 'content_type_conformance', 'response_schema_conformance', 'response_headers_conformance'] as const;

/** The vendored specifications, `<api-version>/<file>` under test/fuzz/openapi/. */
export const SPECS = ['2025-07-01/secrets.json', '2025-07-01/keys.json', '7.5/secrets.json', '7.5/keys.json'] as const;

export type FuzzOptions = {
  /** schemathesis --max-examples: generated cases per operation and phase. */
  readonly maxExamples: number;
  readonly specs?: readonly string[];
  readonly seed?: number;
  readonly workers?: number;
  /** Where working copies and reports go. */
  readonly outDir: string;
  readonly log?: (line: string) => void;
};

export type Failure = { readonly spec: string; readonly operation: string; readonly check: string; readonly title: string; readonly status?: number; readonly request?: string; readonly body?: string };

export type SpecResult = { readonly spec: string; readonly operations: number; readonly requests: number; readonly failures: readonly Failure[]; readonly exitCode: number; readonly errors: readonly string[] };

export type FuzzResult = { readonly vault: string; readonly requests: number; readonly failures: readonly Failure[]; readonly specs: readonly SpecResult[]; readonly deviations: Record<string, number> };

const VAULT_PORT = Number(process.env.VAULT_PORT ?? 8443);
const DOMAIN = process.env.KEYLEDGER_DOMAIN ?? 'localhost';
const BASE = `https://localhost:${VAULT_PORT}`;
const OPENAPI_DIR = join(stackEnv.repoRoot, 'test', 'fuzz', 'openapi');
export const ST = join(stackEnv.repoRoot, '.venv-fuzz', 'bin', 'st');

async function vaultToken(): Promise<string> {
  const b = bootstrap();
  return tokenFor(b.clientId, b.clientSecret, `https://vault.${DOMAIN}`);
}

async function admin(token: string, path: string, method: string, body?: unknown): Promise<number> {
  const res = await httpsRequest(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return res.status;
}

async function call(token: string, host: string, method: string, path: string, body?: unknown): Promise<unknown> {
  const res = await httpsRequest(`${BASE}${path}`, {
    method,
    headers: { host, authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  if (res.status !== 200) throw new Error(`seeding ${method} ${path}: ${res.status} ${res.text}`);
  return res.json;
}

/** Objects the "seeded" pass aims its path parameters at, so bodies reach the deep code (sign, encrypt, update …). */
export type Seeds = { readonly secrets: Record<string, string>; readonly keys: Record<string, string> };

async function seed(token: string, host: string): Promise<Seeds> {
  const version = (id: unknown): string => String(id).split('/').pop() ?? '';
  const secret = (await call(token, host, 'PUT', '/secrets/fuzz-secret?api-version=7.5', { value: 'fuzz', contentType: 'text/plain', tags: { a: 'b' } })) as { id: string };
  const keys: Record<string, string> = {};
  for (const [name, body] of [
    ['fuzz-rsa', { kty: 'RSA', key_size: 2048 }],
    ['fuzz-ec', { kty: 'EC', crv: 'P-256' }],
    ['fuzz-rsa-hsm', { kty: 'RSA-HSM', key_size: 2048 }],
  ] as const) {
    const created = (await call(token, host, 'POST', `/keys/${name}/create?api-version=7.5`, body)) as { key: { kid: string } };
    keys[name] = version(created.key.kid);
  }
  return { secrets: { 'fuzz-secret': version(secret.id) }, keys };
}

/** Aims the name and version path parameters of a working copy at the seeded objects. */
function aimAt(spec: Spec, seeds: Seeds): void {
  const values: Record<string, string[]> = {
    'secret-name': Object.keys(seeds.secrets),
    'secret-version': Object.values(seeds.secrets),
    'key-name': Object.keys(seeds.keys),
    'key-version': Object.values(seeds.keys),
  };
  for (const methods of Object.values(spec.paths)) {
    for (const op of Object.values(methods)) {
      for (const p of op.parameters ?? []) {
        if ('name' in p && p.in === 'path' && values[p.name]) (p as Parameter).enum = values[p.name];
      }
    }
  }
}

/** The working copy of one vendored specification, as schemathesis reads it. */
export function workingCopy(file: string, counts: Record<string, number>, seeds?: Seeds): Spec {
  const spec = JSON.parse(readFileSync(join(OPENAPI_DIR, file), 'utf8')) as Spec;
  pinApiVersion(spec);
  for (const d of DEVIATIONS) counts[d.id] = (counts[d.id] ?? 0) + d.apply(spec);
  if (seeds) aimAt(spec, seeds);
  return spec;
}

type Event = Record<string, unknown>;

/** Reads schemathesis' NDJSON event stream: requests sent and failed checks. */
export function summarize(spec: string, ndjson: string): { operations: number; requests: number; failures: Failure[]; errors: string[] } {
  let requests = 0;
  const operations = new Set<string>();
  const failures: Failure[] = [];
  const errors: string[] = [];
  const seen = new Set<string>();
  for (const line of ndjson.split('\n')) {
    if (!line.trim()) continue;
    const event = JSON.parse(line) as Event;
    const scenario = event.ScenarioFinished as Event | undefined;
    if (scenario) {
      const recorder = scenario.recorder as { label?: string; cases?: Record<string, { value?: { body?: unknown } }>; interactions?: Record<string, { response?: { status_code?: number } | null; request?: { method?: string; uri?: string } }>; checks?: Record<string, { name: string; status: string; failure_info?: { failure?: { title?: string; code?: number } } | null }[]> } | undefined;
      const label = recorder?.label ?? String(scenario.label ?? '');
      if (label) operations.add(label);
      const interactions = recorder?.interactions ?? {};
      requests += Object.keys(interactions).length;
      for (const [caseId, checks] of Object.entries(recorder?.checks ?? {})) {
        for (const c of checks) {
          if (c.status !== 'failure') continue;
          const interaction = interactions[caseId];
          const title = c.failure_info?.failure?.title ?? c.name;
          const key = `${label}|${c.name}|${title}`;
          if (seen.has(key)) continue;
          seen.add(key);
          failures.push({
            spec,
            operation: label,
            check: c.name,
            title,
            ...(interaction?.response?.status_code !== undefined ? { status: interaction.response.status_code } : {}),
            ...(interaction?.request ? { request: `${interaction.request.method ?? ''} ${interaction.request.uri ?? ''}` } : {}),
            ...(recorder?.cases?.[caseId]?.value?.body !== undefined ? { body: JSON.stringify(recorder.cases[caseId]?.value?.body).slice(0, 400) } : {}),
          });
        }
      }
    }
    const nonFatal = event.NonFatalError as { value?: { type?: string; message?: string }; label?: string } | undefined;
    if (nonFatal) errors.push(`${nonFatal.label ?? ''}: ${nonFatal.value?.type ?? ''} ${nonFatal.value?.message ?? ''}`.trim());
    const fatal = event.FatalError as { exception?: { message?: string } } | undefined;
    if (fatal) errors.push(`fatal: ${fatal.exception?.message ?? JSON.stringify(fatal)}`);
  }
  return { operations: operations.size, requests, failures, errors };
}

function run(cmd: string, args: readonly string[], log: (line: string) => void): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', SCHEMATHESIS_TELEMETRY: 'false' } });
    let tail = '';
    const onData = (chunk: Buffer): void => {
      tail = (tail + chunk.toString('utf8')).slice(-20_000);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('error', reject);
    child.on('close', (code) => {
      log(tail.split('\n').slice(-25).join('\n'));
      resolve(code ?? 1);
    });
  });
}

/** Fuzzes every specification against a fresh vault; the vault is deleted and purged afterwards. */
export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  if (!existsSync(ST)) throw new Error(`schemathesis is not installed: run test/fuzz/setup-venv.sh (${ST} missing)`);
  mkdirSync(options.outDir, { recursive: true });
  const token = await vaultToken();
  const vault = `fuzz-${suffix()}`.slice(0, 24);
  const created = await admin(token, '/admin/vaults', 'POST', { name: vault, softDeleteRetentionInDays: 7 });
  if (created !== 201) throw new Error(`fuzz vault ${vault} not created: ${created}`);
  const deviations: Record<string, number> = {};
  const specs: SpecResult[] = [];
  const host = `${vault}.vault.${DOMAIN}:${VAULT_PORT}`;
  try {
    const seeds = await seed(token, host);
    const passes = (options.specs ?? SPECS).flatMap((file) => [
      { file, pass: 'any' as const },
      { file, pass: 'seeded' as const },
    ]);
    for (const { file, pass } of passes) {
      const name = `${file.replace(/[/.]/g, '-').replace(/-json$/, '')}-${pass}`;
      const copy = join(options.outDir, `${name}.openapi.json`);
      writeFileSync(copy, JSON.stringify(workingCopy(file, pass === 'any' ? deviations : {}, pass === 'seeded' ? seeds : undefined), null, 1));
      const ndjson = join(options.outDir, `${name}.ndjson`);
      const args = [
        'run', copy,
        '--url', BASE,
        '-H', `Authorization: Bearer ${token}`,
        '-H', `Host: ${host}`,
        // The seeded pass keeps its objects: no delete of a key or secret (their soft-deleted forms are fuzzed in the other pass).
        ...(pass === 'seeded' ? ['--exclude-name', 'DELETE /keys/{key-name}', '--exclude-name', 'DELETE /secrets/{secret-name}'] : []),
        '--tls-verify', stackEnv.caFile,
        '--checks', CHECKS.join(','),
        '--mode', 'all',
        '--max-examples', String(options.maxExamples),
        '--phases', 'examples,coverage,fuzzing',
        '--workers', String(options.workers ?? 2),
        '--continue-on-failure',
        '--request-timeout', '30',
        '--suppress-health-check', 'all',
        '--output-sanitize', 'true',
        '--report', 'ndjson,junit',
        '--report-ndjson-path', ndjson,
        '--report-junit-path', join(options.outDir, `${name}.junit.xml`),
        ...(options.seed !== undefined ? ['--seed', String(options.seed)] : []),
      ];
      log(`\n[fuzz] ${file}, ${pass === 'seeded' ? 'names aimed at seeded objects' : 'any names'} (max-examples ${options.maxExamples}) against ${vault}`);
      const exitCode = await run(ST, args, log);
      const summary = existsSync(ndjson) ? summarize(`${file} (${pass})`, readFileSync(ndjson, 'utf8')) : { operations: 0, requests: 0, failures: [], errors: ['no report written'] };
      specs.push({ spec: `${file} (${pass})`, exitCode, ...summary });
      log(`[fuzz] ${file} (${pass}): ${summary.operations} operations, ${summary.requests} requests, ${summary.failures.length} distinct failures, exit ${exitCode}`);
    }
  } finally {
    await admin(token, `/admin/vaults/${vault}`, 'DELETE').catch(() => 0);
    await admin(token, `/admin/deletedvaults/${vault}`, 'DELETE').catch(() => 0);
  }
  return {
    vault,
    requests: specs.reduce((n, s) => n + s.requests, 0),
    failures: specs.flatMap((s) => s.failures),
    specs,
    deviations,
  };
}
