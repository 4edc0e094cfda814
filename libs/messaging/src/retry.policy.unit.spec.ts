import { describe, it, expect } from '@jest/globals';
import { backoffDelay, isTransientInfrastructureError, retryPolicy } from './retry.policy.js';

describe('retry policy', () => {
  it('doubles from the base delay and caps at maxMs', () => {
    const p = retryPolicy({ baseMs: 100, maxMs: 1_000 });
    expect([0, 1, 2, 3, 4, 5].map((n) => backoffDelay(p, n))).toEqual([0, 100, 200, 400, 800, 1_000]);
  });

  it('defaults to 5 attempts from 100 ms', () => {
    expect(retryPolicy()).toEqual({ attempts: 5, baseMs: 100, maxMs: 10_000 });
  });

  it('rejects nonsense', () => {
    expect(() => retryPolicy({ attempts: 0 })).toThrow(/attempts/);
    expect(() => retryPolicy({ baseMs: 500, maxMs: 100 })).toThrow(/delays/);
  });

  it('tells database outages from handler bugs', () => {
    const pg = (code: string): Error => Object.assign(new Error('x'), { code });
    expect(isTransientInfrastructureError(pg('08006'))).toBe(true); // connection failure
    expect(isTransientInfrastructureError(pg('57P01'))).toBe(true); // admin shutdown
    expect(isTransientInfrastructureError(pg('ECONNREFUSED'))).toBe(true);
    expect(isTransientInfrastructureError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(isTransientInfrastructureError(pg('23505'))).toBe(false); // unique violation: the handler's problem
    expect(isTransientInfrastructureError(new TypeError('x is undefined'))).toBe(false);
    expect(isTransientInfrastructureError('boom')).toBe(false);
  });
});
