/**
 * `npm run proof -- crash [--ops N] [--writers N] [--components vault,crypto,…] [--catch-up-seconds N]`
 * `npm run proof -- soak [--minutes N] [--rate OPS_PER_S] [--writers N] [--capacity-seconds N]`
 * `npm run proof -- overload [--factor 3] [--seconds 60] [--recover-seconds 30] [--concurrency 64] [--capacity-seconds 15]`
 *
 * Runs against the stack named by KEYLEDGER_HOME and the port variables (deploy/local), starting
 * the services with `npm start` when they do not answer. Writes test/proof/results/<name>.json
 * and exits non-zero when a verdict fails. The crash matrix kills processes of that stack:
 * point it at an isolated one (README, "Proofs") unless you mean to hurt your own.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { crash, crashTable, DEFAULT_COMPONENTS } from './crash.js';
import { overload } from './overload.js';
import { soak } from './soak.js';
import { COMPONENTS, HOME, type Component } from './stack-control.js';

const here = dirname(fileURLToPath(import.meta.url));

function repoRoot(): string {
  for (let dir = here; dir !== dirname(dir); dir = dirname(dir)) if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'nest-cli.json'))) return dir;
  return process.cwd();
}

function flag(args: readonly string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

function numberFlag(args: readonly string[], name: string, fallback: number): number {
  const v = flag(args, name);
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got "${v}"`);
  return n;
}

async function write(name: string, result: Record<string, unknown>): Promise<string> {
  const out = join(repoRoot(), 'test/proof/results', `${name}.json`);
  await mkdir(dirname(out), { recursive: true });
  const machine = { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? 'unknown', memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10, node: process.version, loadAverageAtEnd: loadavg().map((x) => Math.round(x * 100) / 100) };
  await writeFile(out, `${JSON.stringify({ proof: name, date: new Date().toISOString(), machine, ...result }, null, 2)}\n`);
  return out;
}

async function main(): Promise<number> {
  const [name, ...args] = process.argv.slice(2);
  if (name === 'crash') {
    const list = flag(args, 'components');
    const components = list ? (list.split(',') as Component[]) : DEFAULT_COMPONENTS;
    for (const c of components) if (!COMPONENTS.includes(c)) throw new Error(`unknown component "${c}" (${COMPONENTS.join(', ')})`);
    const { result, rows, ok } = await crash({
      ops: numberFlag(args, 'ops', 10_000),
      writers: numberFlag(args, 'writers', 8),
      components,
      catchUpSeconds: numberFlag(args, 'catch-up-seconds', 180),
      recoverSeconds: numberFlag(args, 'recover-seconds', 180),
    });
    const out = await write(flag(args, 'out') ?? 'crash', result);
    process.stdout.write(`${crashTable(rows)}\n\n${JSON.stringify(result['checks'], null, 2)}\nverdict: ${ok ? 'pass' : 'FAIL'}\nwritten to ${out}\n`);
    return ok ? 0 : 1;
  }
  if (name === 'soak') {
    const rate = flag(args, 'rate');
    const { result, ok, table } = await soak({
      minutes: numberFlag(args, 'minutes', 30),
      writers: numberFlag(args, 'writers', 8),
      capacitySeconds: numberFlag(args, 'capacity-seconds', 20),
      ...(rate !== undefined ? { rate: numberFlag(args, 'rate', 1) } : {}),
    });
    const out = await write(flag(args, 'out') ?? 'soak', result);
    process.stdout.write(`${table}\nwritten to ${out}\n`);
    return ok ? 0 : 1;
  }
  if (name === 'overload') {
    const { result, ok, table } = await overload({
      factor: numberFlag(args, 'factor', 3),
      overloadSeconds: numberFlag(args, 'seconds', 60),
      recoverSeconds: numberFlag(args, 'recover-seconds', 30),
      capacitySeconds: numberFlag(args, 'capacity-seconds', 15),
      concurrency: numberFlag(args, 'concurrency', 64),
      timeoutMs: numberFlag(args, 'timeout-seconds', 30) * 1000,
      catchUpSeconds: numberFlag(args, 'catch-up-seconds', 180),
    });
    const out = await write(flag(args, 'out') ?? 'overload', result);
    process.stdout.write(`${table}\nwritten to ${out}\n`);
    return ok ? 0 : 1;
  }
  process.stderr.write('usage: npm run proof -- crash [--ops N] [--writers N] [--components a,b] | soak [--minutes N] [--rate R] [--writers N] | overload [--factor F] [--seconds S] [--recover-seconds S]\n');
  return 2;
}

// The SDKs (MSAL's discovery included) must trust the development CA: Node reads
// NODE_EXTRA_CA_CERTS only at start, so run again with a bundle of the CA and whatever
// NODE_EXTRA_CA_CERTS named before.
const devCa = join(HOME, 'tls', 'ca.crt');
if (!process.env.KEYLEDGER_PROOF_CHILD && existsSync(devCa)) {
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  const bundle = join(tmpdir(), `keyledger-proof-ca-${process.pid}.pem`);
  writeFileSync(bundle, `${readFileSync(devCa, 'utf8')}\n${extra && existsSync(extra) ? readFileSync(extra, 'utf8') : ''}`);
  const res = spawnSync(process.execPath, process.argv.slice(1), { stdio: 'inherit', env: { ...process.env, NODE_EXTRA_CA_CERTS: bundle, KEYLEDGER_PROOF_CHILD: '1' } });
  rmSync(bundle, { force: true });
  process.exit(res.status ?? 1);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`proof failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
