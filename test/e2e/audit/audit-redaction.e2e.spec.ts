import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { TOPICS } from '#libs/contracts';
import { waitFor } from '#libs/testing';
import { assignRole, createServicePrincipal, createVault, credential, dropVault, installLocalhostDns, raw, secretClient, suffix, vaultUrl, type ServicePrincipal } from '../vault/vault-e2e.support.js';
import { AUDIT_RESOURCE, bootstrap, closeKafka, closeSql, ES_URL, kafkaClient, searchUntil, sql } from './audit-e2e.support.js';

jest.setTimeout(300_000);

const SCHEMA = process.env.AUDIT_INSTANCE ?? 'audit';
const ALIASES = [process.env.AUDIT_ES_ALIAS ?? 'keyledger-audit', process.env.AUDIT_OBJECTS_ALIAS ?? 'keyledger-objects'];

/** A value as it could leak: as is, hex, base64, base64url. */
function forms(value: string): string[] {
  const b = Buffer.from(value, 'utf8');
  return [value, b.toString('hex'), b.toString('base64').replace(/=+$/, ''), b.toString('base64url')];
}

/**
 * A client secret (the principal's real one, and a canary sent as a wrong one) and a canary
 * secret value go through identity and the vault; none of them may reach the audit ledger,
 * the audit topic or the audit indices — while the same requests' records do.
 */
