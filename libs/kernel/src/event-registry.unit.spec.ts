import { describe, it, expect } from '@jest/globals';
import { EventRegistry, EventValidationError, UnknownEventTypeError, UpcastError, v } from './event-registry.js';

/** SecretSet went through three shapes: v1 {value-less name}, v2 added contentType, v3 renamed name -> secretName. */
function registry(): EventRegistry {
  return new EventRegistry()
    .define({ type: 'SecretSet', schemaVersion: 3, validate: v.object({ secretName: v.nonEmpty, contentType: v.nullable(v.string) }) })
    .upcast('SecretSet', 1, (d) => ({ data: { ...d, contentType: null } }))
    .upcast('SecretSet', 2, ({ name, ...rest }) => ({ data: { ...rest, secretName: name } }))
    .define({ type: 'SecretRemoved', schemaVersion: 2, validate: v.object({ secretName: v.nonEmpty }) })
    // v1 of the removal was called SecretDeleted: the upcaster renames it.
    .upcast('SecretDeleted', 1, (d) => ({ type: 'SecretRemoved', data: { secretName: d.name } }));
}

describe('EventRegistry: validation', () => {
  it('accepts a valid payload and returns its definition', () => {
    const def = registry().check('SecretSet', { secretName: 'db-password', contentType: 'text/plain' });
    expect(def.schemaVersion).toBe(3);
  });

  it('rejects an invalid payload with a typed error naming the event and the fields, not the values', () => {
    const err = captureError(() => registry().check('SecretSet', { secretName: 42, contentType: 'hunter2-is-not-echoed' , extra: 1 }));
    expect(err).toBeInstanceOf(EventValidationError);
    const e = err as EventValidationError;
    expect(e.eventType).toBe('SecretSet');
    expect(e.code).toBe('EventValidationFailed');
    expect(e.problems).toEqual(['secretName has the wrong type']);
    expect(e.message).toContain('SecretSet');
    expect(e.message).not.toContain('42');
  });

  it('reports missing required fields and non-object payloads', () => {
    expect((captureError(() => registry().check('SecretSet', {})) as EventValidationError).problems).toEqual(['secretName is required', 'contentType is required']);
    expect((captureError(() => registry().check('SecretSet', null)) as EventValidationError).problems).toEqual(['data must be an object']);
    expect((captureError(() => registry().check('SecretSet', 'text')) as EventValidationError).problems).toEqual(['data must be an object']);
  });

  it('rejects an unregistered event type by name', () => {
    const err = captureError(() => registry().check('SecretPurged', {}));
    expect(err).toBeInstanceOf(UnknownEventTypeError);
    expect((err as UnknownEventTypeError).eventType).toBe('SecretPurged');
  });

  it('validator combinators', () => {
    const check = v.object({ a: v.int, b: v.arrayOf(v.string), c: v.boolean, d: v.record }, ['d']);
    expect(check({ a: 1, b: ['x'], c: true })).toEqual([]);
    expect(check({ a: 1.5, b: ['x', 2], c: 'yes', d: [] })).toEqual(['a has the wrong type', 'b has the wrong type', 'c has the wrong type', 'd has the wrong type']);
    expect(check([])).toEqual(['data must be an object']);
    expect(v.number(Number.NaN)).toBe(false);
    expect(v.nonEmpty('')).toBe(false);
    expect(v.any()).toBe(true);
  });
});

describe('EventRegistry: upcasting on read', () => {
  it('returns the current version unchanged', () => {
    const data = { secretName: 'a', contentType: null };
    expect(registry().toCurrent('SecretSet', 3, data, 'e-1')).toEqual({ type: 'SecretSet', schemaVersion: 3, data });
  });

  it('chains upcasters v1 -> v2 -> v3', () => {
    expect(registry().toCurrent('SecretSet', 1, { name: 'a' }, 'e-1')).toEqual({ type: 'SecretSet', schemaVersion: 3, data: { secretName: 'a', contentType: null } });
    expect(registry().toCurrent('SecretSet', 2, { name: 'a', contentType: 'x' }, 'e-2')).toEqual({ type: 'SecretSet', schemaVersion: 3, data: { secretName: 'a', contentType: 'x' } });
  });

  it('follows a rename to the new type', () => {
    expect(registry().toCurrent('SecretDeleted', 1, { name: 'a' }, 'e-3')).toEqual({ type: 'SecretRemoved', schemaVersion: 2, data: { secretName: 'a' } });
  });

  it('does not modify the stored payload', () => {
    const stored = Object.freeze({ name: 'a' });
    registry().toCurrent('SecretSet', 1, stored, 'e-1');
    expect(stored).toEqual({ name: 'a' });
  });

  it('throws a typed UpcastError naming the event when a step is missing', () => {
    const r = new EventRegistry()
      .define({ type: 'KeyRotated', schemaVersion: 3, validate: () => [] })
      .upcast('KeyRotated', 2, (d) => ({ data: d })); // 1 -> 2 is missing
    const err = captureError(() => r.toCurrent('KeyRotated', 1, {}, 'evt-42'));
    expect(err).toBeInstanceOf(UpcastError);
    const e = err as UpcastError;
    expect(e.code).toBe('NoUpcasterPath');
    expect(e.eventType).toBe('KeyRotated');
    expect(e.eventId).toBe('evt-42');
    expect(e.fromVersion).toBe(1);
    expect(e.toVersion).toBe(3);
    expect(e.message).toMatch(/KeyRotated.*evt-42/);
  });

  it('throws UpcastError for a stored type that is no longer registered and has no upcaster', () => {
    const err = captureError(() => registry().toCurrent('VaultCreated', 1, {}, 'evt-7'));
    expect(err).toBeInstanceOf(UpcastError);
    expect((err as UpcastError).eventType).toBe('VaultCreated');
  });

  it('throws UpcastError for a version newer than the code knows', () => {
    expect(captureError(() => registry().toCurrent('SecretSet', 4, {}, 'evt-9'))).toBeInstanceOf(UpcastError);
  });
});

function captureError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected an error');
}
