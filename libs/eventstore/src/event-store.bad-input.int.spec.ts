import { randomUUID } from 'node:crypto';
import { describe, it, expect, beforeAll, afterAll, jest } from '@jest/globals';
import type { AuditRecord } from '#libs/contracts';
import { testDb, uniqueTenant, waitFor, type TestDb } from '#libs/testing';
import { START, type EventStore } from './event-store.js';
import { EventRegistry, EventValidationError, UnknownEventTypeError, UpcastError, v } from '#libs/kernel';

jest.setTimeout(120_000);

// Today's code: KeyRotated is at schema v3, and only v2 -> v3 is known (the v1 -> v2 step was lost).
const current = new EventRegistry()
  .define({ type: 'KeyCreated', schemaVersion: 1, validate: v.object({ keyName: v.nonEmpty, kty: v.nonEmpty }) })
  .define({ type: 'KeyRotated', schemaVersion: 3, validate: v.object({ keyName: v.nonEmpty, version: v.nonEmpty, reason: v.string }) })
  .upcast('KeyRotated', 2, (d) => ({ data: { ...d, reason: '' } }));
// The code of long ago, which wrote KeyRotated v1.
const ancient = new EventRegistry()
  .define({ type: 'KeyCreated', schemaVersion: 1, validate: v.object({ keyName: v.nonEmpty, kty: v.nonEmpty }) })
  .define({ type: 'KeyRotated', schemaVersion: 1, validate: v.object({ keyName: v.nonEmpty }) });

let t: TestDb;
let store: EventStore;
const tenant = uniqueTenant();
const meta = { actor: 'spec', tenant };

const audit = (): AuditRecord => ({
  schemaVersion: 1,
  id: randomUUID(),
  time: new Date().toISOString(),
  tenant,
  source: 'test',
  resourceId: '/vaults/v1',
  operationName: 'KeyCreate',
  operationVersion: '7.5',
  category: 'AuditEvent',
  resultType: 'Success',
  resultSignature: '200',
  durationMs: 1,
  callerIpAddress: '127.0.0.1',
  correlationId: randomUUID(),
  identity: { oid: 'o' },
  properties: {},
});

async function counts(): Promise<{ events: number; streams: number; outbox: number }> {
  const [row] = await t.db.query<{ events: string; streams: string; outbox: string }>(
    `SELECT (SELECT count(*) FROM ${t.schema}.events)::text AS events, (SELECT count(*) FROM ${t.schema}.streams)::text AS streams, (SELECT count(*) FROM ${t.schema}.outbox)::text AS outbox`,
  );
  return { events: Number(row!.events), streams: Number(row!.streams), outbox: Number(row!.outbox) };
}

beforeAll(async () => {
  t = await testDb('t_spine_bad');
  store = t.eventStore(current);
});

afterAll(async () => {
  await t?.drop();
});

describe('EventStore: bad input writes nothing', () => {
  it('a payload failing validation: typed EventValidationError naming the event; no events, stream, outbox or audit rows', async () => {
    const before = await counts();
    const err = await store
      .appendToStream(
        'key-a',
        'no_stream',
        [
          { type: 'KeyCreated', data: { keyName: 'a', kty: 'RSA' } },
          { type: 'KeyRotated', data: { keyName: 'a', version: 42, reason: 'scheduled' } }, // version must be a string
        ],
        { metadata: meta, audit: [audit()], messages: [{ topic: 't', key: 'k', headers: {}, payload: {} }] },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(EventValidationError);
    const e = err as EventValidationError;
    expect(e.eventType).toBe('KeyRotated');
    expect(e.code).toBe('EventValidationFailed');
    expect(e.problems).toEqual(['version has the wrong type']);
    expect(e.message).toContain('KeyRotated');
    expect(await counts()).toEqual(before);
    expect(await store.streamVersion('key-a')).toBe(0);
  });

  it('an invalid event appended to an existing stream leaves its version and events alone', async () => {
    await store.appendToStream('key-b', 'no_stream', [{ type: 'KeyCreated', data: { keyName: 'b', kty: 'EC' } }], { metadata: meta });
    const before = await counts();
    await expect(store.appendToStream('key-b', 1, [{ type: 'KeyRotated', data: { keyName: '' , version: 'v2', reason: '' } }], { metadata: meta })).rejects.toBeInstanceOf(EventValidationError);
    expect(await counts()).toEqual(before);
    expect(await store.streamVersion('key-b')).toBe(1);
  });

  it('an unregistered event type: typed UnknownEventTypeError naming it; nothing written', async () => {
    const before = await counts();
    const err = await store.appendToStream('key-c', 'any', [{ type: 'KeyExploded', data: {} }], { metadata: meta }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(UnknownEventTypeError);
    expect((err as UnknownEventTypeError).eventType).toBe('KeyExploded');
    expect(await counts()).toEqual(before);
  });

  it('a caller transaction whose second append is invalid rolls back the first one too (no partial write)', async () => {
    const before = await counts();
    await expect(
      t.db.transaction(async (tx) => {
        await store.appendInTransaction(tx, 'key-d', 'no_stream', [{ type: 'KeyCreated', data: { keyName: 'd', kty: 'RSA' } }], { metadata: meta, audit: [audit()] });
        await store.appendInTransaction(tx, 'key-e', 'no_stream', [{ type: 'KeyCreated', data: { keyName: 'e' } }], { metadata: meta });
      }),
    ).rejects.toBeInstanceOf(EventValidationError);
    expect(await counts()).toEqual(before);
  });
});

describe('EventStore: stored events without an upcaster path', () => {
  it('reading an event whose schema version cannot be upcast throws a typed UpcastError naming the event', async () => {
    // Written long ago, through the event store of that time.
    const old = t.eventStore(ancient);
    const written = await old.appendToStream('key-old', 'no_stream', [{ type: 'KeyCreated', data: { keyName: 'old', kty: 'RSA' } }, { type: 'KeyRotated', data: { keyName: 'old' } }], { metadata: meta, outbox: false });
    const rotatedId = written.events[1]!.metadata.eventId;

    const streamErr = await store.readStream('key-old').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(streamErr).toBeInstanceOf(UpcastError);
    const e = streamErr as UpcastError;
    expect(e.code).toBe('NoUpcasterPath');
    expect(e.eventType).toBe('KeyRotated');
    expect(e.eventId).toBe(rotatedId);
    expect(e.fromVersion).toBe(1);
    expect(e.toVersion).toBe(3);
    expect(e.message).toContain('KeyRotated');
    expect(e.message).toContain(rotatedId);

    // The commit-order reader stops at the same event rather than skipping it (once its
    // horizon, held back by transactions in flight elsewhere, has passed it).
    const readErr = await waitFor(() => store.readAll(START, 10_000).then(() => undefined, (e: unknown) => e), { what: 'readAll to reach the old event' });
    expect(readErr).toBeInstanceOf(UpcastError);
    expect((readErr as UpcastError).eventId).toBe(rotatedId);
  });
});
