import { describe, expect, it } from '@jest/globals';
import { GateError, GateErrorCode } from '#libs/gate';
import { toProblem } from './azure-errors.js';

describe('a spent request budget on the wire', () => {
  it("is Azure's 429 Throttled with Retry-After in seconds (what the SDKs' retry policies honour)", () => {
    const p = toProblem(new GateError(GateErrorCode.Throttled, 'Request was not processed because too many requests were received.', { retryAfterSeconds: 4 }), 'https://dev.vault.localhost:8443');
    expect(p.status).toBe(429);
    expect(p.headers).toEqual({ 'retry-after': '4' });
    expect(p.body()).toEqual({ error: { code: 'Throttled', message: 'Request was not processed because too many requests were received.' } });
  });
});
