/**
 * The soak: the crash matrix's workload at half of the capacity measured first, for N minutes.
 * Every 10 s it samples the resident memory of each process (the four services, PostgreSQL
 * with its backends, Kafka, Elasticsearch), the disk of Kafka and PostgreSQL and the size of
 * the audit index; per minute it reports operations, failures and latency percentiles.
 * Verdicts: no upward memory trend after the warm-up, every minute's p99 within 2× of the first.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { allHealthy, AUDIT_ALIAS, dirBytes, ELASTICSEARCH_URL, ensureServices, HOME, kafkaDataDir, mainPid, NODE_SERVICES, rssBytes, sleep, waitUntil, type Component } from './stack-control.js';
import { Ledgerbook, makeClients, makePrincipal, percentile, Writer, type OpResult } from './workload.js';

export type SoakOptions = { minutes: number; rate?: number; writers: number; capacitySeconds: number };

const log = (s: string): void => {
  process.stderr.write(`[proof soak ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
};
const MiB = 1024 * 1024;
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

type Sample = { t: number; rssMiB: Partial<Record<Component, number>>; kafkaDiskMiB?: number; postgresDiskMiB?: number; auditIndexMiB?: number; elasticsearchDiskMiB?: number };

async function indexBytes(): Promise<number | undefined> {
  try {
    const res = await fetch(`${ELASTICSEARCH_URL}/${AUDIT_ALIAS}/_stats/store`);
    const body = (await res.json()) as { _all?: { primaries?: { store?: { size_in_bytes?: number } } } };
    return body._all?.primaries?.store?.size_in_bytes;
  } catch {
    return undefined;
  }
}

async function sample(): Promise<Sample> {
  const rssMiB: Partial<Record<Component, number>> = {};
  for (const c of [...NODE_SERVICES, 'postgres', 'kafka', 'elasticsearch'] as const) {
    const bytes = rssBytes(mainPid(c), c === 'postgres');
    if (bytes !== undefined) rssMiB[c] = round(bytes / MiB);
  }
  const mib = (b: number | undefined): number | undefined => (b === undefined ? undefined : round(b / MiB));
  const s: Sample = { t: Date.now(), rssMiB };
  const kafka = mib(dirBytes(kafkaDataDir()));
  const pgDisk = mib(dirBytes(join(HOME, 'data', 'postgres')));
  const idx = mib(await indexBytes());
  const esDisk = mib(dirBytes(join(HOME, 'data', 'elasticsearch')));
  if (kafka !== undefined) s.kafkaDiskMiB = kafka;
  if (pgDisk !== undefined) s.postgresDiskMiB = pgDisk;
  if (idx !== undefined) s.auditIndexMiB = idx;
  if (esDisk !== undefined) s.elasticsearchDiskMiB = esDisk;
  return s;
}

/** Closed loop with every writer busy: operations per second once warm. */
async function measureCapacity(writers: readonly Writer[], book: Ledgerbook, seconds: number): Promise<number> {
  let stop = false;
  const loops = writers.map(async (w) => {
    while (!stop) await w.step();
  });
  await sleep(5_000);
  const from = book.opsDone;
  const t0 = Date.now();
  await sleep(seconds * 1000);
  const done = book.opsDone - from;
  const rate = done / ((Date.now() - t0) / 1000);
  stop = true;
  await Promise.all(loops);
  return rate;
}

/** Least-squares slope of y over time, in units per minute. */
function slopePerMinute(points: readonly { t: number; y: number }[]): number {
  if (points.length < 2) return 0;
  const n = points.length;
  const mx = points.reduce((s, p) => s + p.t, 0) / n;
  const my = points.reduce((s, p) => s + p.y, 0) / n;
  const num = points.reduce((s, p) => s + (p.t - mx) * (p.y - my), 0);
  const den = points.reduce((s, p) => s + (p.t - mx) ** 2, 0);
  return den === 0 ? 0 : (num / den) * 60_000;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? 0 : s[Math.floor(s.length / 2)]!;
};

