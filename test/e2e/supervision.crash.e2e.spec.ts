/**
 * `npm start` (and the e2e run, which starts the services the same way) supervises the four
 * services: one killed with SIGKILL — a crash, an OOM kill — is started again by itself, with
 * backoff, and serves again without anyone's help.
 */
import { execFileSync } from 'node:child_process';
import https from 'node:https';
import { describe, expect, it, jest } from '@jest/globals';
import { bootstrap, ca, tokenFor } from '../support/identity.js';

jest.setTimeout(120_000);

const IDENTITY_PORT = Number(process.env.IDENTITY_PORT ?? 9443);

/** The pid listening on a TCP port of this machine (ss from iproute2). */
function pidOn(port: number): number | undefined {
  const out = execFileSync('ss', ['-ltnpH', `sport = :${port}`], { encoding: 'utf8' });
  const m = /pid=(\d+)/.exec(out);
  return m ? Number(m[1]) : undefined;
}

function live(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get({ host: '127.0.0.1', port, path: '/health/live', ca: ca(), servername: 'localhost', timeout: 1_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => req.destroy());
  });
}

describe('service supervision', () => {
  it('a service killed with SIGKILL is started again by itself and serves again', async () => {
    const before = pidOn(IDENTITY_PORT);
    expect(before).toBeDefined();
    process.kill(before!, 'SIGKILL');

    let after: number | undefined;
    for (let i = 0; i < 600; i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = pidOn(IDENTITY_PORT);
      if (after !== undefined && after !== before && (await live(IDENTITY_PORT))) break;
    }
    expect(after).toBeDefined();
    expect(after).not.toBe(before);
    // It serves: a token is issued by the new process.
    const b = bootstrap();
    const token = await tokenFor(b.clientId, b.clientSecret, 'https://vault.localhost');
    expect(token.split('.')).toHaveLength(3);
  });
});
