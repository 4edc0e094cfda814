/**
 * The overload proof: the vault's capacity for a secrets-and-signing mix is measured first
 * (closed loop), then requests arrive open-loop — on schedule, whatever the answers — at 3× that
 * for N seconds, then at half of it. Verdicts: no request times out or loses its connection;
 * every answer is 2xx, or 429/503 in Azure's envelope with Retry-After; every answer has exactly
 * one audit record (ledger and index); afterwards the vault is ready and serves normally again.
 * Reports the shed fraction, how fast shed requests were answered and how long recovery took.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import https from 'node:https';
import { auditCheck, declaredUnaudited } from './checks.js';
import { allHealthy, authorityHost, bootstrap, caCert, ensureServices, httpsGet, PORTS, sleep, waitUntil } from './stack-control.js';
import { percentile, type Answer } from './workload.js';

export type OverloadOptions = { factor: number; overloadSeconds: number; recoverSeconds: number; capacitySeconds: number; concurrency: number; timeoutMs: number; catchUpSeconds: number };

type Phase = 'capacity' | 'overload' | 'after';
type Outcome = { phase: Phase; op: 'set' | 'get' | 'sign'; t0: number; ms: number; status?: number; requestId?: string; code?: string; message?: string; retryAfter?: string; envelope?: boolean; error?: string };

const log = (s: string): void => {
  process.stderr.write(`[proof overload ${new Date().toISOString().slice(11, 19)}] ${s}\n`);
};
const round = (x: number, d = 1): number => Math.round(x * 10 ** d) / 10 ** d;

/** One vault API exchange over a shared keep-alive agent; never rejects (the outcome says what happened). */
type CallResult = Omit<Outcome, 'phase' | 'op' | 't0'> & { body?: string };

function call(agent: https.Agent, token: string, method: string, path: string, body: unknown, timeoutMs: number): Promise<CallResult> {
  const started = performance.now();
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve) => {
    const req = https.request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port: PORTS.vault,
        path: `${path}${path.includes('?') ? '&' : '?'}api-version=7.5`,
        method,
        agent,
        ca: caCert(),
        timeout: timeoutMs,
        headers: { host: `localhost:${PORTS.vault}`, authorization: `Bearer ${token}`, 'x-ms-client-request-id': randomUUID(), ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) } : {}) },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const out: CallResult = { ms: performance.now() - started, status, body: text };
          const id = res.headers['x-ms-request-id'];
          if (typeof id === 'string') out.requestId = id;
          if (typeof res.headers['retry-after'] === 'string') out.retryAfter = res.headers['retry-after'];
          if (status >= 400) {
            try {
              const e = (JSON.parse(text) as { error?: { code?: unknown; message?: unknown } }).error;
              out.envelope = typeof e?.code === 'string' && typeof e.message === 'string';
              if (typeof e?.code === 'string') out.code = e.code;
              if (typeof e?.message === 'string') out.message = e.message.slice(0, 160);
            } catch {
              out.envelope = false;
            }
          }
          resolve(out);
        });
        res.on('error', (err) => resolve({ ms: performance.now() - started, error: `response: ${err.message}` }));
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (err: NodeJS.ErrnoException) => resolve({ ms: performance.now() - started, error: err.message === 'timeout' ? 'timeout' : (err.code ?? err.message) }));
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

async function vaultToken(): Promise<string> {
  const b = bootstrap();
  const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: b.clientId, client_secret: b.clientSecret, scope: 'https://vault.localhost/.default' });
  const res = await fetch(`${authorityHost()}/${b.tenantId}/oauth2/v2.0/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
  if (!res.ok) throw new Error(`token: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { access_token: string }).access_token;
}

