import { randomUUID } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { buildBearerChallenge, KeyledgerAuditDataActions } from '#libs/auth';
import type { AuditRecord } from '#libs/contracts';
import { DomainError } from '#libs/kernel';
import type { AuditWriter } from '#libs/eventstore';
import { AuditedOperationGate, GateError, GateErrorCode, type OperationDeclaration } from '#libs/gate';
import { currentContext } from '#libs/platform';
import { toAuditDocument } from '../../domain/audit-document.js';
import type { LedgerService } from '../../application/ledger.service.js';
import type { ReindexService, ReindexTarget } from '../../application/reindex.service.js';
import type { AuditSearchService, UsageDimension } from '../../application/search.service.js';
import type { VerifyService } from '../../application/verify.service.js';
import type { CheckpointSigner } from '../../application/checkpoint-signer.js';
import type { LedgerRepository } from '../persistence/ledger.repository.js';
import { HttpError, type AuditAuthorizer, type AuditDataAction, type AuthorizedCaller } from './audit-auth.js';
import { choice, intParam, one, parseDuration, parseTime, timeWindow, type Query } from './query-params.js';

export type AuditRoutesDeps = {
  readonly auth: AuditAuthorizer;
  readonly writer: AuditWriter;
  readonly search: AuditSearchService;
  readonly verify: VerifyService;
  readonly ledger: LedgerRepository;
  readonly ledgerService: LedgerService;
  readonly reindex: ReindexService;
  readonly signer: CheckpointSigner;
  /** Source name in this API's own audit records (the instance name). */
  readonly source: string;
  readonly identityUrl: string;
  readonly resource: string;
  /** Tenant for the 401 challenge and for records of unauthenticated calls. */
  readonly challengeTenant: () => string;
};

type Outcome = {
  readonly status: number;
  readonly body?: unknown;
  /** Non-sensitive facts for the request's own audit record (counts, verify verdict). */
  readonly extra?: Record<string, string>;
  /** Streams instead of a body, after the audit record is durable. */
  readonly stream?: (reply: FastifyReply) => void;
};

type Handler = (req: FastifyRequest, caller: AuthorizedCaller) => Promise<Outcome>;

const STATUS_BY_CODE: Readonly<Record<string, number>> = { BadParameter: 400, Conflict: 409, NotFound: 404 };

/**
 * The audit API (https://localhost:8444): search, usage, a record with its chain proof,
 * verify, live tail, reindex. Every request — allowed, denied or failed — leaves its own audit
 * record, made durable before the answer leaves (fail closed: 503 and no data otherwise).
 */
