import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { Client as EsClient } from '@elastic/elasticsearch';
import { Kafka, logLevel } from 'kafkajs';
import { closeDb, createVault, credential, db, dropVault, HOME, installLocalhostDns, secretClient, suffix, vaultUrl } from './vault-e2e.support.js';

// The project's testTimeout is not applied to files run alone: long e2e steps need their own.
jest.setTimeout(60_000);

/** The forms a leaked value could take: as is, hex, base64, base64url. */
function forms(value: string): string[] {
  const b = Buffer.from(value, 'utf8');
  return [value, b.toString('hex'), b.toString('base64').replace(/=+$/, ''), b.toString('base64url')];
}

const found = (haystack: string, needles: readonly string[]): boolean => needles.some((n) => haystack.includes(n));

/**
 * A canary secret goes through every operation (set, get, update, backup, delete, recover,
 * purge, restore); its value must then appear nowhere: no PostgreSQL table of any schema, no
 * Kafka topic, no Elasticsearch index, no service log.
 */
describe('the value of a secret is stored and shipped only as ciphertext', () => {
  const canary = `canary${randomBytes(20).toString('hex')}`;
  const needles = forms(canary);
  let vault: string;
  /** Positive control: the secret's name is not secret and must be found where the value is not. */
  const name = `canary-${suffix()}`;

  beforeAll(async () => {
    installLocalhostDns();
    vault = await createVault('e2e-canary');
    const client = secretClient(vaultUrl(vault), credential());
    const set = await client.setSecret(name, canary, { contentType: 'text/plain', tags: { kind: 'canary' } });
    expect((await client.getSecret(name)).value).toBe(canary);
    await client.updateSecretProperties(name, set.properties.version!, { tags: { kind: 'canary', updated: 'yes' } });
    const blob = await client.backupSecret(name);
    await client.setSecret(name, `${canary}-second`);
    await (await client.beginDeleteSecret(name, { intervalInMs: 50 })).pollUntilDone();
    await (await client.beginRecoverDeletedSecret(name, { intervalInMs: 50 })).pollUntilDone();
    await (await client.beginDeleteSecret(name, { intervalInMs: 50 })).pollUntilDone();
    await client.purgeDeletedSecret(name);
    await client.restoreSecretBackup(blob!);
    expect((await client.getSecret(name)).value).toBe(canary);
    // Let the outbox relay publish and the audit service index what this produced.
    await new Promise((r) => setTimeout(r, 3_000));
  }, 120_000);

  afterAll(async () => {
    await dropVault(vault);
    await closeDb();
  });

  it('appears in no PostgreSQL table (every schema, every row as text)', async () => {
    const tables = await db().query<{ s: string; t: string }>(
      `SELECT table_schema AS s, table_name AS t FROM information_schema.tables
        WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
    );
    expect(tables.rows.length).toBeGreaterThan(5);
    const scan = async (terms: readonly string[]): Promise<string[]> => {
      const hits: string[] = [];
      for (const { s, t } of tables.rows) {
        try {
          const res = await db().query<{ n: string }>(`SELECT count(*)::text AS n FROM "${s}"."${t}" x WHERE ${terms.map((_, i) => `strpos(x::text, $${i + 1}) > 0`).join(' OR ')}`, [...terms]);
          if (Number(res.rows[0]?.n ?? 0) > 0) hits.push(`${s}.${t}`);
        } catch (err) {
          // Other tests' throwaway schemas come and go while this scans: a table dropped meanwhile holds nothing.
          if (!['42P01', '3F000'].includes((err as { code?: string }).code ?? '')) throw err;
        }
      }
      return hits;
    };
    expect(await scan([name])).toEqual(expect.arrayContaining(['vault.events', 'vault.secrets']));
    expect(await scan(needles)).toEqual([]);
  }, 120_000);

  it('appears in no Kafka topic (every message, value and headers)', async () => {
    const kafka = new Kafka({ clientId: `e2e-canary-${suffix()}`, brokers: (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(','), logLevel: logLevel.NOTHING });
    const admin = kafka.admin();
    await admin.connect();
    const topics = (await admin.listTopics()).filter((t) => !t.startsWith('__'));
    const remaining = new Map<string, bigint>();
    for (const topic of topics) {
      for (const o of await admin.fetchTopicOffsets(topic)) if (BigInt(o.high) > BigInt(o.low)) remaining.set(`${topic}/${o.partition}`, BigInt(o.high));
    }
    await admin.disconnect();
    expect(topics).toEqual(expect.arrayContaining(['keyledger.vault.events.v1', 'keyledger.audit.records.v1']));
    const groupId = `e2e-canary-${suffix()}`;
    const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 200 });
    const hits: string[] = [];
    const controls: string[] = [];
    let scanned = 0;
    await consumer.connect();
    await consumer.subscribe({ topics, fromBeginning: true });
    const done = new Promise<void>((resolve) => {
      if (remaining.size === 0) resolve();
      void consumer.run({
        autoCommit: false,
        eachMessage: async ({ topic, partition, message }) => {
          scanned++;
          const text = `${message.value?.toString('utf8') ?? ''} ${JSON.stringify(Object.fromEntries(Object.entries(message.headers ?? {}).map(([k, v]) => [k, String(v)])))}`;
          if (found(text, needles)) hits.push(`${topic}/${partition}@${message.offset}`);
          if (text.includes(name)) controls.push(topic);
          const key = `${topic}/${partition}`;
          const high = remaining.get(key);
          if (high !== undefined && BigInt(message.offset) + 1n >= high) {
            remaining.delete(key);
            if (remaining.size === 0) resolve();
          }
        },
      });
    });
    await done;
    await consumer.disconnect();
    const cleanup = kafka.admin();
    await cleanup.connect();
    await cleanup.deleteGroups([groupId]).catch(() => undefined);
    await cleanup.disconnect();
    expect(scanned).toBeGreaterThan(0);
    expect(controls).toEqual(expect.arrayContaining(['keyledger.vault.events.v1', 'keyledger.audit.records.v1']));
    expect(hits).toEqual([]);
  }, 120_000);

  it('appears in no Elasticsearch index (every document)', async () => {
    const es = new EsClient({ node: process.env.ELASTICSEARCH_URL ?? 'http://127.0.0.1:9200' });
    const indices = (await es.cat.indices({ format: 'json' })) as { index?: string }[];
    const hits: string[] = [];
    let scanned = 0;
    for (const { index } of indices) {
      if (!index || index.startsWith('.')) continue;
      let page = await es.search({ index, scroll: '30s', size: 1000, query: { match_all: {} } });
      for (;;) {
        const docs = page.hits.hits;
        for (const d of docs) {
          scanned++;
          if (found(JSON.stringify(d._source ?? {}), needles)) hits.push(`${index}/${d._id}`);
        }
        if (docs.length === 0 || !page._scroll_id) break;
        page = await es.scroll({ scroll_id: page._scroll_id, scroll: '30s' });
      }
      if (page._scroll_id) await es.clearScroll({ scroll_id: page._scroll_id }).catch(() => undefined);
    }
    await es.close();
    expect(scanned).toBeGreaterThanOrEqual(0);
    expect(hits).toEqual([]);
  }, 120_000);

  it('appears in no service log under .keyledger/logs', () => {
    const dir = join(HOME, 'logs');
    const files: string[] = [];
    const walk = (d: string): void => {
      if (!existsSync(d)) return;
      for (const f of readdirSync(d)) {
        const p = join(d, f);
        const st = statSync(p);
        if (st.isDirectory()) walk(p);
        else if (st.size < 512 * 1024 * 1024) files.push(p);
      }
    };
    walk(dir);
    const hits = files.filter((f) => found(readFileSync(f).toString('latin1'), needles));
    expect(hits).toEqual([]);
  });
});
