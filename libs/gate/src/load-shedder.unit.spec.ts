import { describe, expect, it } from '@jest/globals';
import { LoadShedder, loadShedderFor } from './load-shedder.js';

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('load shedding', () => {
  it('admits up to maxInFlight at once, queues the next in order and hands a freed slot to the longest waiting', async () => {
    const s = new LoadShedder({ maxInFlight: 2, maxQueued: 5, maxQueueMs: 60_000 });
    const a = await s.acquire();
    const b = await s.acquire();
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    const order: string[] = [];
    const c = s.acquire().then((r) => (order.push('c'), r));
    const d = s.acquire().then((r) => (order.push('d'), r));
    await tick();
    expect(s.stats()).toEqual({ inFlight: 2, queued: 2, shed: 0 });
    a!();
    a!(); // idempotent: one release frees one slot
    const cSlot = await c;
    expect(cSlot).toBeDefined();
    expect(order).toEqual(['c']);
    b!();
    expect(await d).toBeDefined();
    expect(order).toEqual(['c', 'd']);
    expect(s.stats()).toEqual({ inFlight: 2, queued: 0, shed: 0 });
  });

  it('refuses at once when the queue is full, and after maxQueueMs when no slot came free', async () => {
    const s = new LoadShedder({ maxInFlight: 1, maxQueued: 1, maxQueueMs: 20 });
    const held = await s.acquire();
    const waiting = s.acquire();
    expect(await s.acquire()).toBeUndefined(); // queue full
    expect(await waiting).toBeUndefined(); // waited out its time
    expect(s.stats()).toEqual({ inFlight: 1, queued: 0, shed: 2 });
    held!();
    expect(s.stats().inFlight).toBe(0);
    expect(await s.acquire()).toBeDefined();
  });

  it('refuses at once a request the queue could not serve within maxQueueMs at the pace slots come free', async () => {
    let now = 0;
    const s = new LoadShedder({ maxInFlight: 1, maxQueued: 100, maxQueueMs: 1_000 }, () => now);
    let slot = await s.acquire();
    const waiting = Array.from({ length: 3 }, () => s.acquire());
    // Slots come free every 400 ms while requests wait.
    for (const w of waiting) {
      now += 400;
      slot!();
      slot = await w;
    }
    // One waits (1 × 400 ms fits in 1 s); with two ahead the third would need 1.2 s: refused now.
    const first = s.acquire();
    const second = s.acquire();
    expect(await s.acquire()).toBeUndefined();
    expect(s.stats()).toEqual({ inFlight: 1, queued: 2, shed: 1 });
    now += 400;
    slot!();
    slot = await first;
    expect(slot).toBeDefined();
    slot!();
    expect(await second).toBeDefined();
  });

  it('is off with maxInFlight 0 and refuses a bad limit', () => {
    expect(loadShedderFor({ maxInFlight: 0, maxQueued: 10, maxQueueMs: 10 })).toBeUndefined();
    expect(loadShedderFor({ maxInFlight: 4, maxQueued: 0, maxQueueMs: 0 })).toBeInstanceOf(LoadShedder);
    expect(() => loadShedderFor({ maxInFlight: -1, maxQueued: 0, maxQueueMs: 0 })).toThrow(/maxInFlight/);
  });
});
