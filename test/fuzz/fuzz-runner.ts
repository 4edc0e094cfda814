/**
 * Fuzzes the running vault with schemathesis, driven by Microsoft's own OpenAPI description of
 * the Key Vault data plane and the Managed HSM administration plane (vendored in
 * test/fuzz/openapi/). For each specification: a working copy with the api-version pinned and the
 * reviewed deviations applied (deviations.ts), one schemathesis run per pass (positive and
 * negative generation, the five conformance checks) against a vault or a Managed HSM pool of its
 * own with a real token, and a summary read from schemathesis' NDJSON report.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { bootstrap, httpsRequest, tokenFor } from '../support/identity.js';
import { stackEnv, suffix } from '../support/stack-env.js';
import { DEVIATIONS, pinApiVersion, type Parameter, type Spec } from './deviations.js';
import { BASE, dropStorage, seedPool, seedVault, type Seeds } from './fuzz-seeds.js';

export const CHECKS = ['not_a_server_error', 'status_code_conformance', 'content_type_conformance', 'response_schema_conformance', 'response_headers_conformance'] as const;

/** The vendored specifications, `<api-version>/<file>` under test/fuzz/openapi/ (7.5/common.json is only referred to). */
export const SPECS = [
  '2025-07-01/secrets.json',
  '2025-07-01/keys.json',
  '2025-07-01/certificates.json',
  '7.5/secrets.json',
  '7.5/keys.json',
  '7.5/certificates.json',
  '2025-07-01/rbac.json',
  '2025-07-01/settings.json',
  '2025-07-01/backuprestore.json',
  '7.5/rbac.json',
  '7.5/settings.json',
  '7.5/backuprestore.json',
  '7.5/securitydomain.json',
] as const;

export type FuzzOptions = {
  /** schemathesis --max-examples: generated cases per operation and phase. */
  readonly maxExamples: number;
  /** Specifications to fuzz, each in all its passes (`7.5/rbac.json`) or in one (`7.5/rbac.json:seeded`). */
  readonly specs?: readonly string[];
  readonly seed?: number;
  readonly workers?: number;
  /** Where working copies and reports go. */
  readonly outDir: string;
  readonly log?: (line: string) => void;
};

export type Failure = { readonly spec: string; readonly operation: string; readonly check: string; readonly title: string; readonly status?: number; readonly request?: string; readonly body?: string };

export type SpecResult = { readonly spec: string; readonly operations: number; readonly requests: number; readonly failures: readonly Failure[]; readonly exitCode: number; readonly errors: readonly string[] };

export type FuzzResult = { readonly vault: string; readonly pools: readonly string[]; readonly requests: number; readonly failures: readonly Failure[]; readonly specs: readonly SpecResult[]; readonly deviations: Record<string, number> };

const VAULT_PORT = Number(process.env.VAULT_PORT ?? 8443);
const DOMAIN = process.env.KEYLEDGER_DOMAIN ?? 'localhost';
const OPENAPI_DIR = join(stackEnv.repoRoot, 'test', 'fuzz', 'openapi');
export const ST = join(stackEnv.repoRoot, '.venv-fuzz', 'bin', 'st');

/** A token of the bootstrap administrator for `https://vault.<domain>` or, for pools, `https://managedhsm.<domain>`. */
async function tokenOf(surface: Surface): Promise<string> {
  const b = bootstrap();
  return tokenFor(b.clientId, b.clientSecret, surface === 'pool' ? `https://managedhsm.${DOMAIN}` : `https://vault.${DOMAIN}`);
}

