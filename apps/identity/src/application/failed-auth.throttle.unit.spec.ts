import { describe, expect, it } from '@jest/globals';
import { FailedAuthThrottle } from './failed-auth.throttle.js';

describe('failed client authentications at the token endpoint', () => {
  it('refuses a client once its failures in the window reach the budget, from any address, until the window ends', () => {
    let now = 0;
    const t = new FailedAuthThrottle({ perClient: 3, perAddress: 100, windowMs: 60_000 }, () => now);
    for (let i = 0; i < 3; i++) {
      expect(t.retryAfter('tenant/app1', '10.0.0.1')).toBeUndefined();
      t.fail('tenant/app1', '10.0.0.1');
    }
    expect(t.retryAfter('tenant/app1', '10.0.0.1')).toBe(60);
    expect(t.retryAfter('tenant/app1', '10.0.0.2')).toBe(60);
    expect(t.retryAfter('tenant/app2', '10.0.0.1')).toBeUndefined();
    now = 45_000;
    expect(t.retryAfter('tenant/app1', '10.0.0.2')).toBe(15);
    now = 60_000;
    expect(t.retryAfter('tenant/app1', '10.0.0.1')).toBeUndefined();
  });

  it('refuses an address that fails across many clients (spraying), while other addresses go on', () => {
    const t = new FailedAuthThrottle({ perClient: 100, perAddress: 5, windowMs: 60_000 }, () => 1_000);
    for (let i = 0; i < 5; i++) t.fail(`tenant/app${i}`, '10.0.0.9');
    expect(t.retryAfter('tenant/fresh', '10.0.0.9')).toBe(60);
    expect(t.retryAfter('tenant/fresh', '10.0.0.8')).toBeUndefined();
  });
});
