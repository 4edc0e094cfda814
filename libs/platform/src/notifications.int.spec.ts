/**
 * The process's one LISTEN connection per database (issue #16): PostgreSQL wakes every
 * listening backend on each notifying commit, so the relay, the secret cache and the key cache
 * of one process share a connection instead of each holding one.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Database } from './database.js';
import { subscribeNotifications, type NotificationHandlers } from './notifications.js';

const BASE = process.env.DATABASE_URL ?? 'postgres://keyledger:keyledger@127.0.0.1:5432/keyledger';
let admin: Database;

beforeAll(async () => {
  admin = await Database.connect(BASE, 'public', { max: 1 });
});

afterAll(async () => {
  await admin.close();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/** A database URL of its own (the hub is per URL) whose backend is found by its application name. */
function isolatedUrl(): { url: string; app: string } {
  const app = `kl-spec-notify-${randomUUID().slice(0, 8)}`;
  return { url: `${BASE}${BASE.includes('?') ? '&' : '?'}application_name=${app}`, app };
}

const backends = async (app: string): Promise<number[]> =>
  (await admin.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE application_name = $1 ORDER BY pid', [app])).map((r) => r.pid);

/** A subscriber that records what it is told. */
function recorder(): NotificationHandlers & { payloads: string[]; events: string[] } {
  const payloads: string[] = [];
  const events: string[] = [];
  return { payloads, events, notification: (p) => void payloads.push(p), listening: () => void events.push('listening'), lost: () => void events.push('lost') };
}

const notify = (channel: string, payload: string): Promise<unknown> => admin.query('SELECT pg_notify($1, $2)', [channel, payload]);

describe('subscribeNotifications: one LISTEN connection per database and process', () => {
  it('serves several channels and subscribers over one backend, each notification to its channel only', async () => {
    const { url, app } = isolatedUrl();
    const a = `spec_a_${randomUUID().slice(0, 8)}`;
    const b = `spec_b_${randomUUID().slice(0, 8)}`;
    const [ra1, ra2, rb] = [recorder(), recorder(), recorder()];
    const subs = [subscribeNotifications(url, a, ra1), subscribeNotifications(url, a, ra2), subscribeNotifications(url, b, rb)];
    try {
      await Promise.all(subs.map((s) => s.ready));
      expect(subs.map((s) => s.listening)).toEqual([true, true, true]);
      expect(await backends(app)).toHaveLength(1);
      await notify(a, 'one');
      await notify(b, 'two');
      await until('both notifications', () => (ra1.payloads.length === 1 && ra2.payloads.length === 1 && rb.payloads.length === 1 ? true : undefined));
      expect([ra1.payloads, ra2.payloads, rb.payloads]).toEqual([['one'], ['one'], ['two']]);
      expect([ra1.events, ra2.events, rb.events]).toEqual([['listening'], ['listening'], ['listening']]);
      // A subscriber that joins an open connection is told at once, on the same backend.
      const late = recorder();
      const lateSub = subscribeNotifications(url, b, late);
      subs.push(lateSub);
      await lateSub.ready;
      expect(late.events).toEqual(['listening']);
      expect(await backends(app)).toHaveLength(1);
    } finally {
      await Promise.all(subs.map((s) => s.close()));
    }
    await until('the backend gone with the last subscriber', async () => ((await backends(app)).length === 0 ? true : undefined));
  });

  it('a lost connection is reported to every subscriber, comes back by itself and listens to every channel again', async () => {
    const { url, app } = isolatedUrl();
    const a = `spec_a_${randomUUID().slice(0, 8)}`;
    const b = `spec_b_${randomUUID().slice(0, 8)}`;
    const [ra, rb] = [recorder(), recorder()];
    const subs = [subscribeNotifications(url, a, ra, { retryMs: 200 }), subscribeNotifications(url, b, rb)];
    try {
      await Promise.all(subs.map((s) => s.ready));
      const [pid] = await backends(app);
      await admin.query('SELECT pg_terminate_backend($1)', [pid]);
      await until('both told of the loss', () => (ra.events.includes('lost') && rb.events.includes('lost') ? true : undefined));
      await until('both listening again', () => (subs.every((s) => s.listening) ? true : undefined));
      expect(ra.events).toEqual(['listening', 'lost', 'listening']);
      expect(rb.events).toEqual(['listening', 'lost', 'listening']);
      const now = await backends(app);
      expect(now).toHaveLength(1);
      expect(now[0]).not.toBe(pid);
      await notify(a, 'after');
      await notify(b, 'after');
      await until('notifications on the new connection', () => (ra.payloads.length === 1 && rb.payloads.length === 1 ? true : undefined));
    } finally {
      await Promise.all(subs.map((s) => s.close()));
    }
  });

  it('a channel whose last subscriber left is no longer listened to; the others still are', async () => {
    const { url, app } = isolatedUrl();
    const a = `spec_a_${randomUUID().slice(0, 8)}`;
    const b = `spec_b_${randomUUID().slice(0, 8)}`;
    const [ra, rb] = [recorder(), recorder()];
    const sa = subscribeNotifications(url, a, ra);
    const sb = subscribeNotifications(url, b, rb);
    try {
      await Promise.all([sa.ready, sb.ready]);
      await sa.close();
      expect(sa.listening).toBe(false);
      const [pid] = await backends(app);
      // pg_listening_channels() is the session's own: its last statement shows the UNLISTEN instead.
      expect((await admin.query<{ query: string }>('SELECT query FROM pg_stat_activity WHERE pid = $1', [pid]))[0]?.query).toBe(`UNLISTEN ${a}`);
      await notify(a, 'unheard');
      await notify(b, 'heard');
      await until('the remaining channel', () => (rb.payloads.length === 1 ? true : undefined));
      expect(ra.payloads).toEqual([]);
      expect(await backends(app)).toEqual([pid]);
    } finally {
      await sb.close();
    }
    await until('the backend gone', async () => ((await backends(app)).length === 0 ? true : undefined));
  });

  it('a handler that throws does not keep the others from their notification', async () => {
    const { url } = isolatedUrl();
    const a = `spec_a_${randomUUID().slice(0, 8)}`;
    const ok = recorder();
    const bad = subscribeNotifications(url, a, {
      notification: () => {
        throw new Error('boom');
      },
    });
    const good = subscribeNotifications(url, a, ok);
    try {
      await Promise.all([bad.ready, good.ready]);
      await notify(a, 'x');
      await until('the good subscriber', () => (ok.payloads.length === 1 ? true : undefined));
    } finally {
      await Promise.all([bad.close(), good.close()]);
    }
  });

  it('refuses a channel that is not a plain lower-case identifier', () => {
    expect(() => subscribeNotifications(BASE, 'x; DROP TABLE y', recorder())).toThrow('invalid notification channel');
    expect(() => subscribeNotifications(BASE, 'Upper', recorder())).toThrow('invalid notification channel');
  });
});
