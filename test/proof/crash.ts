/**
 * The crash matrix: a mixed SDK workload runs while each component in turn is killed with
 * SIGKILL; then every acknowledged write is read back and every answer matched with its
 * audit record. Node services come back through `npm start`'s supervision; PostgreSQL, Kafka
 * and Elasticsearch through `npm run stack:up`, which this driver runs the moment it sees the
 * process gone (the part systemd or a container runtime plays in production).
 */
import { randomBytes } from 'node:crypto';
import { auditCheck, declaredUnaudited, readBack, type AuditCheck, type LostWrite } from './checks.js';
import { alive, allHealthy, COMPONENTS, ensureServices, killComponent, mainPid, NODE_SERVICES, restartStack, waitUntil, type Component } from './stack-control.js';
import { Ledgerbook, makeClients, makePrincipal, Writer, type Answer } from './workload.js';

export type CrashOptions = { ops: number; writers: number; components: readonly Component[]; catchUpSeconds: number; recoverSeconds: number };

export type PhaseRow = {
  component: Component;
  killedPids: number[];
  killedAt: string;
  restartedBy: string;
  recoverySeconds: number | null;
  longestWriteGapSeconds: number | null;
  lostWrites: number;
  missingAuditLedger: number;
  duplicateAuditLedger: number;
  missingAuditIndex: number;
  duplicateAuditIndex: number;
  unauditedAnswers: number;
  declaredUnauditedAnswers: number;
  failedOperations: number;
  operatorAction: string;
};