describe('redaction: secrets never reach the ledger, the audit topic or the index', () => {
  let sp: ServicePrincipal;
  let vault: string;
  const wrongSecret = `canary-client-secret-${randomBytes(16).toString('hex')}`;
  const secretValue = `canary-secret-value-${randomBytes(16).toString('hex')}`;
  const name = `redaction-${suffix()}`;
  let needles: string[];

  beforeAll(async () => {
    installLocalhostDns();
    sp = await createServicePrincipal(`e2e-audit-redaction-${suffix()}`);
    needles = [...forms(wrongSecret), ...forms(sp.clientSecret), ...forms(secretValue)];
    const refused = await raw(`${bootstrap.authorityHost}/${sp.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', client_id: sp.appId, client_secret: wrongSecret, scope: `${AUDIT_RESOURCE}/.default` }).toString(),
    });
    expect(refused.status).toBe(401);
    vault = await createVault('e2e-red');
    await assignRole(sp.objectId, 'Key Vault Secrets Officer', `/vaults/${vault}`);
    const client = secretClient(vaultUrl(vault), credential(sp.credentials));
    await waitFor(async () => ((await client.listPropertiesOfSecrets().next().then(() => true, () => false)) ? true : undefined), { timeoutMs: 20_000, what: 'the role assignment' });
    await client.setSecret(name, secretValue);
    expect((await client.getSecret(name)).value).toBe(secretValue);
    // Positive control: the requests' records are through the whole pipeline (ledger → index).
    await searchUntil({ principal: sp.appId, operation: 'Authentication', outcome: 'failure' }, (d) => d.length >= 1);
    await searchUntil({ object: name, vault, principal: sp.objectId }, (d) => d.some((x) => x.event.action === 'SecretGet'));
  });

  afterAll(async () => {
    await dropVault(vault);
    await closeKafka();
    await closeSql();
  });

  it('the ledger holds the records but none of the secrets', async () => {
    const count = async (terms: readonly string[]): Promise<number> => {
      const r = await sql().query<{ n: string }>(`SELECT count(*)::text AS n FROM ${SCHEMA}.ledger_entries WHERE ${terms.map((_, i) => `strpos(record, $${i + 1}) > 0`).join(' OR ')}`, [...terms]);
      return Number(r.rows[0]?.n ?? 0);
    };
    expect(await count([sp.appId])).toBeGreaterThanOrEqual(3);
    expect(await count(needles)).toBe(0);
    for (const table of ['object_state', 'object_usage', 'events']) {
      const r = await sql().query<{ n: string }>(`SELECT count(*)::text AS n FROM ${SCHEMA}.${table} x WHERE ${needles.map((_, i) => `strpos(x::text, $${i + 1}) > 0`).join(' OR ')}`, needles);
      expect(`${table}: ${r.rows[0]?.n}`).toBe(`${table}: 0`);
    }
  });

  it('the object state knows the vault and the secret from their published contracts (positive control)', async () => {
    type Row = { kind: string; state: { status: string; versions: string[]; latestVersion?: string; lastEventSource: string } };
    const rows = await waitFor(
      async () => {
        const r = await sql().query<Row>(`SELECT kind, state FROM ${SCHEMA}.object_state WHERE vault = $1 AND name IN ($1, $2) ORDER BY kind`, [vault.toLowerCase(), name.toLowerCase()]);
        return r.rows.length === 2 ? r.rows : undefined;
      },
      { timeoutMs: 30_000, what: 'the vault and the secret in object_state' },
    );
    expect(rows.map((r) => [r.kind, r.state.status, r.state.lastEventSource])).toEqual([
      ['secret', 'active', 'vault'],
      ['vault', 'active', 'vault'],
    ]);
    expect(rows[0]!.state.versions).toHaveLength(1);
    expect(rows[0]!.state.latestVersion).toBe(rows[0]!.state.versions[0]);
  });

  it('the audit topic carries the records but none of the secrets', async () => {
    const kafka = kafkaClient();
    const admin = kafka.admin();
    await admin.connect();
    const offsets = await admin.fetchTopicOffsets(TOPICS.auditRecords);
    await admin.disconnect();
    const remaining = new Map(offsets.map((o) => [o.partition, BigInt(o.high)]));
    const consumer = kafka.consumer({ groupId: `e2e-audit-redaction-${randomUUID()}`, maxBytesPerPartition: 8 * 1024 * 1024 });
    let leaks = 0;
    let mine = 0;
    await consumer.connect();
    await consumer.subscribe({ topics: [TOPICS.auditRecords], fromBeginning: true });
    const done = new Promise<void>((resolve) => {
      if ([...remaining.values()].every((h) => h === 0n)) resolve();
      void consumer.run({
        eachBatch: async ({ batch }) => {
          for (const m of batch.messages) {
            const text = `${m.value?.toString() ?? ''}${JSON.stringify(m.headers ?? {})}`;
            if (needles.some((n) => text.includes(n))) leaks++;
            if (text.includes(sp.appId)) mine++;
          }
          const high = remaining.get(batch.partition);
          if (high !== undefined && BigInt(batch.lastOffset()) + 1n >= high) remaining.delete(batch.partition);
          if (remaining.size === 0) resolve();
        },
      });
    });
    await done;
    await consumer.disconnect();
    expect(mine).toBeGreaterThanOrEqual(3);
    expect(leaks).toBe(0);
  });

  it('the audit and object indices hold the records but none of the secrets', async () => {
    for (const alias of ALIASES) await fetch(`${ES_URL}/${alias}/_refresh`, { method: 'POST' });
    const res = await fetch(`${ES_URL}/${ALIASES.join(',')}/_search?size=1000`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: { bool: { should: [{ term: { 'azure.identity.appid': sp.appId } }, { term: { 'user.id': sp.objectId } }, { term: { vault } }], minimum_should_match: 1 } } }),
    });
    const body = (await res.json()) as { hits: { hits: unknown[] } };
    expect(body.hits.hits.length).toBeGreaterThanOrEqual(3);
    const text = JSON.stringify(body.hits.hits);
    expect(needles.filter((n) => text.includes(n))).toEqual([]);
    const anywhere = await fetch(`${ES_URL}/${ALIASES.join(',')}/_count`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ query: { query_string: { query: needles.map((n) => `"${n}"`).join(' OR '), fields: ['*'], lenient: true } } }),
    });
    expect(((await anywhere.json()) as { count: number }).count).toBe(0);
  });
});