export async function overload(o: OverloadOptions): Promise<{ result: Record<string, unknown>; ok: boolean; table: string }> {
  const services = await ensureServices(log);
  try {
    await waitUntil('all services healthy', allHealthy, 180_000, 500);
    const token = await vaultToken();
    const agent = new https.Agent({ keepAlive: true, maxSockets: 1024 });
    const run = randomBytes(4).toString('hex');
    // Gets read 16 seeded secrets; sets go round-robin over 1,024 names, so that two sets of one
    // name are never in flight together (that is a 409 Conflict, as Azure answers, not overload).
    const names = Array.from({ length: 16 }, (_, i) => `overload-${run}-${i}`);
    let setCount = 0;
    const outcomes: Outcome[] = [];
    const since = new Date();
    const must = async (method: string, path: string, body?: unknown): Promise<CallResult> => {
      for (let i = 0; ; i++) {
        const r = await call(agent, token, method, path, body, o.timeoutMs);
        if (r.status !== undefined && r.status < 300) return r;
        if (i >= 20) throw new Error(`${method} ${path}: ${r.status ?? r.error}`);
        await sleep(500);
      }
    };
    // Seed: every secret exists, one EC key to sign with.
    for (const n of names) await must('PUT', `/secrets/${n}`, { value: randomBytes(16).toString('base64') });
    const created = await must('POST', `/keys/overload-${run}-k/create`, { kty: 'EC', crv: 'P-256' });
    const keyVersion = ((JSON.parse(created.body ?? '{}') as { key?: { kid?: string } }).key?.kid ?? '').split('/').pop() ?? '';

    let phase: Phase = 'capacity';
    const once = async (): Promise<void> => {
      const r = Math.random();
      const op: Outcome['op'] = r < 0.4 ? 'set' : r < 0.8 ? 'get' : 'sign';
      const name = op === 'set' ? `overload-${run}-w${setCount++ % 1024}` : names[Math.floor(Math.random() * names.length)]!;
      const t0 = Date.now();
      const p = phase;
      const res =
        op === 'set'
          ? await call(agent, token, 'PUT', `/secrets/${name}`, { value: randomBytes(16).toString('base64') }, o.timeoutMs)
          : op === 'get'
            ? await call(agent, token, 'GET', `/secrets/${name}`, undefined, o.timeoutMs)
            : await call(agent, token, 'POST', `/keys/overload-${run}-k/${keyVersion}/sign`, { alg: 'ES256', value: createHash('sha256').update(randomBytes(8)).digest('base64url') }, o.timeoutMs);
      delete res.body;
      outcomes.push({ phase: p, op, t0, ...res });
    };

    // 1. Capacity: closed loop, `concurrency` clients, the answers that succeeded per second once warm.
    log(`measuring capacity: ${o.concurrency} clients, closed loop, ${o.capacitySeconds} s after 5 s of warm-up`);
    let stop = false;
    const loops = Array.from({ length: o.concurrency }, async () => {
      while (!stop) await once();
    });
    await sleep(5_000);
    const from = Date.now();
    await sleep(o.capacitySeconds * 1000);
    const served = outcomes.filter((x) => x.t0 >= from && x.status !== undefined && x.status < 300).length;
    const capacity = served / ((Date.now() - from) / 1000);
    stop = true;
    await Promise.all(loops);
    const baseline = outcomes.filter((x) => x.t0 >= from && x.status !== undefined && x.status < 300).map((x) => x.ms).sort((a, b) => a - b);
    const baselineP99 = percentile(baseline, 99);
    log(`capacity ${capacity.toFixed(1)} requests/s (p99 ${baselineP99.toFixed(0)} ms)`);

    // 2. and 3. Open loop: `factor`× capacity, then half of it.
    const inflight = new Set<Promise<void>>();
    const openLoop = async (rate: number, seconds: number): Promise<void> => {
      const start = Date.now();
      let sent = 0;
      while (Date.now() - start < seconds * 1000) {
        const due = Math.floor(((Date.now() - start) / 1000) * rate);
        while (sent < due) {
          sent++;
          const p: Promise<void> = once().finally(() => inflight.delete(p));
          inflight.add(p);
        }
        await sleep(5);
      }
    };
    phase = 'overload';
    const overloadStart = Date.now();
    log(`overload: ${(capacity * o.factor).toFixed(1)} requests/s open loop for ${o.overloadSeconds} s`);
    await openLoop(capacity * o.factor, o.overloadSeconds);
    const overloadEnd = Date.now();
    phase = 'after';
    log(`after: ${(capacity / 2).toFixed(1)} requests/s for ${o.recoverSeconds} s (${inflight.size} requests still in flight)`);
    await openLoop(capacity / 2, o.recoverSeconds);
    await Promise.all(inflight);
    const afterEnd = Date.now();
    const ready = await httpsGet(PORTS.vault, '/health/ready');

    // Verdicts.
    const measured = outcomes.filter((x) => x.phase !== 'capacity' || x.t0 >= from);
    const failures = measured.filter((x) => x.error !== undefined);
    const timeouts = failures.filter((x) => x.error === 'timeout');
    const badAnswers = measured.filter((x) => x.status !== undefined && (x.status >= 300 ? !((x.status === 429 || x.status === 503) && x.envelope === true && x.retryAfter !== undefined) : false));
    const withoutId = measured.filter((x) => x.status !== undefined && x.requestId === undefined);
    const ov = outcomes.filter((x) => x.phase === 'overload');
    const shed = ov.filter((x) => x.status === 429 || x.status === 503);
    const shedMs = shed.map((x) => x.ms).sort((a, b) => a - b);
    const servedMs = ov.filter((x) => x.status !== undefined && x.status < 300).map((x) => x.ms).sort((a, b) => a - b);
    const after = outcomes.filter((x) => x.phase === 'after');
    // Recovery: from the end of the overload to the start of the last request after it that was
    // refused, failed or slow (above 3× the capacity run's p99, at least 1 s).
    const slowMs = Math.max(1_000, 3 * baselineP99);
    const lastBad = after.filter((x) => x.status === undefined || x.status >= 300 || x.ms > slowMs).reduce((m, x) => Math.max(m, x.t0), overloadEnd);
    const recoverySeconds = round((lastBad - overloadEnd) / 1000);
    const tail = after.filter((x) => x.t0 >= afterEnd - 10_000);
    const servingNormally = ready.status === 200 && tail.length > 0 && tail.every((x) => x.status !== undefined && x.status < 300);

    const answers: Answer[] = measured.filter((x) => x.requestId !== undefined && x.status !== undefined).map((x) => ({ service: 'vault', id: x.requestId!, status: x.status!, ...(x.code ? { code: x.code } : {}), ...(x.message ? { message: x.message } : {}), t: x.t0 }));
    log(`checking the audit records of ${answers.length} answers`);
    const audit = await auditCheck(answers, since, o.catchUpSeconds * 1000, log, false);
    const unauditedDeclared = answers.filter(declaredUnaudited).length;

    const byStatus = (xs: readonly Outcome[]): Record<string, number> => {
      const m: Record<string, number> = {};
      for (const x of xs) {
        const k = x.status !== undefined ? `${x.status}${x.code ? ` ${x.code}` : ''}` : `error ${x.error}`;
        m[k] = (m[k] ?? 0) + 1;
      }
      return m;
    };
    const verdicts = {
      noTimeoutOrConnectionError: failures.length === 0,
      everyAnswer2xxOr429Or503WithEnvelope: badAnswers.length === 0 && withoutId.length === 0,
      everyAnswerAuditedOnce: audit.missingInLedger.length === 0 && audit.duplicatedInLedger.length === 0 && audit.missingInIndex.length === 0 && audit.duplicatedInIndex.length === 0,
      healthyAndServingAfterwards: servingNormally,
    };
    const ok = Object.values(verdicts).every(Boolean);
    const result = {
      run,
      options: o,
      capacityRequestsPerSecond: round(capacity),
      capacityP99Ms: round(baselineP99),
      overload: {
        offeredRequestsPerSecond: round(capacity * o.factor),
        seconds: round((overloadEnd - overloadStart) / 1000),
        requests: ov.length,
        served: servedMs.length,
        servedPerSecond: round(servedMs.length / ((overloadEnd - overloadStart) / 1000)),
        shed: shed.length,
        shedFraction: round(ov.length ? shed.length / ov.length : 0, 3),
        shedLatencyMs: { p50: round(percentile(shedMs, 50)), p99: round(percentile(shedMs, 99)), max: round(shedMs[shedMs.length - 1] ?? 0) },
        servedLatencyMs: { p50: round(percentile(servedMs, 50)), p99: round(percentile(servedMs, 99)), max: round(servedMs[servedMs.length - 1] ?? 0) },
        byStatus: byStatus(ov),
      },
      after: { offeredRequestsPerSecond: round(capacity / 2), seconds: o.recoverSeconds, requests: after.length, byStatus: byStatus(after), recoverySeconds, slowThresholdMs: round(slowMs), lastTenSecondsAll2xx: tail.every((x) => x.status !== undefined && x.status < 300), readyStatus: ready.status },
      failures: { count: failures.length, timeouts: timeouts.length, sample: failures.slice(0, 10) },
      badAnswers: { count: badAnswers.length + withoutId.length, sample: [...badAnswers, ...withoutId].slice(0, 10) },
      audit: {
        answers: audit.answers,
        declaredUnaudited: unauditedDeclared,
        missingInLedger: audit.missingInLedger.length,
        duplicatedInLedger: audit.duplicatedInLedger.length,
        missingInIndex: audit.missingInIndex.length,
        duplicatedInIndex: audit.duplicatedInIndex.length,
        ledgerTotal: audit.ledgerTotal,
        indexTotal: audit.indexTotal,
      },
      verdicts: { ...verdicts, verdict: ok ? 'pass' : 'FAIL' },
    };
    const lines = [
      `capacity ${result.capacityRequestsPerSecond} requests/s (closed loop, ${o.concurrency} clients; p99 ${result.capacityP99Ms} ms)`,
      `overload ${result.overload.offeredRequestsPerSecond}/s for ${result.overload.seconds} s: ${ov.length} requests, ${result.overload.served} served (${result.overload.servedPerSecond}/s), ${shed.length} shed (${(result.overload.shedFraction * 100).toFixed(1)} %)`,
      `  shed answered in p50 ${result.overload.shedLatencyMs.p50} ms, p99 ${result.overload.shedLatencyMs.p99} ms, max ${result.overload.shedLatencyMs.max} ms; served p50 ${result.overload.servedLatencyMs.p50} ms, p99 ${result.overload.servedLatencyMs.p99} ms`,
      `  by status ${JSON.stringify(result.overload.byStatus)}`,
      `after ${result.after.offeredRequestsPerSecond}/s for ${o.recoverSeconds} s: ${JSON.stringify(result.after.byStatus)}; recovered in ${recoverySeconds} s; /health/ready ${ready.status}`,
      `timeouts/connection errors ${failures.length}; answers outside 2xx/429/503-with-envelope ${result.badAnswers.count}`,
      `audit: ${audit.answers} answers, missing ${audit.missingInLedger.length}/${audit.missingInIndex.length} (ledger/index), duplicated ${audit.duplicatedInLedger.length}/${audit.duplicatedInIndex.length}, declared unaudited ${unauditedDeclared}`,
      `verdicts: ${JSON.stringify(verdicts)} => ${ok ? 'pass' : 'FAIL'}`,
    ];
    agent.destroy();
    return { result, ok, table: lines.join('\n') };
  } finally {
    await services.stop();
  }
}
