// Checks what the stack needs before anything starts, and says what to install.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { DIRS, PORTS, StackError, pidAlive, portFree, readPid } from './util.mjs';
import { join } from 'node:path';

function javaVersion(bin) {
  const res = spawnSync(bin, ['-version'], { encoding: 'utf8' });
  if (res.error || res.status !== 0) return undefined;
  const m = /version "(\d+)(?:\.(\d+))?/.exec(res.stderr + res.stdout);
  if (!m) return undefined;
  return Number(m[1]) === 1 ? Number(m[2]) : Number(m[1]);
}

// An explicitly configured java is the only one tried: a wrong setting is reported, not papered over.
export function java17() {
  const candidates = process.env.KEYLEDGER_JAVA17 ? [process.env.KEYLEDGER_JAVA17] : ['/usr/lib/jvm/java-17-openjdk-amd64/bin/java', 'java'];
  return candidates.find((c) => (c === 'java' || existsSync(c)) && (javaVersion(c) ?? 0) >= 17);
}

export function java21plus() {
  const candidates = process.env.KEYLEDGER_JAVA25
    ? [process.env.KEYLEDGER_JAVA25]
    : ['/usr/lib/jvm/temurin-25-jdk-amd64/bin/java', '/usr/lib/jvm/java-21-openjdk-amd64/bin/java', 'java'];
  return candidates.find((c) => (c === 'java' || existsSync(c)) && (javaVersion(c) ?? 0) >= 21);
}

export function checkPrerequisites() {
  const missing = [];
  if (!java17()) missing.push('a Java 17+ runtime for Kafka (apt-get install openjdk-17-jre-headless, or set KEYLEDGER_JAVA17 to a java binary)');
  if (!java21plus()) missing.push('a Java 21+ JDK for Elasticsearch 9 (Temurin 25 at /usr/lib/jvm/temurin-25-jdk-amd64, or set KEYLEDGER_JAVA25)');
  if (spawnSync('mvn', ['-v'], { encoding: 'utf8' }).status !== 0) missing.push('Apache Maven to fetch the Kafka and Elasticsearch jars (apt-get install maven)');
  if (spawnSync('openssl', ['version'], { encoding: 'utf8' }).status !== 0) missing.push('openssl for the development CA (apt-get install openssl)');
  if (spawnSync('softhsm2-util', ['--version'], { encoding: 'utf8' }).status !== 0) missing.push('SoftHSM2 for PKCS#11 keys (apt-get install softhsm2)');
  if (missing.length) throw new StackError(`missing prerequisites:\n  - ${missing.join('\n  - ')}`);
}

/** Every port of a component that is not already ours must be free; all conflicts are named at once. */
export async function checkPorts(isPostgresOurs) {
  const mine = (name) => pidAlive(readPid(join(DIRS.run, `${name}.pid`)));
  const wanted = [];
  if (!process.env.DATABASE_URL && !isPostgresOurs()) wanted.push([PORTS.postgres, 'postgres']);
  if (!mine('kafka')) wanted.push([PORTS.kafka, 'kafka'], [PORTS.kafkaController, 'kafka controller']);
  if (!mine('elasticsearch')) wanted.push([PORTS.elasticsearch, 'elasticsearch'], [PORTS.elasticsearchTransport, 'elasticsearch transport']);
  const taken = [];
  for (const [port, name] of wanted) if (!(await portFree(port))) taken.push(`port ${port} (${name}) is already in use`);
  if (taken.length) throw new StackError(taken.join('; '));
}
