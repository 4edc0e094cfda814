#!/usr/bin/env node
// Retention for the local stack, so a developer's Kafka and Elasticsearch do not grow without
// bound (a benchmark run adds several hundred thousand audit records). The audit ledger in
// PostgreSQL is the record of truth and is never touched here.
//
//   node deploy/local/retention.mjs kafka                  apply the audit topics' retention (stack:up does it)
//   node deploy/local/retention.mjs prune-search [--keep-months N] [--dry-run]
//                                                          delete audit search indices older than N months (default 1)
//
// Kafka: keyledger.audit.records.v1 (and its dead-letter topic) keep KEYLEDGER_KAFKA_AUDIT_RETENTION_HOURS
// (default 72) and at most KEYLEDGER_KAFKA_AUDIT_RETENTION_MB (default 1024) per partition, in
// 64 MiB segments (retention deletes whole closed segments). The audit service must consume a
// record within that window: an audit service stopped for longer than the retention while the
// other services keep answering would lose records from the ledger. Event topics keep the
// retention the services give them.
//
// Elasticsearch (no ILM in the local node): audit records live in monthly indices
// <alias>-v<generation>-YYYY.MM; prune-search deletes the months before the last N+1 and any
// index of a generation the alias no longer points at. `keyledger audit reindex` rebuilds the
// search index from the ledger at any time.
import { fileURLToPath } from 'node:url';
import { PORTS, StackError, fail, say } from './lib/util.mjs';

export const AUDIT_TOPICS = ['keyledger.audit.records.v1', 'keyledger.audit.records.v1.dlq.audit-ledger'];

export function auditTopicConfig(env = process.env) {
  const hours = Number(env.KEYLEDGER_KAFKA_AUDIT_RETENTION_HOURS ?? 72);
  const mb = Number(env.KEYLEDGER_KAFKA_AUDIT_RETENTION_MB ?? 1024);
  if (!(hours > 0) || !(mb > 0)) throw new StackError('KEYLEDGER_KAFKA_AUDIT_RETENTION_HOURS and _MB must be positive numbers');
  return [
    { name: 'retention.ms', value: String(Math.round(hours * 3_600_000)) },
    { name: 'retention.bytes', value: String(Math.round(mb * 1024 * 1024)) },
    { name: 'segment.bytes', value: String(64 * 1024 * 1024) },
  ];
}

/** Creates the audit topics with their retention, or sets it on existing ones (idempotent). */
export async function applyKafkaRetention(env = process.env) {
  const kafkajs = await import('kafkajs');
  const { Kafka, logLevel } = kafkajs;
  const ConfigResourceTypes = kafkajs.ConfigResourceTypes ?? kafkajs.default.ConfigResourceTypes;
  const kafka = new Kafka({ clientId: 'keyledger-retention', brokers: [`127.0.0.1:${PORTS.kafka}`], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  try {
    const configEntries = auditTopicConfig(env);
    const existing = new Set(await admin.listTopics());
    const missing = AUDIT_TOPICS.filter((t) => !existing.has(t));
    if (missing.length > 0) {
      await admin.createTopics({ waitForLeaders: true, topics: missing.map((topic) => ({ topic, numPartitions: 1, replicationFactor: 1, configEntries })) }).catch((err) => {
        if (!(err.errors ?? []).every((e) => e.type === 'TOPIC_ALREADY_EXISTS')) throw err;
      });
    }
    await admin.alterConfigs({ validateOnly: false, resources: AUDIT_TOPICS.map((name) => ({ type: ConfigResourceTypes.TOPIC, name, configEntries })) });
    const hours = Number(configEntries[0].value) / 3_600_000;
    say('kafka', `audit topics keep ${hours} h, at most ${Number(configEntries[1].value) / 1024 / 1024} MiB per partition`);
  } finally {
    await admin.disconnect();
  }
}

const esUrl = () => process.env.ELASTICSEARCH_URL ?? `http://127.0.0.1:${PORTS.elasticsearch}`;

async function es(method, path) {
  const res = await fetch(`${esUrl()}${path}`, { method });
  if (!res.ok && res.status !== 404) throw new StackError(`elasticsearch ${method} ${path}: ${res.status} ${(await res.text()).slice(0, 200)}`);
  return res.status === 404 ? {} : res.json();
}

/** The audit indices to delete: months before the newest `keepMonths`+1, and indices no alias points at (old generations). */
export function indicesToPrune(indices, aliased, keepMonths, now = new Date(), alias = 'keyledger-audit') {
  const pattern = new RegExp(`^${alias.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-v\\d+-(\\d{4})\\.(\\d{2})$`);
  const current = now.getUTCFullYear() * 12 + now.getUTCMonth();
  return indices.filter((name) => {
    const m = pattern.exec(name);
    if (!m) return false;
    const month = Number(m[1]) * 12 + Number(m[2]) - 1;
    return current - month > keepMonths || !aliased.has(name);
  });
}

export async function pruneSearch({ keepMonths = 1, dryRun = false, alias = process.env.AUDIT_ES_ALIAS ?? 'keyledger-audit' } = {}) {
  const all = Object.keys(await es('GET', `/${alias}-v*?expand_wildcards=open,closed&allow_no_indices=true`));
  const aliased = new Set(Object.keys(await es('GET', `/_alias/${alias}`)));
  const doomed = indicesToPrune(all, aliased, keepMonths, new Date(), alias);
  for (const index of doomed) {
    say('elasticsearch', `${dryRun ? 'would delete' : 'deleting'} ${index}`);
    if (!dryRun) await es('DELETE', `/${index}`);
  }
  say('elasticsearch', `${doomed.length} audit index(es) ${dryRun ? 'to delete' : 'deleted'}; kept ${all.length - doomed.length} (the ledger keeps every record: keyledger audit reindex rebuilds them)`);
  return doomed;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [cmd, ...args] = process.argv.slice(2);
  const arg = (name) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : undefined;
  };
  try {
    if (cmd === 'kafka') await applyKafkaRetention();
    else if (cmd === 'prune-search') {
      const keep = Number(arg('keep-months') ?? 1);
      if (!Number.isInteger(keep) || keep < 0) throw new StackError('--keep-months must be a whole number ≥ 0');
      await pruneSearch({ keepMonths: keep, dryRun: args.includes('--dry-run') });
    } else {
      console.error('usage: retention.mjs kafka | prune-search [--keep-months N] [--dry-run]');
      process.exitCode = 2;
    }
  } catch (err) {
    fail('retention', err instanceof StackError ? err.message : err.stack ?? String(err));
    process.exitCode = 1;
  }
}
