/**
 * Sign-in sessions and sign-in failure counters live in PostgreSQL: two identity instances (two
 * pools on the same schema, as after a restart or behind a load balancer) see the same session
 * and the same counters; a session carries its user's state (enabled, the password it began
 * with); one is ended once, and ending a user's sessions ends every live one.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Database, REPO_ROOT } from '#libs/platform';
import { SignInRepository } from './sign-in.repository.js';

const URL = process.env.DATABASE_URL ?? 'postgres://keyledger:keyledger@127.0.0.1:5432/keyledger';
const SCHEMA = 't_sign_in_sessions';
let one: Database;
let two: Database;
let a: SignInRepository;
let b: SignInRepository;

beforeAll(async () => {
  one = await Database.connect(URL, SCHEMA, { max: 2 });
  two = await Database.connect(URL, SCHEMA, { max: 2 });
  await one.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await one.query(`CREATE SCHEMA ${SCHEMA}`);
  await one.migrate(join(REPO_ROOT, 'apps', 'identity', 'migrations'));
  a = new SignInRepository(one);
  b = new SignInRepository(two);
});

afterAll(async () => {
  await one.query(`DROP SCHEMA IF EXISTS ${SCHEMA} CASCADE`);
  await one.close();
  await two.close();
});

async function user(): Promise<{ objectId: string; tenantId: string; passwordSetAt: Date }> {
  const objectId = randomUUID();
  const tenantId = randomUUID();
  const passwordSetAt = new Date(Date.now() - 60_000);
  await one.query(`INSERT INTO ${SCHEMA}.principals (object_id, tenant_id, app_id, kind, display_name, created_at) VALUES ($1, $2, $3, 'user', $4, now())`, [objectId, tenantId, randomUUID(), `u-${objectId}`]);
  await one.query(`INSERT INTO ${SCHEMA}.user_passwords (object_id, hash, set_at) VALUES ($1, 'h', $2)`, [objectId, passwordSetAt]);
  return { objectId, tenantId, passwordSetAt };
}

async function session(u: { objectId: string; tenantId: string; passwordSetAt: Date }): Promise<{ hash: string; id: string }> {
  const hash = `hash-${randomUUID()}`;
  const id = randomUUID();
  await a.insertSession({ cookie_hash: hash, session_id: id, tenant_id: u.tenantId, object_id: u.objectId, password_set_at: u.passwordSetAt, expires_at: new Date(Date.now() + 3_600_000) });
  return { hash, id };
}

describe('sign-in sessions in PostgreSQL', () => {
  it('a session started by one instance is seen by another, with its user enabled and the same password', async () => {
    const u = await user();
    const s = await session(u);
    expect(await b.session(s.hash)).toMatchObject({ session_id: s.id, tenant_id: u.tenantId, object_id: u.objectId, revoked_at: null, user_enabled: true, password_current: true });
    expect(await b.session('no-such-hash')).toBeUndefined();
  });

  it("reports the user disabled and the password changed since the session began", async () => {
    const u = await user();
    const s = await session(u);
    await one.query(`UPDATE ${SCHEMA}.principals SET enabled = false WHERE object_id = $1`, [u.objectId]);
    await one.query(`UPDATE ${SCHEMA}.user_passwords SET set_at = now() WHERE object_id = $1`, [u.objectId]);
    expect(await b.session(s.hash)).toMatchObject({ user_enabled: false, password_current: false });
  });

  it('ends a session once (sign-out), and every live session of a user', async () => {
    const u = await user();
    const first = await session(u);
    const second = await session(u);
    const third = await session(u);
    expect(await b.endSession(first.hash, 'SignOut')).toBe(first.id);
    expect(await a.endSession(first.hash, 'SignOut')).toBeUndefined();
    expect(await a.endUserSessions(u.objectId, 'UserDisabled')).toBe(2);
    for (const s of [second, third]) expect(await b.session(s.hash)).toMatchObject({ revoked_reason: 'UserDisabled', revoked_at: expect.any(Date) });
    expect((await b.session(first.hash))?.revoked_reason).toBe('SignOut');
  });
});

describe('sign-in failure counters in PostgreSQL', () => {
  it('failures counted by one instance are seen by the other, within the window only; clearing one counter keeps the other', async () => {
    const userKey = `user:${randomUUID()}:alice`;
    const ipKey = `ip:${randomUUID()}`;
    for (let i = 0; i < 3; i++) await a.recordFailure([userKey, ipKey], 900);
    await b.recordFailure([ipKey], 900);
    expect(Object.fromEntries(await b.failureCounts([userKey, ipKey], 900))).toEqual({ [userKey]: 3, [ipKey]: 4 });
    await one.query(`UPDATE ${SCHEMA}.sign_in_failures SET failed_at = now() - interval '20 minutes' WHERE counter = $1`, [ipKey]);
    expect(Object.fromEntries(await a.failureCounts([userKey, ipKey], 900))).toEqual({ [userKey]: 3 });
    await b.clearFailures(userKey);
    expect((await a.failureCounts([userKey], 900)).size).toBe(0);
  });
});
