/**
 * Benchmark runner: `npm run bench -- <name>` runs `test/bench/<name>.bench.ts` (its exported
 * `run()`), prints the figures as a table and writes `test/bench/results/<name>.json` with
 * the machine it ran on. Benchmarks write numbers; they never pass or fail (and never run
 * in `npm test`).
 *
 * Every result also records how fast the machine was: `machine.speed`, `openssl speed` RSA-2048
 * signs/s on all cores right before and right after the bench (2 s each; BENCH_CALIBRATE=0
 * skips it). The host under this class of machine changes speed from day to day and hour to
 * hour (5,200–8,600 signs/s seen on the same 2 cores): compare figures of different runs
 * against it, or better, run the code being compared side by side in one hour.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { arch, cpus, loadavg, platform, release, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

type BenchModule = { run?: () => Promise<Record<string, unknown>> };

const here = dirname(fileURLToPath(import.meta.url));

/** The repository root: the nearest folder above this file with a package.json (this file runs from dist/). */
function repoRoot(): string {
  for (let dir = here; dir !== dirname(dir); dir = dirname(dir)) if (existsSync(join(dir, 'package.json'))) return dir;
  return process.cwd();
}

async function available(): Promise<string[]> {
  return (await readdir(here)).filter((f) => f.endsWith('.bench.js')).map((f) => f.slice(0, -'.bench.js'.length)).sort();
}

/** Nested figures as `a.b.c` rows. */
export function flatten(value: unknown, prefix = ''): [string, string][] {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    return Object.entries(value as Record<string, unknown>).flatMap(([k, v]) => flatten(v, prefix ? `${prefix}.${k}` : k));
  }
  const shown = typeof value === 'number' ? (Number.isInteger(value) ? value.toLocaleString('en-US') : value.toLocaleString('en-US', { maximumFractionDigits: 2 })) : Array.isArray(value) ? JSON.stringify(value) : String(value);
  return [[prefix, shown]];
}

export function table(rows: readonly [string, string][]): string {
  const w = Math.max(6, ...rows.map(([k]) => k.length));
  const v = Math.max(5, ...rows.map(([, x]) => x.length));
  const line = `+${'-'.repeat(w + 2)}+${'-'.repeat(v + 2)}+`;
  return [line, `| ${'figure'.padEnd(w)} | ${'value'.padStart(v)} |`, line, ...rows.map(([k, x]) => `| ${k.padEnd(w)} | ${x.padStart(v)} |`), line].join('\n');
}

/** `openssl speed -seconds 2 -multi <cores> rsa2048`: RSA-2048 signs/s on all cores, or undefined when openssl is missing or says something else. */
async function rsaSignsPerSecond(cores: number): Promise<number | undefined> {
  try {
    const { stdout } = await promisify(execFile)('openssl', ['speed', '-seconds', '2', '-multi', String(Math.max(1, cores)), 'rsa2048'], { maxBuffer: 4 * 1024 * 1024 });
    const m = /^rsa\s+2048 bits\s+\S+\s+\S+\s+([\d.]+)/m.exec(stdout);
    return m ? Math.round(Number(m[1])) : undefined;
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const name = process.argv[2];
  const names = await available();
  if (!name || !/^[a-z0-9-]+$/.test(name) || !names.includes(name)) {
    process.stderr.write(`usage: npm run bench -- <name>\navailable: ${names.join(', ') || '(none)'}\n`);
    process.exit(2);
  }
  const mod = (await import(`./${name}.bench.js`)) as BenchModule;
  if (typeof mod.run !== 'function') throw new Error(`${name}.bench.js does not export run()`);
  const cpuList = cpus();
  const machine = {
    cpus: cpuList.length,
    cpuModel: cpuList[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    os: `${platform()} ${release()} ${arch()}`,
    loadAverageAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
  const calibrate = process.env.BENCH_CALIBRATE !== '0';
  const speedBefore = calibrate ? await rsaSignsPerSecond(machine.cpus) : undefined;
  const started = new Date();
  process.stderr.write(`bench ${name}: started ${started.toISOString()} on ${machine.cpus} × ${machine.cpuModel}, node ${machine.node}${speedBefore ? `, openssl ${speedBefore} RSA-2048 signs/s` : ''}\n`);
  const figures = await mod.run();
  const speedAfter = calibrate ? await rsaSignsPerSecond(machine.cpus) : undefined;
  Object.assign(machine, {
    speed: calibrate
      ? { command: `openssl speed -seconds 2 -multi ${machine.cpus} rsa2048`, rsa2048SignsPerSecondBefore: speedBefore ?? null, rsa2048SignsPerSecondAfter: speedAfter ?? null }
      : 'not measured (BENCH_CALIBRATE=0)',
  });
  const result = { bench: name, date: started.toISOString(), durationSeconds: Math.round((Date.now() - started.getTime()) / 100) / 10, machine, figures };
  const out = join(repoRoot(), 'test/bench/results', `${name}.json`);
  await mkdir(dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify(result, null, 2)}\n`);
  process.stdout.write(`${table(flatten({ figures, machine }))}\n`);
  process.stdout.write(`written to ${out}\n`);
}

main().then(
  () => process.exit(0), // clients (Kafka, pools) may keep the loop alive; the figures are written
  (err: unknown) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