const log = (s: string): void => {
  process.stderr.write(`[proof crash ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
};

function longestGap(times: readonly number[], from: number, to: number): number {
  const inside = times.filter((t) => t >= from && t <= to).sort((a, b) => a - b);
  let gap = 0;
  let prev = from;
  for (const t of inside) {
    gap = Math.max(gap, t - prev);
    prev = t;
  }
  return Math.max(gap, to - prev);
}

export async function crash(o: CrashOptions): Promise<{ result: Record<string, unknown>; rows: PhaseRow[]; ok: boolean }> {
  const services = await ensureServices(log);
  try {
    await waitUntil('all services healthy before the run', allHealthy, 180_000, 500);
    const run = randomBytes(4).toString('hex');
    const book = new Ledgerbook();
    const clients = makeClients(book);
    const principal = await makePrincipal(clients, run);
    const vault = 'dev';
    const writers = Array.from({ length: o.writers }, (_, i) => new Writer(clients, `${run}-w${i}`, principal, vault));
    const startedAt = new Date();
    let phasesDone = false;
    const loops = writers.map(async (w) => {
      while (!(phasesDone && book.opsDone >= o.ops)) await w.step();
    });
    log(`run ${run}: ${o.writers} writers, ~${o.ops} operations, killing ${o.components.join(', ')} in turn`);

    type Phase = { component: Component; start: number; killAt: number; backAt: number | null; pids: number[]; restartedBy: string; error?: string };
    const phases: Phase[] = [];
    const perPhase = Math.max(1, Math.floor(o.ops / o.components.length));
    for (const component of o.components) {
      const start = Date.now();
      const startOps = book.opsDone;
      await waitUntil('all services healthy', allHealthy, o.recoverSeconds * 1000, 500).catch(() => log('not all services healthy; killing anyway'));
      await waitUntil(`${Math.round(perPhase * 0.3)} operations`, () => book.opsDone >= startOps + perPhase * 0.3, 600_000, 100);
      const before = mainPid(component);
      const pids = killComponent(component);
      const killAt = Date.now();
      const node = (NODE_SERVICES as readonly string[]).includes(component);
      log(`killed ${component} (pid ${pids.join(', ')}) after ${book.opsDone - startOps} operations of this phase`);
      const phase: Phase = { component, start, killAt, backAt: null, pids, restartedBy: node ? 'npm start (supervision)' : 'proof driver: npm run stack:up' };
      phases.push(phase);
      try {
        if (node) {
          await waitUntil(`${component} restarted`, () => {
            const p = mainPid(component);
            return p !== undefined && p !== before;
          }, o.recoverSeconds * 1000, 100);
        } else {
          await waitUntil(`${component} gone`, () => !alive(before), 10_000, 50);
          await restartStack(o.recoverSeconds * 1000);
        }
        phase.backAt = await waitUntil('all services healthy', allHealthy, o.recoverSeconds * 1000, 250);
        log(`${component} back: all services healthy after ${((phase.backAt - killAt) / 1000).toFixed(1)} s`);
      } catch (err) {
        phase.error = err instanceof Error ? err.message : String(err);
        log(`${component} did NOT come back: ${phase.error}`);
      }
      await waitUntil('phase operations', () => book.opsDone >= startOps + perPhase, 900_000, 100);
    }
    phasesDone = true;
    await Promise.all(loops);
    const workloadEnd = Date.now();
    log(`workload done: ${book.opsDone} operations, ${book.writes.length} acknowledged writes, ${book.answers.length} answers`);

    await waitUntil('all services healthy before the checks', allHealthy, o.recoverSeconds * 1000, 500).catch(() => log('not all services healthy for the checks'));
    const back = await readBack(clients, book.writes, principal, book.unknownAssignments);
    log(`read back ${back.checked} writes: ${back.lost.length} lost`);
    const audit = await auditCheck(book.answers, startedAt, o.catchUpSeconds * 1000, log);
    log(`chain: ${audit.chain?.ok === true ? 'verified' : 'BROKEN'}`);

    // Attribute each finding to the phase whose window holds it.
    const phaseOf = (t: number): number => {
      let i = 0;
      while (i + 1 < phases.length && t >= phases[i + 1]!.start) i++;
      return i;
    };
    const count = <T>(list: readonly T[], time: (x: T) => number, i: number): number => list.filter((x) => phaseOf(time(x)) === i).length;
    const at = (a: Answer): number => a.t;
    const lostAt = (l: LostWrite): number => l.write.t;
    const rows: PhaseRow[] = phases.map((p, i) => {
      const recovery = p.backAt !== null ? (p.backAt - p.killAt) / 1000 : null;
      return {
        component: p.component,
        killedPids: p.pids,
        killedAt: new Date(p.killAt).toISOString(),
        restartedBy: p.restartedBy,
        recoverySeconds: recovery !== null ? Math.round(recovery * 10) / 10 : null,
        longestWriteGapSeconds: Math.round(longestGap(book.ackTimes, p.killAt, Math.min(workloadEnd, (p.backAt ?? workloadEnd) + 5_000)) / 100) / 10,
        lostWrites: count(back.lost, lostAt, i),
        missingAuditLedger: count(audit.missingInLedger, at, i),
        duplicateAuditLedger: count(audit.duplicatedInLedger, at, i),
        missingAuditIndex: count(audit.missingInIndex, at, i),
        duplicateAuditIndex: count(audit.duplicatedInIndex, at, i),
        unauditedAnswers: count(audit.missingInLedger, at, i),
        declaredUnauditedAnswers: count(book.answers.filter(declaredUnaudited), at, i),
        failedOperations: count(book.ops.filter((x) => !x.ok), (x) => x.t, i),
        operatorAction: p.backAt !== null ? 'none' : `yes: ${p.error ?? 'not back'}`,
      };
    });
    const sample = (list: readonly Answer[]): Answer[] => list.slice(0, 20);
    const checks = summarize(audit, back.lost, book);
    const ok =
      back.lost.length === 0 &&
      audit.missingInLedger.length === 0 &&
      audit.duplicatedInLedger.length === 0 &&
      audit.missingInIndex.length === 0 &&
      audit.duplicatedInIndex.length === 0 &&
      audit.ledgerTotal === audit.indexTotal &&
      audit.chain?.ok === true &&
      book.wrongAnswers.length === 0 &&
      rows.every((r) => r.operatorAction === 'none');
    const result = {
      run,
      options: o,
      startedAt: startedAt.toISOString(),
      workloadSeconds: Math.round((workloadEnd - startedAt.getTime()) / 1000),
      operations: book.opsDone,
      operationsFailed: book.ops.filter((x) => !x.ok).length,
      operationsByKind: Object.fromEntries([...new Set(book.ops.map((x) => x.op))].map((op) => [op, { ok: book.ops.filter((x) => x.op === op && x.ok).length, failed: book.ops.filter((x) => x.op === op && !x.ok).length }])),
      acknowledgedWrites: book.writes.length,
      answers: book.answers.length,
      verdict: ok ? 'pass' : 'FAIL',
      checks,
      matrix: rows,
      failuresByPhase: Object.fromEntries(
        phases.map((p, i) => {
          const kinds = new Map<string, number>();
          for (const x of book.ops) if (!x.ok && phaseOf(x.t) === i) kinds.set(`${x.op}: ${(x.error ?? '').slice(0, 80)}`, (kinds.get(`${x.op}: ${(x.error ?? '').slice(0, 80)}`) ?? 0) + 1);
          return [p.component, Object.fromEntries([...kinds].sort((a, b) => b[1] - a[1]).slice(0, 8))];
        }),
      ),
      samples: {
        lostWrites: back.lost.slice(0, 20),
        missingInLedger: sample(audit.missingInLedger),
        missingInIndex: sample(audit.missingInIndex),
        duplicatedInIndex: sample(audit.duplicatedInIndex),
        wrongAnswers: book.wrongAnswers.slice(0, 20),
        failedOperations: book.ops.filter((x) => !x.ok).slice(0, 20),
      },
    };
    return { result, rows, ok };
  } finally {
    await services.stop();
  }
}

function summarize(audit: AuditCheck, lost: readonly LostWrite[], book: Ledgerbook): Record<string, unknown> {
  return {
    lostWrites: lost.length,
    wrongAnswers: book.wrongAnswers.length,
    answers: audit.answers,
    answersDeclaredUnaudited: audit.declaredUnaudited,
    unauditedAnswers: audit.missingInLedger.length,
    unauditedAcknowledged: audit.missingInLedger.filter((a) => a.status < 300).length,
    duplicateLedgerRecords: audit.duplicatedInLedger.length,
    missingIndexRecords: audit.missingInIndex.length,
    duplicateIndexRecords: audit.duplicatedInIndex.length,
    ledgerRecordsTotal: audit.ledgerTotal,
    indexRecordsTotal: audit.indexTotal,
    chainVerified: audit.chain?.ok === true,
    chainOutput: (audit.chain?.output ?? '').split('\n').slice(0, 10),
  };
}

export const DEFAULT_COMPONENTS: readonly Component[] = COMPONENTS;

/** The table the command prints: component × lost writes × missing/duplicate audit records × unaudited answers × recovery × operator action. */
export function crashTable(rows: readonly PhaseRow[]): string {
  const head = ['component', 'lost writes', 'audit missing (ledger/index)', 'audit duplicate (ledger/index)', 'unaudited answers', 'recovery s', 'longest write gap s', 'failed ops', 'restarted by', 'operator action'];
  const body = rows.map((r) => [
    r.component,
    String(r.lostWrites),
    `${r.missingAuditLedger}/${r.missingAuditIndex}`,
    `${r.duplicateAuditLedger}/${r.duplicateAuditIndex}`,
    String(r.unauditedAnswers),
    r.recoverySeconds === null ? 'not back' : r.recoverySeconds.toFixed(1),
    r.longestWriteGapSeconds === null ? '-' : r.longestWriteGapSeconds.toFixed(1),
    String(r.failedOperations),
    r.restartedBy,
    r.operatorAction,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line)].join('\n');
}
