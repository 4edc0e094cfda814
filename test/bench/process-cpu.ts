/**
 * CPU time of the processes a benchmark drives, read from /proc (Linux): what a request costs
 * each of them, a figure that holds on a busy machine where throughput does not.
 *
 * Processes are found by what they run: the Keyledger services by their entry point
 * (`dist/apps/<name>/src/main.js`), PostgreSQL by its executable name (every backend and helper
 * process, plus what the postmaster reaped meanwhile), Kafka and Elasticsearch by the pid files
 * of the local stack (`.keyledger/run/*.pid`) and their descendants. The client is this process.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export type ProcessGroup = 'vault' | 'crypto' | 'audit' | 'identity' | 'postgres' | 'kafka' | 'elasticsearch' | 'client';
export const PROCESS_GROUPS: readonly ProcessGroup[] = ['vault', 'crypto', 'audit', 'identity', 'postgres', 'kafka', 'elasticsearch', 'client'];

type ProcInfo = { pid: number; ppid: number; comm: string; cmdline: string; cpuTicks: number; childTicks: number };

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ, 100 on every Linux the project runs on). */
const TICKS_PER_SECOND = 100;

/** A /proc stat line (of a process or a thread): its name and the fields after it. */
function parseStat(stat: string): { comm: string; cpuTicks: number; childTicks: number; ppid: number } {
  // comm is in parentheses and may hold spaces: fields after the last ')'.
  const close = stat.lastIndexOf(')');
  const f = stat.slice(close + 2).split(' ');
  // f[0] = state (field 3); ppid = field 4; utime = field 14, stime 15, cutime 16, cstime 17.
  return { comm: stat.slice(stat.indexOf('(') + 1, close), ppid: Number(f[1]), cpuTicks: Number(f[11]) + Number(f[12]), childTicks: Number(f[13]) + Number(f[14]) };
}

function readProc(pid: number): ProcInfo | undefined {
  try {
    const { comm, ppid, cpuTicks, childTicks } = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    return { pid, ppid, comm, cmdline, cpuTicks, childTicks };
  } catch {
    return undefined; // gone meanwhile
  }
}

function allProcesses(): ProcInfo[] {
  const out: ProcInfo[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const p = readProc(Number(d));
    if (p) out.push(p);
  }
  return out;
}

function pidFile(home: string, name: string): number | undefined {
  try {
    const n = Number(readFileSync(join(home, 'run', `${name}.pid`), 'utf8').trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

function withDescendants(all: readonly ProcInfo[], root: number | undefined): ProcInfo[] {
  if (root === undefined) return [];
  const keep = new Set<number>([root]);
  let grew = true;
  while (grew) {
    grew = false;
    for (const p of all) {
      if (keep.has(p.pid) || !keep.has(p.ppid)) continue;
      keep.add(p.pid);
      grew = true;
    }
  }
  return all.filter((p) => keep.has(p.pid));
}

/** CPU seconds used so far by each group (their processes alive now). */
export function cpuSnapshot(home: string): Record<ProcessGroup, number> {
  const all = allProcesses();
  const sum = (ps: readonly ProcInfo[], withChildren = false): number => ps.reduce((t, p) => t + p.cpuTicks + (withChildren ? p.childTicks : 0), 0) / TICKS_PER_SECOND;
  const service = (name: string): ProcInfo[] => all.filter((p) => p.cmdline.includes(`dist/apps/${name}/src/main.js`));
  const postgres = all.filter((p) => p.comm === 'postgres' || p.comm.startsWith('postgres:'));
  // The postmaster's reaped children (backends that ended) count too.
  const postmaster = postgres.filter((p) => !postgres.some((q) => q.pid === p.ppid));
  const own = process.cpuUsage();
  return {
    vault: sum(service('vault')),
    crypto: sum(service('crypto')),
    audit: sum(service('audit')),
    identity: sum(service('identity')),
    postgres: sum(postgres) + postmaster.reduce((t, p) => t + p.childTicks, 0) / TICKS_PER_SECOND,
    kafka: sum(withDescendants(all, pidFile(home, 'kafka'))),
    elasticsearch: sum(withDescendants(all, pidFile(home, 'elasticsearch'))),
    client: (own.user + own.system) / 1e6,
  };
}

/**
 * CPU seconds used so far by the JIT compiler threads (HotSpot's `C1/C2 CompilerThreadN`) of
 * the JVMs: Kafka and Elasticsearch keep compiling for many minutes after they start (a fresh
 * Elasticsearch spent about half of its CPU in the compiler during its first benchmark runs),
 * so their CPU per request depends on how long they have been up. Reported beside each group's
 * figure so a reader can tell warm-up from steady state.
 */
export function jitSnapshot(home: string): Record<'kafka' | 'elasticsearch', number> {
  const all = allProcesses();
  const compilerTicks = (ps: readonly ProcInfo[]): number => {
    let ticks = 0;
    for (const p of ps) {
      let tasks: string[];
      try {
        tasks = readdirSync(`/proc/${p.pid}/task`);
      } catch {
        continue; // gone meanwhile
      }
      for (const tid of tasks) {
        try {
          const thread = parseStat(readFileSync(`/proc/${p.pid}/task/${tid}/stat`, 'utf8'));
          if (/^C[12] CompilerThre/.test(thread.comm)) ticks += thread.cpuTicks;
        } catch {
          // thread gone meanwhile
        }
      }
    }
    return ticks / TICKS_PER_SECOND;
  };
  return {
    kafka: compilerTicks(withDescendants(all, pidFile(home, 'kafka'))),
    elasticsearch: compilerTicks(withDescendants(all, pidFile(home, 'elasticsearch'))),
  };
}

/** CPU microseconds per request of each group between two snapshots, and their total. */
export function cpuPerRequest(before: Record<ProcessGroup, number>, after: Record<ProcessGroup, number>, requests: number): Record<ProcessGroup | 'total', number> {
  const out = {} as Record<ProcessGroup | 'total', number>;
  let total = 0;
  for (const g of PROCESS_GROUPS) {
    const us = requests > 0 ? ((after[g] - before[g]) * 1e6) / requests : 0;
    out[g] = Math.round(us);
    total += us;
  }
  out.total = Math.round(total);
  return out;
}
