#!/usr/bin/env node
// The local stack without Docker: PostgreSQL, Kafka, Elasticsearch, SoftHSM2, Azurite (blob) and a development CA.
//   node deploy/local/stack.mjs up|down|status|reset
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureTls, tlsFiles } from './lib/tls.mjs';
import { ensureSofthsm, softhsmPaths, softhsmStatus } from './lib/softhsm.mjs';
import { databaseUrl, postgresDataDirs, postgresStatus, startPostgres, stopPostgres } from './lib/postgres.mjs';
import { DIRS, PORTS, REPO_ROOT, StackError, ensureDirs, fail, say, waitFor } from './lib/util.mjs';
import { checkPorts, checkPrerequisites } from './lib/preflight.mjs';
import { azuriteBlobEndpoint, azuriteDataDir, azuriteStatus, startAzurite, stopAzurite } from './lib/azurite.mjs';
import { applyKafkaRetention } from './retention.mjs';

const KAFKA_SH = join(REPO_ROOT, 'deploy/local/kafka/kafka.sh');
const ES_SH = join(REPO_ROOT, 'deploy/local/elasticsearch/es.sh');

const env = () => ({ ...process.env, KEYLEDGER_HOME: DIRS.home });

/** Runs a component script, streaming its output with a prefix; rejects with the script's own words. */
function script(component, file, sub) {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [file, sub], { env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
    let tail = '';
    const pipe = (stream, out) => {
      let buf = '';
      stream.on('data', (chunk) => {
        buf += chunk.toString();
        const lines = buf.split('\n');
        buf = lines.pop() ?? '';
        for (const line of lines) {
          tail = `${tail}\n${line}`.slice(-2000);
          out.write(line.startsWith(`[${component}]`) || line.startsWith('es:') ? `${line}\n` : `[${component}] ${line}\n`);
        }
      });
    };
    pipe(child.stdout, process.stdout);
    pipe(child.stderr, process.stderr);
    child.on('error', (err) => reject(new StackError(`${component}: ${err.message}`)));
    child.on('exit', (code) => (code === 0 ? resolve() : reject(new StackError(`${component} ${sub} failed (exit ${code})`))));
  });
}

const scriptStatus = (file) => spawnSync('bash', [file, 'status'], { env: env(), encoding: 'utf8' });

async function kafkaAdminReady() {
  const { Kafka, logLevel } = await import('kafkajs');
  const kafka = new Kafka({ clientId: 'keyledger-stack', brokers: [`127.0.0.1:${PORTS.kafka}`], logLevel: logLevel.NOTHING, retry: { retries: 0 } });
  const admin = kafka.admin();
  await waitFor('kafka (admin call)', async () => {
    await admin.connect();
    const cluster = await admin.describeCluster();
    await admin.listTopics();
    return cluster.brokers.length > 0;
  }, 90_000, 500);
  await admin.disconnect();
}

async function up() {
  const started = Date.now();
  checkPrerequisites();
  await checkPorts(() => {
    try {
      return postgresStatus() !== undefined;
    } catch {
      return false;
    }
  });
  ensureDirs();
  const tls = ensureTls();
  const hsm = ensureSofthsm();
  say('softhsm', `token "${hsm.label}" ready (SOFTHSM2_CONF=${hsm.conf})`);
  // Jars first (first run downloads through Maven), then start the JVMs side by side.
  await script('kafka', KAFKA_SH, 'fetch');
  await script('elasticsearch', ES_SH, 'fetch');
  await startPostgres();
  await Promise.all([script('kafka', KAFKA_SH, 'start'), script('elasticsearch', ES_SH, 'start')]);
  await Promise.all([
    script('kafka', KAFKA_SH, 'wait').then(kafkaAdminReady),
    script('elasticsearch', ES_SH, 'wait'),
    startAzurite(),
  ]);
  await applyKafkaRetention();
  say('stack', `up in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  say('stack', `PostgreSQL     ${databaseUrl().replace(/:[^:@/]+@/, ':***@')}`);
  say('stack', `Kafka          127.0.0.1:${PORTS.kafka}`);
  say('stack', `Elasticsearch  http://127.0.0.1:${PORTS.elasticsearch}`);
  say('stack', `Azurite (blob) ${azuriteBlobEndpoint()}`);
  say('stack', `SoftHSM2       SOFTHSM2_CONF=${softhsmPaths().conf}`);
  say('stack', `Dev CA         ${tls.ca}  (export NODE_EXTRA_CA_CERTS=${tls.ca})`);
}

async function down() {
  const errors = [];
  for (const [name, file] of [['elasticsearch', ES_SH], ['kafka', KAFKA_SH]]) {
    if (!existsSync(file)) continue;
    try {
      await script(name, file, 'stop');
    } catch (err) {
      errors.push(err.message);
    }
  }
  try {
    if (await stopAzurite()) say('azurite', 'stopped');
  } catch (err) {
    errors.push(err.message);
  }
  try {
    if (stopPostgres()) say('postgres', 'stopped');
  } catch (err) {
    errors.push(err.message);
  }
  if (errors.length) throw new StackError(errors.join('; '));
  say('stack', 'down');
}

function status() {
  let allUp = true;
  const line = (name, state) => {
    if (!state) allUp = false;
    console.log(`${name.padEnd(14)} ${state ?? 'stopped'}`);
  };
  line('postgres', (() => {
    try {
      return postgresStatus();
    } catch (err) {
      return undefined;
    }
  })());
  for (const [name, file] of [['kafka', KAFKA_SH], ['elasticsearch', ES_SH]]) {
    const res = scriptStatus(file);
    line(name, res.status === 0 ? res.stdout.trim() : undefined);
  }
  line('azurite', azuriteStatus());
  line('softhsm', softhsmStatus());
  line('tls', existsSync(tlsFiles().ca) ? `CA ${tlsFiles().ca}` : undefined);
  return allUp ? 0 : 3;
}

async function reset() {
  await down();
  for (const d of [...postgresDataDirs(), join(DIRS.data), azuriteDataDir(), join(DIRS.softhsm), join(DIRS.run), join(DIRS.home, 'bootstrap.json')]) {
    rmSync(d, { recursive: true, force: true });
  }
  say('stack', `data removed (jars in ${DIRS.lib} and the CA in ${DIRS.tls} are kept)`);
}

const cmd = process.argv[2];
try {
  switch (cmd) {
    case 'up':
      await up();
      break;
    case 'down':
      await down();
      break;
    case 'status':
      process.exitCode = status();
      break;
    case 'reset':
      await reset();
      break;
    default:
      console.error('usage: stack.mjs up|down|status|reset');
      process.exitCode = 2;
  }
} catch (err) {
  fail('stack', err instanceof StackError ? err.message : err.stack ?? String(err));
  process.exitCode = 1;
}
