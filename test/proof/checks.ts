/**
 * After a run: every acknowledged write read back (with its version), every answer matched
 * with exactly one audit record in the ledger (PostgreSQL) and in the search index
 * (Elasticsearch), the ledger and the index equal in size, and the hash chain verified with
 * the `keyledger audit verify` command.
 */
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import pg from 'pg';
import { REPO_ROOT } from '#libs/platform';
import { adminCall, type Answer, type Clients, type Write } from './workload.js';
import { AUDIT_ALIAS, AUDIT_URL, authorityHost, bootstrap, DATABASE_URL, ELASTICSEARCH_URL, sleep } from './stack-control.js';

const digestOf = (s: string): string => createHash('sha256').update(s).digest('hex');

const statusOf = (err: unknown): number | undefined => (err as { statusCode?: number }).statusCode;

async function pool<T>(items: readonly T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

/** Whether an answer says outright that it was not audited and not carried out (the only answer allowed no record). */
export const declaredUnaudited = (a: Answer): boolean => a.status === 503 && /could not be audited/i.test(a.message ?? '');

export type LostWrite = { write: Write; reason: string };

/** Reads every acknowledged write back: a secret version with its value (a deleted one among the deleted secrets), a key version, a role assignment present or, once removed, absent. */
export async function readBack(c: Clients, writes: readonly Write[], principal: string, unknownAssignments: ReadonlySet<string>): Promise<{ checked: number; lost: LostWrite[] }> {
  const lost: LostWrite[] = [];
  const retried = async <T>(fn: () => Promise<T>): Promise<T> => {
    for (let i = 0; ; i++) {
      try {
        return await fn();
      } catch (err) {
        const s = statusOf(err);
        if ((s !== undefined && s < 500) || i >= 4) throw err;
        await sleep(1_000);
      }
    }
  };
  await pool(writes.filter((w) => w.kind === 'secret' || w.kind === 'key'), 8, async (w) => {
    try {
      if (w.kind === 'secret') {
        try {
          const s = await retried(() => c.secrets.getSecret(w.name, { version: w.version }));
          if (digestOf(s.value ?? '') !== w.digest) lost.push({ write: w, reason: 'another value' });
        } catch (err) {
          if (statusOf(err) !== 404 || !w.lifecycle) throw err;
          const d = await retried(() => c.secrets.getDeletedSecret(w.name));
          if (d.properties.version !== w.version) lost.push({ write: w, reason: `deleted secret holds version ${d.properties.version}` });
        }
      } else if (w.kind === 'key') {
        const k = await retried(() => c.keys.getKey(w.name, { version: w.version }));
        if (k.properties.version !== w.version) lost.push({ write: w, reason: 'another version' });
      }
    } catch (err) {
      lost.push({ write: w, reason: `${statusOf(err) ?? ''} ${err instanceof Error ? err.message.slice(0, 120) : String(err)}`.trim() });
    }
  });
  const roleWrites = writes.filter((w) => w.kind === 'role-assign' || w.kind === 'role-unassign');
  if (roleWrites.length > 0) {
    const res = await adminCall(c, 'GET', `/admin/roleAssignments?principalId=${principal}`);
    const present = new Set(((res.json as { value?: { id: string }[] }).value ?? []).map((a) => a.id));
    const removed = new Set(roleWrites.filter((w) => w.kind === 'role-unassign').map((w) => (w.kind === 'role-unassign' ? w.assignmentId : '')));
    for (const w of roleWrites) {
      if (w.kind === 'role-assign' && !removed.has(w.assignmentId) && !unknownAssignments.has(w.assignmentId) && !present.has(w.assignmentId)) lost.push({ write: w, reason: 'assignment missing' });
      if (w.kind === 'role-unassign' && present.has(w.assignmentId)) lost.push({ write: w, reason: 'removed assignment is back' });
    }
  }
  return { checked: writes.length, lost };
}

export type AuditCheck = {
  answers: number;
  declaredUnaudited: number;
  /** answers (not declared unaudited) without a ledger record */
  missingInLedger: Answer[];
  duplicatedInLedger: Answer[];
  missingInIndex: Answer[];
  duplicatedInIndex: Answer[];
  ledgerTotal: number;
  indexTotal: number;
  /** `keyledger audit verify --all`, unless the caller skipped it. */
  chain: { ok: boolean; output: string } | undefined;
};

type LedgerHit = { recordId: string; key: string };

async function ledgerHits(db: pg.Client, answers: readonly Answer[], since: Date): Promise<Map<string, string[]>> {
  const byKey = new Map<string, string[]>();
  const add = (h: LedgerHit): void => {
    const list = byKey.get(h.key) ?? [];
    list.push(h.recordId);
    byKey.set(h.key, list);
  };
  const vaultIds = answers.filter((a) => a.service === 'vault').map((a) => a.id);
  const identityIds = answers.filter((a) => a.service === 'identity').map((a) => a.id);
  for (let i = 0; i < vaultIds.length; i += 5_000) {
    const r = await db.query<{ record_id: string }>('SELECT record_id FROM audit.ledger_entries WHERE record_id = ANY($1::text[])', [vaultIds.slice(i, i + 5_000)]);
    for (const row of r.rows) add({ recordId: row.record_id, key: row.record_id });
  }
  if (identityIds.length > 0) {
    const r = await db.query<{ record_id: string; correlation: string }>(
      `SELECT record_id, record::jsonb->>'correlationId' AS correlation FROM audit.ledger_entries
        WHERE appended_at >= $1 AND record::jsonb->>'source' = 'identity' AND record::jsonb->>'correlationId' = ANY($2::text[])`,
      [since, identityIds],
    );
    for (const row of r.rows) add({ recordId: row.record_id, key: row.correlation });
  }
  return byKey;
}

async function es(path: string, body?: unknown): Promise<unknown> {
  const res = await fetch(`${ELASTICSEARCH_URL}${path}`, { method: body === undefined ? 'GET' : 'POST', headers: { 'content-type': 'application/json' }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
  if (!res.ok) throw new Error(`Elasticsearch ${path}: ${res.status} ${(await res.text()).slice(0, 200)}`);
  return res.json();
}

async function indexHits(recordIds: readonly string[]): Promise<Map<string, number>> {
  const counts = new Map<string, number>();
  for (let i = 0; i < recordIds.length; i += 2_000) {
    const batch = recordIds.slice(i, i + 2_000);
    const r = (await es(`/${AUDIT_ALIAS}/_search`, { size: batch.length * 2, _source: false, query: { ids: { values: batch } } })) as { hits: { hits: { _id: string }[] } };
    for (const h of r.hits.hits) counts.set(h._id, (counts.get(h._id) ?? 0) + 1);
  }
  return counts;
}

export async function totals(db: pg.Client): Promise<{ ledger: number; index: number }> {
  const l = await db.query<{ n: string }>('SELECT count(*)::text AS n FROM audit.ledger_entries');
  await es(`/${AUDIT_ALIAS}/_refresh`, {}).catch(() => undefined);
  const i = (await es(`/${AUDIT_ALIAS}/_count`).catch(() => ({ count: -1 }))) as { count: number };
  return { ledger: Number(l.rows[0]!.n), index: i.count };
}

export function verifyChain(): { ok: boolean; output: string } {
  const b = bootstrap();
  const res = spawnSync(process.execPath, [join(REPO_ROOT, 'bin/keyledger.mjs'), 'audit', 'verify', '--all'], {
    encoding: 'utf8',
    env: { ...process.env, AZURE_TENANT_ID: b.tenantId, AZURE_CLIENT_ID: b.clientId, AZURE_CLIENT_SECRET: b.clientSecret, AZURE_AUTHORITY_HOST: authorityHost(), KEYLEDGER_AUDIT_URL: AUDIT_URL },
  });
  return { ok: res.status === 0, output: `${res.stdout ?? ''}${res.stderr ?? ''}`.trim() };
}

/**
 * Waits (up to `timeoutMs`) until every answer's record is in the ledger and the index holds
 * as many records as the ledger, then reports what is missing or duplicated.
 */
export async function auditCheck(answers: readonly Answer[], since: Date, timeoutMs: number, log: (s: string) => void, verify = true): Promise<AuditCheck> {
  const db = new pg.Client({ connectionString: DATABASE_URL });
  await db.connect();
  try {
    const required = answers.filter((a) => !declaredUnaudited(a));
    const deadline = Date.now() + timeoutMs;
    let hits = new Map<string, string[]>();
    let t = { ledger: 0, index: 0 };
    for (;;) {
      hits = await ledgerHits(db, required, since);
      t = await totals(db);
      const missing = required.filter((a) => !hits.has(a.id)).length;
      if ((missing === 0 && t.ledger === t.index) || Date.now() > deadline) {
        log(`catch-up: ${missing} answer(s) without a ledger record, ledger ${t.ledger}, index ${t.index}`);
        break;
      }
      log(`catch-up: waiting (${missing} answer(s) without a ledger record yet, ledger ${t.ledger}, index ${t.index})`);
      await sleep(5_000);
    }
    const recordIds = [...hits.values()].flat();
    const inIndex = await indexHits(recordIds);
    const missingInIndex: Answer[] = [];
    const duplicatedInIndex: Answer[] = [];
    for (const a of required) {
      const ids = hits.get(a.id);
      if (!ids) continue;
      const n = ids.reduce((sum, id) => sum + (inIndex.get(id) ?? 0), 0);
      if (n < ids.length) missingInIndex.push(a);
      else if (n > ids.length || ids.length > 1) duplicatedInIndex.push(a);
    }
    return {
      answers: answers.length,
      declaredUnaudited: answers.length - required.length,
      missingInLedger: required.filter((a) => !hits.has(a.id)),
      duplicatedInLedger: required.filter((a) => (hits.get(a.id)?.length ?? 0) > 1),
      missingInIndex,
      duplicatedInIndex,
      ledgerTotal: t.ledger,
      indexTotal: t.index,
      chain: verify ? verifyChain() : undefined,
    };
  } finally {
    await db.end();
  }
}
