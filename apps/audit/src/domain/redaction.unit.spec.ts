import { describe, expect, it } from '@jest/globals';
import { assertAuditSafe, type AuditRecord } from '#libs/contracts';
import { auditRecordProblems, redactRecord } from './redaction.js';
import { sampleRecord } from './audit-test.fixtures.js';

describe('consumer-side redaction and validation', () => {
  it('drops sensitive fields that a producer let through, noting which, and the result passes the producer check', () => {
    const leaky = { ...sampleRecord(), properties: { ...sampleRecord().properties, extra: { client_secret: 'canary-123', note: 'ok' } } } as unknown as AuditRecord;
    const { record, redacted } = redactRecord(leaky);
    expect(redacted).toEqual(['properties.extra.client_secret']);
    expect(JSON.stringify(record)).not.toContain('canary-123');
    expect(record.properties.extra).toEqual({ note: 'ok', redactedFields: 'properties.extra.client_secret' });
    expect(() => assertAuditSafe(record)).not.toThrow();
  });

  it('leaves clean records untouched (same object)', () => {
    const r = sampleRecord();
    expect(redactRecord(r).record).toBe(r);
  });

  it('names the fields of a malformed record without echoing values', () => {
    const problems = auditRecordProblems({ ...sampleRecord(), resultType: 'Maybe', durationMs: 'fast', time: 'SECRET-not-a-date' });
    expect(problems).toEqual(expect.arrayContaining(['resultType must be Success or Failure', 'durationMs must be a number', 'time is not a date']));
    expect(problems.join(' ')).not.toContain('SECRET');
    expect(auditRecordProblems(sampleRecord())).toEqual([]);
  });
});