export async function soak(o: SoakOptions): Promise<{ result: Record<string, unknown>; ok: boolean; table: string }> {
  const services = await ensureServices(log);
  try {
    await waitUntil('all services healthy', allHealthy, 180_000, 500);
    const run = randomBytes(4).toString('hex');
    const book = new Ledgerbook();
    const clients = makeClients(book);
    const principal = await makePrincipal(clients, run);
    const pool = Array.from({ length: o.writers * 2 }, (_, i) => new Writer(clients, `${run}-w${i}`, principal, 'dev'));

    let capacity: number | undefined;
    let rate = o.rate;
    if (rate === undefined) {
      log(`measuring capacity: ${o.writers} writers, closed loop, ${o.capacitySeconds} s`);
      capacity = await measureCapacity(pool.slice(0, o.writers), book, o.capacitySeconds);
      rate = capacity / 2;
      log(`capacity ${capacity.toFixed(1)} operations/s: soaking at ${rate.toFixed(1)}/s for ${o.minutes} min`);
    }
    book.ops.length = 0;
    book.answers.length = 0;

    const startedAt = Date.now();
    const endAt = startedAt + o.minutes * 60_000;
    const idle = [...pool];
    let behind = 0;
    let scheduled = 0;
    const inflight = new Set<Promise<void>>();
    const samples: Sample[] = [await sample()];
    let nextSample = startedAt + 10_000;
    while (Date.now() < endAt) {
      const due = Math.floor(((Date.now() - startedAt) / 1000) * rate);
      while (scheduled < due) {
        scheduled++;
        const w = idle.pop();
        if (!w) {
          behind++;
          continue;
        }
        const p: Promise<void> = w.step().finally(() => {
          idle.push(w);
          inflight.delete(p);
        });
        inflight.add(p);
      }
      if (Date.now() >= nextSample) {
        samples.push(await sample());
        book.answers.length = 0;
        nextSample += 10_000;
        const last = samples[samples.length - 1]!;
        log(`${Math.round((Date.now() - startedAt) / 1000)} s: ${book.opsDone} operations, rss ${JSON.stringify(last.rssMiB)}`);
      }
      await sleep(20);
    }
    await Promise.all(inflight);
    samples.push(await sample());

    // Per minute: operations that finished in it.
    const minutes: { minute: number; operations: number; failed: number; p50Ms: number; p99Ms: number; maxMs: number }[] = [];
    for (let m = 0; m < o.minutes; m++) {
      const inMinute: OpResult[] = book.ops.filter((x) => x.t >= startedAt + m * 60_000 && x.t < startedAt + (m + 1) * 60_000);
      const lat = inMinute.filter((x) => x.ok).map((x) => x.ms).sort((a, b) => a - b);
      minutes.push({ minute: m + 1, operations: inMinute.length, failed: inMinute.filter((x) => !x.ok).length, p50Ms: round(percentile(lat, 50)), p99Ms: round(percentile(lat, 99)), maxMs: round(lat[lat.length - 1] ?? 0) });
    }
    const firstP99 = minutes[0]?.p99Ms ?? 0;
    const p99Ok = minutes.every((m) => m.p99Ms <= 2 * firstP99);

    // Memory: after the warm-up (the first minute, at least a fifth of the run), the last third's
    // median may not exceed the first third's by more than 10 % and 32 MiB.
    const warm = startedAt + Math.max(60_000, (o.minutes * 60_000) / 5);
    const after = samples.filter((s) => s.t >= warm);
    const memory: Record<string, { firstMiB: number; lastMiB: number; slopeMiBPerMin: number; earlyMedianMiB: number; lateMedianMiB: number; upwardTrend: boolean }> = {};
    for (const c of [...NODE_SERVICES, 'postgres', 'kafka', 'elasticsearch'] as const) {
      const pts = after.map((s) => ({ t: s.t, y: s.rssMiB[c] })).filter((p): p is { t: number; y: number } => p.y !== undefined);
      if (pts.length < 3) continue;
      const third = Math.max(1, Math.floor(pts.length / 3));
      const early = median(pts.slice(0, third).map((p) => p.y));
      const late = median(pts.slice(-third).map((p) => p.y));
      memory[c] = {
        firstMiB: samples[0]!.rssMiB[c] ?? 0,
        lastMiB: pts[pts.length - 1]!.y,
        slopeMiBPerMin: round(slopePerMinute(pts), 2),
        earlyMedianMiB: early,
        lateMedianMiB: late,
        upwardTrend: late > early * 1.1 && late - early > 32,
      };
    }
    const memoryOk = Object.values(memory).every((m) => !m.upwardTrend);
    const first = samples[0]!;
    const last = samples[samples.length - 1]!;
    const growth = (k: 'kafkaDiskMiB' | 'postgresDiskMiB' | 'auditIndexMiB' | 'elasticsearchDiskMiB'): { startMiB?: number; endMiB?: number; growthMiB?: number } => ({
      ...(first[k] !== undefined ? { startMiB: first[k] } : {}),
      ...(last[k] !== undefined ? { endMiB: last[k] } : {}),
      ...(first[k] !== undefined && last[k] !== undefined ? { growthMiB: round(last[k]! - first[k]!) } : {}),
    });
    const ok = memoryOk && p99Ok;
    const result = {
      run,
      options: o,
      startedAt: new Date(startedAt).toISOString(),
      capacityOpsPerSecond: capacity !== undefined ? round(capacity) : null,
      targetOpsPerSecond: round(rate),
      achievedOpsPerSecond: round(book.ops.length / (o.minutes * 60)),
      operations: book.ops.length,
      failed: book.ops.filter((x) => !x.ok).length,
      behindSchedule: behind,
      verdicts: { memoryNoUpwardTrend: memoryOk, p99Within2xOfFirstMinute: p99Ok, verdict: ok ? 'pass' : 'FAIL' },
      minutes,
      memory,
      disk: { kafka: growth('kafkaDiskMiB'), postgres: growth('postgresDiskMiB'), auditIndex: growth('auditIndexMiB'), elasticsearch: growth('elasticsearchDiskMiB') },
      samples,
    };
    const lines = [
      `capacity ${result.capacityOpsPerSecond ?? '-'} ops/s, target ${result.targetOpsPerSecond} ops/s, achieved ${result.achievedOpsPerSecond} ops/s, ${result.failed} failed, ${behind} behind schedule`,
      '| minute | ops | failed | p50 ms | p99 ms | max ms |',
      '|---|---|---|---|---|---|',
      ...minutes.map((m) => `| ${m.minute} | ${m.operations} | ${m.failed} | ${m.p50Ms} | ${m.p99Ms} | ${m.maxMs} |`),
      '',
      '| process | RSS start MiB | RSS end MiB | early median | late median | slope MiB/min | upward trend |',
      '|---|---|---|---|---|---|---|',
      ...Object.entries(memory).map(([c, m]) => `| ${c} | ${m.firstMiB} | ${m.lastMiB} | ${m.earlyMedianMiB} | ${m.lateMedianMiB} | ${m.slopeMiBPerMin} | ${m.upwardTrend ? 'YES' : 'no'} |`),
      '',
      `disk growth MiB: kafka ${result.disk.kafka.growthMiB ?? '-'}, postgres ${result.disk.postgres.growthMiB ?? '-'}, audit index ${result.disk.auditIndex.growthMiB ?? '-'} (now ${result.disk.auditIndex.endMiB ?? '-'}), elasticsearch data ${result.disk.elasticsearch.growthMiB ?? '-'}`,
      `verdicts: memory ${memoryOk ? 'no upward trend' : 'UPWARD TREND'}; p99 ${p99Ok ? 'within 2× of the first minute' : 'ABOVE 2× of the first minute'} => ${ok ? 'pass' : 'FAIL'}`,
    ];
    return { result, ok, table: lines.join('\n') };
  } finally {
    await services.stop();
  }
}
