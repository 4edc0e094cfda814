import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { stackEnv } from '../support/stack-env.js';

function listen(): Promise<net.Server> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

const portOf = (srv: net.Server): number => (srv.address() as net.AddressInfo).port;

describe('stack and start scripts on bad input', () => {
  let home: string;
  const servers: net.Server[] = [];
  beforeAll(() => {
    home = mkdtempSync(join(tmpdir(), 'keyledger-cli-'));
  });
  afterAll(() => {
    for (const s of servers) s.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('stack:up names the port that is taken and exits non-zero, creating nothing', async () => {
    const taken = await listen();
    const free = await Promise.all([listen(), listen(), listen(), listen()]);
    servers.push(taken, ...free);
    const [k, kc, es, est] = free.map(portOf);
    for (const s of free) s.close();
    const res = spawnSync(process.execPath, [join(stackEnv.repoRoot, 'deploy/local/stack.mjs'), 'up'], {
      encoding: 'utf8',
      env: {
        ...process.env,
        KEYLEDGER_HOME: join(home, 'stack'),
        KEYLEDGER_PG_PORT: String(portOf(taken)),
        KEYLEDGER_KAFKA_PORT: String(k),
        KEYLEDGER_KAFKA_CONTROLLER_PORT: String(kc),
        KEYLEDGER_ES_PORT: String(es),
        KEYLEDGER_ES_TRANSPORT_PORT: String(est),
        DATABASE_URL: '',
      },
    });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toContain(`port ${portOf(taken)} (postgres) is already in use`);
    expect(spawnSync('ls', [join(home, 'stack', 'data')]).status).not.toBe(0);
  });

  it('npm start without Java says what to install and exits non-zero', () => {
    const res = spawnSync(process.execPath, [join(stackEnv.repoRoot, 'deploy/local/start.mjs')], {
      encoding: 'utf8',
      env: { ...process.env, KEYLEDGER_HOME: join(home, 'start'), KEYLEDGER_JAVA17: '/nonexistent/java', KEYLEDGER_JAVA25: '/nonexistent/java' },
    });
    expect(res.status).not.toBe(0);
    expect(res.stderr).toMatch(/Java 17\+ runtime for Kafka \(apt-get install openjdk-17-jre-headless/);
    expect(res.stderr).toMatch(/Java 21\+ JDK for Elasticsearch/);
  });
});