export function registerAuditRoutes(fastify: FastifyInstance, d: AuditRoutesDeps): void {
  const { auth } = d;
  const Read = KeyledgerAuditDataActions.readRecords;
  const Verify = KeyledgerAuditDataActions.verify;

  // Every route is one operation on the deployment (RBAC at "/"), admitted and recorded by the gate.
  const gate = new AuditedOperationGate<never>({
    source: d.source,
    resolve: async () => undefined,
    describe: () => ({ name: '', tenantId: '', scope: '/' }),
    ready: () => auth.ready(),
    authenticate: (authorization) => auth.authenticate(authorization),
    credentialMissing: () => auth.credentialMissing(),
    check: (principalId, action, resource) => auth.check(principalId, action, resource),
    administratorAssignment: () => undefined,
    fallbackTenant: d.challengeTenant,
    audit: d.writer,
    onAuditFailure: (err, operation) => fastify.log.error({ err: err instanceof Error ? err.message : String(err), operation }, 'audit record of an audit API request could not be made durable'),
  });

  const route = (method: 'GET' | 'POST', url: string, operation: string, action: AuditDataAction, handler: Handler): void => {
    const op: OperationDeclaration = { name: operation, kind: 'deployment', action };
    fastify.route({
      method,
      url,
      handler: async (req, reply) => {
        const host = req.headers.host ?? 'localhost';
        const tls = req.raw.socket as TLSSocket;
        const audit = gate.open(op, {
          requestId: randomUUID(),
          correlationId: currentContext()?.correlationId ?? '',
          callerIp: req.ip,
          method: req.method,
          requestUri: `https://${host}${req.url}`.slice(0, 2048),
          userAgent: String(req.headers['user-agent'] ?? '').slice(0, 200),
        });
        audit.containerPath = `https://${host}${req.routeOptions?.url ?? req.url.split('?')[0]}`.slice(0, 1024);
        const protocol = typeof tls.getProtocol === 'function' ? tls.getProtocol() : null;
        if (protocol) audit.tlsVersion = protocol;
        const classify = (err: unknown): { status: number; code: string } => {
          const e = toHttpError(err);
          if (e.status >= 500 && !(err instanceof HttpError)) req.log.error({ err: err instanceof Error ? err.message : String(err), operation }, 'audit API request failed');
          return { status: e.status, code: e.code };
        };
        const result = await gate.run(
          audit,
          { op, containerName: undefined, origin: `https://${host}`, authorization: req.headers.authorization, inputs: { params: req.params, query: req.query, body: req.body }, operationVersion: () => '1.0' },
          async (admission) => {
            const outcome = await handler(req, auth.callerOf(admission.principal, admission.audit.appliedAssignmentId));
            if (outcome.extra) audit.extra = outcome.extra;
            return outcome;
          },
          classify,
          (outcome) => outcome.status,
        );
        if (result.kind === 'audit-unavailable') {
          return reply.code(503).header('cache-control', 'no-store').send({ error: { code: 'AuditUnavailable', message: 'The audit log is unavailable; the request was not served.' } });
        }
        if (result.kind === 'failed') {
          const e = toHttpError(result.error);
          if (e.challenge) reply.header('www-authenticate', buildBearerChallenge({ authority: d.identityUrl, tenantId: d.challengeTenant(), resource: d.resource }));
          return reply.code(e.status).header('cache-control', 'no-store').send({ error: { code: e.code, message: e.message } });
        }
        const outcome = result.value;
        if (outcome.stream && outcome.status === 200) {
          outcome.stream(reply);
          return reply;
        }
        return reply.code(outcome.status).header('cache-control', 'no-store').send(outcome.body ?? {});
      },
    });
  };

  route('GET', '/audit/records', 'AuditRecordSearch', Read, async (req, caller) => {
    const q = req.query as Query;
    const tenant = auth.tenantScope(caller, one(q, 'tenant'), true);
    const page = await d.search.search({
      tenant,
      ...optional('object', one(q, 'object')),
      ...optional('principal', one(q, 'principal')),
      ...optional('operation', one(q, 'operation')),
      ...optional('outcome', choice(q, 'outcome', ['success', 'failure'] as const)),
      ...optional('vault', one(q, 'vault')),
      ...optional('service', one(q, 'service')),
      ...optional('text', one(q, 'q')),
      ...timeWindow(q),
      pageSize: intParam(q, 'pageSize', 50, 1, 1_000),
      order: choice(q, 'order', ['asc', 'desc'] as const) ?? 'desc',
      ...optional('continuationToken', one(q, 'continuationToken')),
    });
    const nextLink = page.continuationToken ? nextLinkOf(req, page.continuationToken) : null;
    return { status: 200, body: { value: page.value, nextLink, total: page.total }, extra: { results: String(page.value.length) } };
  });

  route('GET', '/audit/records/:id', 'AuditRecordGet', Read, async (req, caller) => {
    const id = (req.params as { id: string }).id;
    const entry = id.length <= 200 ? await d.ledger.entryByRecordId(id) : undefined;
    if (!entry) throw new HttpError(404, 'RecordNotFound', `no audit record ${id.slice(0, 200)} in the ledger`);
    // Another tenant's record is "not found" for anyone but the operator tenant.
    if (entry.chain !== caller.principal.tenantId && !caller.operator) throw new HttpError(404, 'RecordNotFound', `no audit record ${id} in the ledger`);
    const record = JSON.parse(entry.record) as AuditRecord;
    const proof = await d.verify.proof(entry);
    return {
      status: 200,
      body: {
        record,
        document: toAuditDocument(record, { chain: entry.chain, seq: entry.seq, hash: entry.hash, appendedAt: entry.appendedAt }),
        ledger: { chain: entry.chain, seq: entry.seq, appendedAt: entry.appendedAt, entryDigest: entry.entryDigest, prevHash: entry.prevHash, hash: entry.hash },
        proof: { algorithm: 'keyledger-audit-chain-v1', path: proof.path, checkpoint: proof.checkpoint, publicKey: proof.publicKey, verified: proof.verified, ...(proof.note ? { note: proof.note } : {}) },
      },
      extra: { recordId: entry.recordId },
    };
  });

  route('GET', '/audit/usage', 'AuditUsageQuery', Read, async (req, caller) => {
    const q = req.query as Query;
    const tenant = auth.tenantScope(caller, one(q, 'tenant'), true);
    const byRaw = one(q, 'by') ?? 'key,principal,operation';
    const by = byRaw.split(',').map((s) => s.trim().toLowerCase());
    for (const b of by) if (!['key', 'principal', 'operation', 'algorithm'].includes(b)) throw new HttpError(400, 'BadParameter', '"by" lists key, principal, operation and/or algorithm');
    const window = timeWindow(q);
    const interval = one(q, 'interval');
    const report = await d.search.usage({
      tenant,
      ...(window.from || window.to ? window : { from: new Date(Date.now() - 3_600_000) }),
      ...(interval ? { intervalMs: parseDuration(interval, 'interval') } : {}),
      by: by as UsageDimension[],
      size: intParam(q, 'size', 10, 1, 500),
      ...optional('object', one(q, 'object')),
      ...optional('principal', one(q, 'principal')),
      ...optional('operation', one(q, 'operation')),
      ...optional('outcome', choice(q, 'outcome', ['success', 'failure'] as const)),
      ...optional('vault', one(q, 'vault')),
      ...optional('service', one(q, 'service')),
      ...optional('collection', choice(q, 'collection', ['secrets', 'keys', 'certificates'] as const)),
    });
    return { status: 200, body: report, extra: { total: String(report.total) } };
  });

  route('GET', '/audit/objects', 'AuditObjectList', Read, async (req, caller) => {
    const q = req.query as Query;
    const tenant = auth.tenantScope(caller, one(q, 'tenant'), true);
    const value = await d.search.objects({
      tenant,
      size: intParam(q, 'size', 100, 1, 1_000),
      ...optional('vault', one(q, 'vault')),
      ...optional('kind', choice(q, 'kind', ['vault', 'secret', 'key', 'certificate', 'secrets', 'keys', 'certificates'] as const)),
      ...optional('name', one(q, 'name')),
      ...optional('status', choice(q, 'status', ['active', 'deleted', 'purged'] as const)),
    });
    return { status: 200, body: { value }, extra: { results: String(value.length) } };
  });

  route('POST', '/audit/verify', 'AuditVerify', Verify, async (req, caller) => {
    const b = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
    const str = (k: string): string | undefined => (typeof b[k] === 'string' && b[k] !== '' ? (b[k] as string) : undefined);
    const tenant = auth.tenantScope(caller, str('tenant'), false);
    const from = parseTime(str('from'), 'from');
    const to = parseTime(str('to'), 'to');
    const result = await d.verify.verify({ chain: tenant, ...(from ? { from } : {}), ...(to ? { to } : {}) });
    return { status: 200, body: result, extra: { verified: String(result.ok), records: String(result.records), ...(result.brokenLink ? { brokenAtSeq: String(result.brokenLink.seq) } : {}) } };
  });

  route('GET', '/audit/chains', 'AuditChainList', Read, async (_req, caller) => {
    const heads = await d.ledger.heads();
    const value = caller.operator ? heads : heads.filter((h) => h.chain === caller.principal.tenantId);
    return { status: 200, body: { value } };
  });

  route('GET', '/audit/checkpoints', 'AuditCheckpointList', Read, async (req, caller) => {
    const q = req.query as Query;
    const tenant = auth.tenantScope(caller, one(q, 'tenant'), false);
    return { status: 200, body: { value: await d.ledger.listCheckpoints(tenant, intParam(q, 'limit', 20, 1, 1_000)) } };
  });

  // The chain's verification status for a dashboard: its head, the last signed checkpoint (time,
  // sequence, signer, signature) and a verification of the records since the checkpoint before
  // it (cheap, so it can be shown on every visit; POST /audit/verify checks the whole chain).
  route('GET', '/audit/chain-status', 'AuditChainStatusGet', Read, async (req, caller) => {
    const chain = auth.tenantScope(caller, one(req.query as Query, 'tenant'), false);
    const status = await d.verify.status(chain);
    return { status: 200, body: status, extra: { verified: String(status.verification.ok), ...(status.lastCheckpoint ? { checkpoint: String(status.lastCheckpoint.number) } : {}) } };
  });

  route('GET', '/audit/signing-keys', 'AuditSigningKeyList', Read, async () => ({ status: 200, body: { provider: d.signer.provider, keys: await d.signer.publicJwks() } }));

  route('POST', '/audit/reindex', 'AuditReindex', Verify, async (req) => {
    const b = (typeof req.body === 'object' && req.body !== null ? req.body : {}) as Record<string, unknown>;
    const target = (b['target'] ?? 'all') as string;
    if (!['records', 'objects', 'all'].includes(target)) throw new HttpError(400, 'BadParameter', '"target" must be records, objects or all');
    const job = d.reindex.start(target as ReindexTarget);
    return { status: 202, body: job, extra: { job: job.id, target } };
  });

  route('GET', '/audit/reindex/:id', 'AuditReindexStatus', Verify, async (req) => {
    const job = d.reindex.get((req.params as { id: string }).id);
    if (!job) throw new HttpError(404, 'NotFound', 'no such reindex job on this instance');
    return { status: 200, body: job };
  });

  route('GET', '/audit/stream', 'AuditRecordStream', Read, async (req, caller) => {
    const q = req.query as Query;
    const chain = auth.tenantScope(caller, one(q, 'tenant'), false);
    const lastEventId = req.headers['last-event-id'];
    let fromSeq: number;
    if (typeof lastEventId === 'string' && /^\d+$/.test(lastEventId)) fromSeq = Number(lastEventId) + 1;
    else if (one(q, 'fromSeq')) fromSeq = intParam(q, 'fromSeq', 1, 1, Number.MAX_SAFE_INTEGER);
    else {
      const { from } = timeWindow(q);
      const head = await d.ledger.head(chain);
      const range = from ? await d.ledger.seqRange(chain, from, undefined) : undefined;
      fromSeq = range ? range.fromSeq : (head?.seq ?? 0) + 1;
    }
    return { status: 200, extra: { fromSeq: String(fromSeq) }, stream: (reply) => streamChain(reply, d, chain, fromSeq) };
  });
}

