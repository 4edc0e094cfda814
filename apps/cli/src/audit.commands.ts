import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import { join } from 'node:path';
import type { Command } from 'commander';
import { keyledgerHome } from '#libs/platform';
import { accessToken, api, CliError, loadCredentials } from './client.js';

/**
 * `keyledger audit search|tail|verify|status|reindex|usage|show`: the audit API
 * (https://localhost:$AUDIT_PORT, default 8444, or KEYLEDGER_AUDIT_URL), with a token for https://audit.<domain>.
 */
type Doc = Record<string, unknown>;

const domain = process.env.KEYLEDGER_DOMAIN ?? 'localhost';
const resource = `https://audit.${domain}`;
const baseUrl = (): string => (process.env.KEYLEDGER_AUDIT_URL ?? `https://localhost:${process.env.AUDIT_PORT ?? '8444'}`).replace(/\/+$/, '');

function get(doc: unknown, path: string): unknown {
  let v: unknown = doc;
  for (const k of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}

function line(doc: Doc): string {
  const s = (p: string): string => String(get(doc, p) ?? '');
  const status = s('http.response.status_code') || s('azure.resultSignature');
  return [s('@timestamp'), s('event.action').padEnd(22), s('event.outcome').padEnd(7), status.padEnd(4), s('user.id').padEnd(36), s('keyledger.object.ref') || s('url.original'), s('source.ip')].join('  ').trimEnd();
}

function query(params: Record<string, string | number | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const s = q.toString();
  return s ? `?${s}` : '';
}

function caBundle(): Buffer | undefined {
  const file = join(keyledgerHome(), 'tls', 'ca.crt');
  return existsSync(file) ? readFileSync(file) : undefined;
}

type SearchOptions = { object?: string; principal?: string; operation?: string; outcome?: string; since?: string; from?: string; to?: string; query?: string; vault?: string; service?: string; tenant?: string; limit: number; order?: string };

export function registerAuditCommands(program: Command): void {
  const json = (): boolean => Boolean(program.opts<{ json?: boolean }>().json);
  const out = (s: string): void => {
    process.stdout.write(`${s}\n`);
  };
  const audit = program.command('audit').description('the audit ledger: search, follow, verify, reindex');

  audit
    .command('search')
    .description('search audit records (newest first); --json prints a JSON array of ECS documents')
    .option('--object <name>', 'object name, vault/collection/name, or object id')
    .option('--principal <id>', 'caller object id, app id or UPN')
    .option('--operation <op>', 'operation name, e.g. SecretGet, Authentication')
    .option('--outcome <outcome>', 'success or failure')
    .option('--since <duration>', 'e.g. 15m, 1h, 7d')
    .option('--from <time>', 'ISO 8601 start')
    .option('--to <time>', 'ISO 8601 end')
    .option('--query <text>', 'free text')
    .option('--vault <name>', 'vault name')
    .option('--service <name>', 'producing service: identity, vault, crypto, audit')
    .option('--tenant <id>', 'another tenant (operator tenant only; * = all)')
    .option('--order <order>', 'desc (default) or asc')
    .option('--limit <n>', 'records at most', (x) => Number(x), 100)
    .action(async (o: SearchOptions) => {
      const creds = loadCredentials();
      const limit = Math.max(1, Math.min(o.limit, 100_000));
      let url: string | null = `${baseUrl()}/audit/records${query({ object: o.object, principal: o.principal, operation: o.operation, outcome: o.outcome, since: o.since, from: o.from, to: o.to, q: o.query, vault: o.vault, service: o.service, tenant: o.tenant, order: o.order, pageSize: Math.min(limit, 1_000) })}`;
      const docs: Doc[] = [];
      while (url && docs.length < limit) {
        const body = (await api(creds, resource, url)) as { value?: Doc[]; nextLink?: string | null };
        docs.push(...(body.value ?? []));
        url = body.nextLink ?? null;
      }
      const list = docs.slice(0, limit);
      if (json()) out(JSON.stringify(list, null, 2));
      else out(list.length === 0 ? '(no records)' : list.map(line).join('\n'));
    });

  audit
    .command('tail')
    .description('follow live audit records of your tenant as they are appended to the ledger')
    .option('--since <duration>', 'start with the records of the last 15m, 1h, …')
    .option('--tenant <id>', 'another tenant (operator tenant only)')
    .option('--operation <op>', 'only this operation')
    .option('--outcome <outcome>', 'only success or failure')
    .action(async (o: { since?: string; tenant?: string; operation?: string; outcome?: string }) => {
      // `keyledger audit tail | head`: a closed pipe ends the tail quietly.
      process.stdout.on('error', (err: NodeJS.ErrnoException) => {
        if (err.code === 'EPIPE') process.exit(0);
        throw err;
      });
      const creds = loadCredentials();
      let lastId: string | undefined;
      for (let attempt = 0; ; attempt++) {
        const token = await accessToken(creds, resource);
        const started = Date.now();
        await followStream(`${baseUrl()}/audit/stream${query({ since: lastId ? undefined : o.since, tenant: o.tenant })}`, token, lastId, (id, doc) => {
          lastId = id;
          if (o.operation && String(get(doc, 'event.action')).toLowerCase() !== o.operation.toLowerCase()) return;
          if (o.outcome && get(doc, 'event.outcome') !== o.outcome.toLowerCase()) return;
          out(json() ? JSON.stringify(doc) : line(doc));
        });
        if (Date.now() - started > 10_000) attempt = 0;
        if (attempt >= 5) throw new CliError('the audit stream keeps closing; giving up');
        process.stderr.write('keyledger: audit stream closed; reconnecting\n');
        await new Promise((r) => setTimeout(r, 500 * 2 ** attempt));
      }
    });

  audit
    .command('verify')
    .description('verify the hash chain and signed checkpoints of your tenant (exit code 1 when broken)')
    .option('--from <time>', 'ISO 8601 start (ledger time)')
    .option('--to <time>', 'ISO 8601 end (ledger time)')
    .option('--tenant <id>', 'another tenant (operator tenant only)')
    .option('--all', 'every chain you may read (operator tenant: all tenants)')
    .action(async (o: { from?: string; to?: string; tenant?: string; all?: boolean }) => {
      const creds = loadCredentials();
      const tenants = o.all ? ((await api(creds, resource, `${baseUrl()}/audit/chains`)) as { value: { chain: string }[] }).value.map((c) => c.chain) : [o.tenant];
      const results: Doc[] = [];
      for (const tenant of tenants) {
        results.push((await api(creds, resource, `${baseUrl()}/audit/verify`, 'POST', { ...(tenant ? { tenant } : {}), ...(o.from ? { from: o.from } : {}), ...(o.to ? { to: o.to } : {}) })) as Doc);
      }
      if (json()) out(JSON.stringify(o.all ? results : results[0], null, 2));
      else {
        for (const r of results) {
          const b = r['brokenLink'] as Doc | undefined;
          out(
            r['ok']
              ? `OK    chain ${r['chain']}: seq ${r['fromSeq']}..${r['toSeq']}, ${r['records']} record(s), ${r['checkpoints']} signed checkpoint(s) verified${r['anchored'] ? ' (anchored at the entry before the range)' : ''}`
              : `BROKEN chain ${r['chain']} at seq ${b?.['seq']}: ${b?.['kind']}${b?.['recordId'] ? ` — record ${b['recordId']}` : ''}\n      ${b?.['reason']}`,
          );
        }
      }
      if (results.some((r) => !r['ok'])) process.exitCode = 1;
    });

  audit
    .command('reindex')
    .description('rebuild the Elasticsearch projections from the ledger and the event store (progress on stderr)')
    .option('--target <target>', 'records, objects or all', 'all')
    .action(async (o: { target: string }) => {
      const creds = loadCredentials();
      const job = (await api(creds, resource, `${baseUrl()}/audit/reindex`, 'POST', { target: o.target })) as Doc;
      const id = String(job['id']);
      let last = '';
      for (;;) {
        await new Promise((r) => setTimeout(r, 500));
        const j = (await api(creds, resource, `${baseUrl()}/audit/reindex/${encodeURIComponent(id)}`)) as Doc;
        const progress = (j['progress'] ?? {}) as Record<string, Doc>;
        const text = Object.entries(progress)
          .map(([k, p]) => `${k}: ${p['phase']} ${p['done']}/${p['total']}${p['perSecond'] !== undefined ? ` (${p['perSecond']}/s)` : ''}`)
          .join('  ');
        if (text && text !== last && !json()) process.stderr.write(`${text}\n`);
        last = text;
        if (j['status'] !== 'running') {
          if (json()) out(JSON.stringify(j, null, 2));
          else out(j['status'] === 'succeeded' ? `reindex ${id} succeeded: ${JSON.stringify(j['result'])}` : `reindex ${id} failed: ${j['error']}`);
          if (j['status'] !== 'succeeded') process.exitCode = 1;
          return;
        }
      }
    });

  audit
    .command('usage')
    .description('usage counts per key, principal, operation and algorithm over a window')
    .option('--since <duration>', 'window, e.g. 1h (default)', '1h')
    .option('--by <dims>', 'any of key,principal,operation,algorithm', 'key,principal,operation')
    .option('--collection <c>', 'secrets, keys or certificates')
    .option('--object <name>', 'only the uses of this object (a key or secret name)')
    .option('--size <n>', 'buckets per dimension', (x) => Number(x), 10)
    .option('--interval <duration>', 'also operations over time in buckets of this width, e.g. 5m')
    .action(async (o: { since: string; by: string; collection?: string; object?: string; size: number; interval?: string }) => {
      const body = (await api(loadCredentials(), resource, `${baseUrl()}/audit/usage${query({ since: o.since, by: o.by, collection: o.collection, object: o.object, size: o.size, interval: o.interval })}`)) as Doc;
      if (json()) return out(JSON.stringify(body, null, 2));
      // Without a service filter each operation counts once (a vault request's crypto step is not counted again).
      out(`${body['total']} ${body['counting'] === 'operations' ? 'operation' : 'record'}(s) since ${body['from']}`);
      const overTime = body['overTime'] as { time: string; count: number; failure: number }[] | undefined;
      if (overTime) {
        out('\nover time:');
        for (const b of overTime) out(`  ${b.time}  ${String(b.count).padStart(7)}  ${String(b.failure).padStart(5)} failed`);
      }
      for (const [title, key] of [['keys', 'byKey'], ['principals', 'byPrincipal'], ['operations', 'byOperation'], ['algorithms', 'byAlgorithm']] as const) {
        const list = body[key] as { key: string; count: number; success: number; failure: number }[] | undefined;
        if (!list) continue;
        out(`\n${title}:`);
        for (const b of list) out(`  ${String(b.count).padStart(7)}  ${String(b.failure).padStart(5)} failed  ${b.key}`);
      }
    });

  audit
    .command('status')
    .description("the chain's verification status and its last signed checkpoint (time, sequence, signer)")
    .action(async () => {
      const body = (await api(loadCredentials(), resource, `${baseUrl()}/audit/chain-status`)) as Doc;
      if (json()) return out(JSON.stringify(body, null, 2));
      const v = body['verification'] as { ok: boolean; fromSeq: number; toSeq: number; records: number; brokenLink?: { reason: string } };
      const cp = body['lastCheckpoint'] as { number: number; headSeq: number; createdAt: string; keyId: string; signature: string } | null;
      const head = body['head'] as { seq: number } | null;
      out(`chain ${String(body['chain'])}: ${v.ok ? 'verified' : `BROKEN: ${v.brokenLink?.reason ?? ''}`} (seq ${v.fromSeq}-${v.toSeq}, ${v.records} records), head seq ${head?.seq ?? 0}`);
      out(cp ? `last checkpoint #${cp.number} at ${cp.createdAt}: seq ${cp.headSeq}, key ${cp.keyId} (${String(body['signer'])}), signature ${cp.signature}; ${String(body['unsealedRecords'])} record(s) since` : 'no signed checkpoint yet');
      if (!v.ok) process.exitCode = 1;
    });

  audit
    .command('show <recordId>')
    .description('one record from the ledger with its chain proof')
    .action(async (recordId: string) => {
      const body = (await api(loadCredentials(), resource, `${baseUrl()}/audit/records/${encodeURIComponent(recordId)}`)) as Doc;
      out(JSON.stringify(body, null, 2));
    });
}

/** Reads a server-sent event stream until it closes; calls `onEvent` for each `record` event. */
function followStream(url: string, token: string, lastEventId: string | undefined, onEvent: (id: string, doc: Doc) => void): Promise<void> {
  const ca = caBundle();
  return new Promise((resolve, reject) => {
    const req = https.request(url, { method: 'GET', headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream', ...(lastEventId ? { 'last-event-id': lastEventId } : {}) }, ...(ca ? { ca } : {}) }, (res) => {
      if (res.statusCode !== 200) {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => reject(new CliError(`${res.statusCode}: ${text}`)));
        return;
      }
      let buffer = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffer += chunk;
        for (let i = buffer.indexOf('\n\n'); i >= 0; i = buffer.indexOf('\n\n')) {
          const block = buffer.slice(0, i);
          buffer = buffer.slice(i + 2);
          let id = '';
          let event = 'message';
          let data = '';
          for (const l of block.split('\n')) {
            if (l.startsWith('id: ')) id = l.slice(4);
            else if (l.startsWith('event: ')) event = l.slice(7);
            else if (l.startsWith('data: ')) data += l.slice(6);
          }
          if (event === 'record' && data) onEvent(id, JSON.parse(data) as Doc);
        }
      });
      res.on('end', () => resolve());
      res.on('error', () => resolve());
    });
    req.on('error', (err) => reject(new CliError(`cannot reach ${new URL(url).origin}: ${err.message}`)));
    req.end();
  });
}
