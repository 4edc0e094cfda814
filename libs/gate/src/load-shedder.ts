/**
 * Load shedding for one service process: at most `maxInFlight` admitted requests do their work
 * at once; the next ones wait in a FIFO for a slot, at most `maxQueued` of them and each at most
 * `maxQueueMs`. A request that finds the queue full, or waits out its time, is refused — the
 * transport answers it quickly (the vault: 503 in Azure's envelope with Retry-After, audited
 * like every answer) instead of letting it queue until the client times out. The bound on
 * concurrent work keeps the latency of the admitted requests bounded under any overload, and
 * the service recovers by itself as soon as arrivals fall below its capacity.
 *
 * A request that could not get a slot in time anyway is refused at once rather than after
 * waiting `maxQueueMs` for nothing: while the queue is busy, the shedder measures how often a
 * slot comes free, and when the requests ahead (and this one) would need longer than
 * `maxQueueMs` at that pace, it refuses now.
 */
export type LoadLimits = {
  /** Admitted requests working at once (0: no shedding). */
  readonly maxInFlight: number;
  /** Requests waiting for a slot at once; the next is refused at once. */
  readonly maxQueued: number;
  /** Longest wait for a slot, milliseconds; a request that waited that long is refused. */
  readonly maxQueueMs: number;
};

/** A slot held by an admitted request; idempotent. */
export type SlotRelease = () => void;

type Waiter = { readonly grant: (release: SlotRelease | undefined) => void; timer: NodeJS.Timeout | undefined };

export class LoadShedder {
  private inFlight = 0;
  private readonly queue: Waiter[] = [];
  private shedTotal = 0;
  /** Milliseconds between slots coming free while requests wait (moving average); undefined until measured. */
  private interval: number | undefined;
  private lastBusyRelease: number | undefined;

  constructor(
    readonly limits: LoadLimits,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A slot, or undefined when the request is to be refused (queue full, or waited `maxQueueMs`). */
  acquire(): Promise<SlotRelease | undefined> {
    if (this.inFlight < this.limits.maxInFlight && this.queue.length === 0) {
      this.inFlight++;
      return Promise.resolve(this.slot());
    }
    if (this.queue.length >= this.limits.maxQueued) return Promise.resolve(this.shed());
    if (this.interval !== undefined && (this.queue.length + 1) * this.interval > this.limits.maxQueueMs) return Promise.resolve(this.shed());
    return new Promise((resolve) => {
      const waiter: Waiter = { grant: resolve, timer: undefined };
      waiter.timer = setTimeout(() => {
        const i = this.queue.indexOf(waiter);
        if (i >= 0) this.queue.splice(i, 1);
        resolve(this.shed());
      }, this.limits.maxQueueMs);
      this.queue.push(waiter);
    });
  }

  /** What the service is carrying now (for metrics and the overload proof). */
  stats(): { inFlight: number; queued: number; shed: number } {
    return { inFlight: this.inFlight, queued: this.queue.length, shed: this.shedTotal };
  }

  private shed(): undefined {
    this.shedTotal++;
    return undefined;
  }

  private slot(): SlotRelease {
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      // The slot passes to the longest-waiting request, or is freed.
      const next = this.queue.shift();
      if (next) {
        const t = this.now();
        if (this.lastBusyRelease !== undefined) this.interval = this.interval === undefined ? t - this.lastBusyRelease : 0.8 * this.interval + 0.2 * (t - this.lastBusyRelease);
        this.lastBusyRelease = t;
        clearTimeout(next.timer);
        next.grant(this.slot());
      } else {
        // Idle slots say nothing about the pace under load.
        this.lastBusyRelease = undefined;
        this.inFlight--;
      }
    };
  }
}

/** No shedding (`maxInFlight` 0) or the limits as configured; throws naming a bad value. */
export function loadShedderFor(limits: LoadLimits): LoadShedder | undefined {
  for (const [k, v] of Object.entries(limits)) if (!Number.isInteger(v) || v < 0) throw new Error(`bad load limit ${k}=${String(v)} (a non-negative integer)`);
  return limits.maxInFlight === 0 ? undefined : new LoadShedder(limits);
}