/** Server-sent events: every ledger entry of the chain from `fromSeq` on, as ECS documents, live. */
function streamChain(reply: FastifyReply, d: AuditRoutesDeps, chain: string, fromSeq: number): void {
  reply.hijack();
  const raw = reply.raw;
  const headers: Record<string, string> = { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' };
  for (const [k, v] of Object.entries(reply.getHeaders())) if (typeof v === 'string') headers[k] = v;
  raw.writeHead(200, headers);
  raw.write(`: streaming chain ${chain} from seq ${fromSeq}\n\n`);
  let cursor = fromSeq - 1;
  let busy = false;
  let again = false;
  let closed = false;
  const pump = async (): Promise<void> => {
    if (closed) return;
    if (busy) {
      again = true;
      return;
    }
    busy = true;
    try {
      for (;;) {
        const page = await d.ledger.entries(chain, cursor + 1, Number.MAX_SAFE_INTEGER, 500);
        if (page.length === 0 || closed) break;
        for (const e of page) {
          const doc = toAuditDocument(JSON.parse(e.record) as AuditRecord, { chain: e.chain, seq: e.seq, hash: e.hash, appendedAt: e.appendedAt });
          raw.write(`id: ${e.seq}\nevent: record\ndata: ${JSON.stringify(doc)}\n\n`);
        }
        cursor = page[page.length - 1]!.seq;
      }
    } catch {
      // the next wake-up or poll retries
    } finally {
      busy = false;
      if (again && !closed) {
        again = false;
        void pump();
      }
    }
  };
  const onAppended = (chains: readonly string[]): void => {
    if (chains.includes(chain)) void pump();
  };
  d.ledgerService.events.on('appended', onAppended);
  const poll = setInterval(() => void pump(), 1_000);
  const keepAlive = setInterval(() => raw.write(': keep-alive\n\n'), 15_000);
  const close = (): void => {
    closed = true;
    clearInterval(poll);
    clearInterval(keepAlive);
    d.ledgerService.events.off('appended', onAppended);
  };
  raw.on('close', close);
  void pump();
}

/** The audit API's error table (its own envelope; the gate's refusals included). */
function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (err instanceof GateError) {
    const d = err.details;
    if (err.code === GateErrorCode.Forbidden) {
      return new HttpError(403, 'Forbidden', `Caller is not authorized to perform action on resource. Caller: oid=${String(d.objectId)}; Action: '${String(d.action)}'; Resource: '${String(d.resource)}'. Assign the "Keyledger Auditor" role at scope "/".`);
    }
    if (err.code === GateErrorCode.InputRejected) return new HttpError(400, 'BadParameter', err.message);
    if (err.code === GateErrorCode.NotReady) return new HttpError(503, 'ServiceUnavailable', err.message);
    return new HttpError(503, 'ServiceUnavailable', err.message);
  }
  if (err instanceof DomainError) return new HttpError(STATUS_BY_CODE[err.code] ?? 400, err.code, err.message);
  const meta = (err as { meta?: { statusCode?: number } } | null)?.meta;
  if (meta !== undefined || (err instanceof Error && /ECONNREFUSED|ConnectionError|NoLivingConnections/.test(`${err.name} ${err.message}`))) {
    return new HttpError(503, 'SearchUnavailable', 'the search index is unavailable; the ledger is not affected (verify and record lookups still work)');
  }
  return new HttpError(500, 'InternalError', 'internal error');
}

function nextLinkOf(req: FastifyRequest, token: string): string {
  const url = new URL(`https://${req.headers.host ?? 'localhost'}${req.url}`);
  url.searchParams.set('continuationToken', token);
  return url.toString();
}

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}