async function admin(token: string, path: string, method: string, body?: unknown): Promise<number> {
  const res = await httpsRequest(`${BASE}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return res.status;
}

/** What a specification is fuzzed against: the vault's data plane, or a Managed HSM pool's administration plane. */
export type Surface = 'vault' | 'pool';
/**
 * A pass over one specification: `any` (path parameters generated freely), `seeded` (aimed at
 * the seeded objects), `pending` (the security domain, against a second pool still awaiting it).
 */
export type Pass = 'any' | 'seeded' | 'pending';

const POOL_FILES = /\/(rbac|settings|backuprestore|securitydomain)\.json$/;
export const surfaceOf = (file: string): Surface => (POOL_FILES.test(file) ? 'pool' : 'vault');

/**
 * The passes of a specification. The security domain has no path parameter to aim: its second
 * pass runs against a pool awaiting its domain instead, so the download and upload bodies reach
 * their validation (the activated pool answers them 409 after reading the body).
 */
export const passesOf = (file: string): readonly Pass[] => (file.endsWith('/securitydomain.json') ? ['any', 'pending'] : ['any', 'seeded']);

/**
 * Operations the seeded pass leaves out, and why: deleting a seeded object would leave the rest
 * of the pass aimed at nothing (their deletes, and purges of what was deleted, are fuzzed in the
 * `any` pass, against names generated freely). Nothing else is excluded: restores, security
 * domain uploads and purges are fuzzed in full, against the fuzzer's own vault and pools only
 * (README "Destructive operations").
 */
export const SEEDED_EXCLUDES: readonly string[] = [
  'DELETE /keys/{key-name}',
  'DELETE /secrets/{secret-name}',
  'DELETE /certificates/{certificate-name}',
  'DELETE /certificates/issuers/{issuer-name}',
  'DELETE /{scope}/providers/Microsoft.Authorization/roleAssignments/{roleAssignmentName}',
  'DELETE /{scope}/providers/Microsoft.Authorization/roleDefinitions/{roleDefinitionName}',
];

/** Aims the name and version path parameters of a working copy at the seeded objects (and a pool's backups at its Azurite container). */
function aimAt(spec: Spec, seeds: Seeds): void {
  const { vault, pool } = seeds;
  const values: Record<string, string[]> = {
    'secret-name': Object.keys(vault.secrets),
    'secret-version': Object.values(vault.secrets),
    'key-name': Object.keys(vault.keys),
    'key-version': Object.values(vault.keys),
    'certificate-name': Object.keys(vault.certificates),
    'certificate-version': Object.values(vault.certificates),
    'issuer-name': [...vault.issuers],
    // Slashes in a path parameter are sent as %2F: of the pool's scopes only "keys" is one path segment.
    scope: ['keys'],
    roleAssignmentName: [...pool.roleAssignments],
    roleDefinitionName: [...pool.roleDefinitions],
    'setting-name': [...pool.settings],
    keyName: Object.keys(pool.keys),
    jobId: [...pool.jobs],
  };
  for (const methods of Object.values(spec.paths)) {
    for (const op of Object.values(methods)) {
      for (const p of op.parameters ?? []) {
        if ('name' in p && p.in === 'path' && values[p.name]?.length) (p as Parameter).enum = values[p.name];
      }
    }
  }
  // Backups and restores: positive cases name the seeded container, its SAS and the folder of the seeded backup.
  const storage: Record<string, string> = { storageResourceUri: pool.storage.uri, token: pool.storage.token, folderToRestore: pool.storage.folder, folder: pool.storage.folder };
  for (const d of Object.values(spec.definitions ?? {})) {
    for (const [name, prop] of Object.entries(d.properties ?? {})) {
      const v = storage[name];
      if (v && prop.type === 'string') prop.enum = [v];
    }
  }
}

/**
 * Hand-written specifications (7.5 backuprestore.json) refer to `common.json#/…` next to them;
 * the working copy takes those definitions and parameters in (renamed `common.<name>`, since
 * definitions of the same name in different files may differ) so it is self-contained.
 */
export function inlineCommon(spec: Spec, dir: string): void {
  const text = JSON.stringify(spec);
  if (!text.includes('"common.json#/')) return;
  const common = JSON.parse(readFileSync(join(dir, 'common.json'), 'utf8')) as Pick<Spec, 'definitions' | 'parameters'>;
  const inlined = JSON.parse(text.replace(/"common\.json#\/(definitions|parameters)\/([^"]+)"/g, '"#/$1/common.$2"')) as Spec;
  const commonText = JSON.stringify(common).replace(/"#\/(definitions|parameters)\/([^"]+)"/g, '"#/$1/common.$2"');
  const renamed = JSON.parse(commonText) as Pick<Spec, 'definitions' | 'parameters'>;
  spec.paths = inlined.paths;
  spec.definitions = { ...inlined.definitions, ...Object.fromEntries(Object.entries(renamed.definitions ?? {}).map(([k, v]) => [`common.${k}`, v])) };
  spec.parameters = { ...inlined.parameters, ...Object.fromEntries(Object.entries(renamed.parameters ?? {}).map(([k, v]) => [`common.${k}`, v])) };
}

/** The working copy of one vendored specification, as schemathesis reads it. */
export function workingCopy(file: string, counts: Record<string, number>, seeds?: Seeds): Spec {
  const spec = JSON.parse(readFileSync(join(OPENAPI_DIR, file), 'utf8')) as Spec;
  inlineCommon(spec, dirname(join(OPENAPI_DIR, file)));
  pinApiVersion(spec);
  for (const d of DEVIATIONS) counts[d.id] = (counts[d.id] ?? 0) + d.apply(spec);
  if (seeds) aimAt(spec, seeds);
  return spec;
}

type Event = Record<string, unknown>;

/** A SAS signature (the seeded backups' Azurite token) never reaches a report. */
const redact = (text: string): string => text.replace(/sig=[^"&\\]+/g, 'sig=[redacted]');

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
            ...(recorder?.cases?.[caseId]?.value?.body !== undefined ? { body: redact(JSON.stringify(recorder.cases[caseId]?.value?.body)).slice(0, 400) } : {}),
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

/**
 * Fuzzes every specification against a fresh vault, a fresh pool usable at once, and (the
 * security domain's `pending` pass) a fresh pool awaiting its security domain; all three are
 * deleted and purged afterwards, and the Azurite container of the pool's backups dropped.
 */
export async function runFuzz(options: FuzzOptions): Promise<FuzzResult> {
  const log = options.log ?? ((line: string) => console.log(line));
  if (!existsSync(ST)) throw new Error(`schemathesis is not installed: run test/fuzz/setup-venv.sh (${ST} missing)`);
  mkdirSync(options.outDir, { recursive: true });
  const files = options.specs ?? SPECS;
  for (const entry of files) {
    const [file = entry, only] = entry.split(':');
    if (!existsSync(join(OPENAPI_DIR, file)) || (only !== undefined && !passesOf(file).includes(only as Pass))) throw new Error(`no such specification or pass: ${entry}`);
  }
  const tokens: Record<Surface, string> = { vault: await tokenOf('vault'), pool: await tokenOf('pool') };
  const id = suffix();
  const vault = `fuzz-${id}`.slice(0, 24);
  const pool = `fuzzp-${id}`.slice(0, 24);
  const pendingPool = `fuzzq-${id}`.slice(0, 24);
  const usesPools = files.some((f) => surfaceOf(f.split(':')[0] ?? f) === 'pool');
  const containers: { path: string; name: string }[] = [];
  const create = async (path: string, name: string, body: Record<string, unknown>): Promise<void> => {
    const created = await admin(tokens.vault, `/admin/${path}`, 'POST', { name, softDeleteRetentionInDays: 7, ...body });
    if (created !== 201) throw new Error(`fuzz ${path} ${name} not created: ${created}`);
    containers.push({ path, name });
  };
  const deviations: Record<string, number> = {};
  const specs: SpecResult[] = [];
  const hosts = { vault: `${vault}.vault.${DOMAIN}:${VAULT_PORT}`, pool: `${pool}.managedhsm.${DOMAIN}:${VAULT_PORT}`, pending: `${pendingPool}.managedhsm.${DOMAIN}:${VAULT_PORT}` };
  let storageContainer: string | undefined;
  try {
    await create('vaults', vault, {});
    if (usesPools) {
      // Usable at once (the fuzzer exercises administration, not activation), and one still awaiting its domain.
      await create('managedhsms', pool, { activateWithoutSecurityDomain: true });
      await create('managedhsms', pendingPool, {});
    }
    const vaultSeeds = await seedVault(tokens.vault, hosts.vault);
    const poolSeeds = usesPools ? await seedPool(tokens.pool, hosts.pool) : undefined;
    storageContainer = poolSeeds?.storage.container;
    const seeds: Seeds | undefined = poolSeeds ? { vault: vaultSeeds, pool: poolSeeds } : undefined;
    const passes = files.flatMap((entry) => {
      const [file = entry, only] = entry.split(':');
      return passesOf(file)
        .filter((pass) => only === undefined || pass === only)
        .map((pass) => ({ file, pass }));
    });
    for (const { file, pass } of passes) {
      const surface = surfaceOf(file);
      const host = pass === 'pending' ? hosts.pending : hosts[surface];
      const target = pass === 'pending' ? pendingPool : surface === 'pool' ? pool : vault;
      const name = `${file.replace(/[/.]/g, '-').replace(/-json$/, '')}-${pass}`;
      const copy = join(options.outDir, `${name}.openapi.json`);
      const aimed = pass === 'seeded' ? (seeds ?? { vault: vaultSeeds, pool: EMPTY_POOL_SEEDS }) : undefined;
      writeFileSync(copy, JSON.stringify(workingCopy(file, pass === 'seeded' ? {} : deviations, aimed), null, 1));
      const ndjson = join(options.outDir, `${name}.ndjson`);
      const args = [
        'run', copy,
        '--url', BASE,
        '-H', `Authorization: Bearer ${tokens[surface]}`,
        '-H', `Host: ${host}`,
        ...(pass === 'seeded' ? SEEDED_EXCLUDES.flatMap((op) => ['--exclude-name', op]) : []),
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
      const label = `${file} (${pass})`;
      log(`\n[fuzz] ${label}: ${PASS_WORDS[pass]} (max-examples ${options.maxExamples}) against ${target}`);
      const exitCode = await run(ST, args, log);
      const summary = existsSync(ndjson) ? summarize(label, readFileSync(ndjson, 'utf8')) : { operations: 0, requests: 0, failures: [], errors: ['no report written'] };
      specs.push({ spec: label, exitCode, ...summary });
      log(`[fuzz] ${label}: ${summary.operations} operations, ${summary.requests} requests, ${summary.failures.length} distinct failures, exit ${exitCode}`);
    }
  } finally {
    for (const c of containers) {
      await admin(tokens.vault, `/admin/${c.path}/${c.name}`, 'DELETE').catch(() => 0);
      await admin(tokens.vault, `/admin/deleted${c.path}/${c.name}`, 'DELETE').catch(() => 0);
    }
    if (storageContainer) await dropStorage(storageContainer).catch(() => undefined);
  }
  return {
    vault,
    pools: usesPools ? [pool, pendingPool] : [],
    requests: specs.reduce((n, s) => n + s.requests, 0),
    failures: specs.flatMap((s) => s.failures),
    specs,
    deviations,
  };
}

const PASS_WORDS: Record<Pass, string> = { any: 'any names', seeded: 'names aimed at seeded objects', pending: 'a pool awaiting its security domain' };

/** A vault-only run aims no pool parameter (no pool specification is in it). */
const EMPTY_POOL_SEEDS: Seeds['pool'] = { keys: {}, roleDefinitions: [], roleAssignments: [], settings: [], storage: { uri: '', token: '', folder: '', container: '' }, jobs: [] };
