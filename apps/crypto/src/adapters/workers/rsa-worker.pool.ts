import { Worker } from 'node:worker_threads';
import { DomainError, type SoftwareKey } from '#libs/crypto-core';
import type { Logger } from 'pino';
import type { WorkerOp, WorkerOperation, WorkerReply, WorkerRequest } from './rsa-worker.protocol.js';

type Slot = { worker: Worker; pending: number; loaded: Set<string>; readonly started: number; outbox: WorkerOp[] };
type Waiter = {
  readonly slot: Slot;
  readonly resolve: (b: Buffer) => void;
  readonly reject: (e: Error) => void;
  readonly retry: () => void;
};

/**
 * A pool of worker threads for software private-key operations (RSA sign / decrypt /
 * unwrapKey, EC sign), sized to the cores by default. Each worker keeps the keys it was sent
 * (by material id) until evicted; the least busy worker takes the next call. Calls made
 * during one event-loop turn travel to each worker in ONE message (flushed by setImmediate,
 * after the turn's I/O callbacks), and each worker answers a message with one message: the
 * per-call cost of thread hand-off is paid per batch. A worker that dies fails its calls with
 * `Internal` and is replaced; if workers keep dying at start the pool gives up (size 0) and
 * callers run the operations inline.
 */
export class RsaWorkerPool {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;
  private closed = false;
  private earlyDeaths = 0;
  private flushScheduled = false;

  constructor(
    size: number,
    private readonly logger: Logger,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  get size(): number {
    return this.slots.length;
  }

  private spawn(): Slot {
    // The parent's flags (e.g. --input-type, -e, inspector flags) are not for the worker.
    const worker = new Worker(new URL('./rsa.worker.js', import.meta.url), { execArgv: process.execArgv.filter((a) => a === '--enable-source-maps') });
    worker.unref();
    const slot: Slot = { worker, pending: 0, loaded: new Set(), started: Date.now(), outbox: [] };
    worker.on('message', (reply: WorkerReply) => this.settle(reply));
    worker.on('error', (err) => this.logger.error({ err: err.message }, 'key worker failed'));
    worker.on('exit', (code) => {
      slot.outbox = [];
      for (const [id, w] of this.waiting) {
        if (w.slot !== slot) continue;
        this.waiting.delete(id);
        w.reject(new DomainError('Internal', `a key worker exited (${code})`));
      }
      const i = this.slots.indexOf(slot);
      if (i < 0 || this.closed) return;
      this.earlyDeaths = Date.now() - slot.started < 5_000 ? this.earlyDeaths + 1 : 0;
      if (this.earlyDeaths >= 3) {
        this.slots.splice(i, 1);
        this.logger.error({ code }, 'key workers keep exiting at start: private-key operations run on the event loop');
        return;
      }
      this.slots[i] = this.spawn();
    });
    return slot;
  }

  private settle(reply: WorkerReply): void {
    for (const r of reply.results) {
      const w = this.waiting.get(r.id);
      if (!w) continue;
      this.waiting.delete(r.id);
      w.slot.pending--;
      if (r.ok) w.resolve(Buffer.from(r.result.buffer, r.result.byteOffset, r.result.byteLength));
      else if ('missing' in r) w.retry();
      else w.reject(new DomainError(r.code, r.message, r.details));
    }
  }

  /** Runs `op` with the key (sent to the worker the first time it sees this material id). */
  run(materialId: string, key: SoftwareKey, op: WorkerOperation, algorithm: string, value: Buffer): Promise<Buffer> {
    if (this.closed || this.slots.length === 0) return Promise.reject(new DomainError('Internal', 'the key worker pool is closed'));
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.pending < slot.pending) slot = s;
    return new Promise<Buffer>((resolve, reject) => {
      const queue = (withKey: boolean): void => {
        const id = this.nextId++;
        // An exactly-sized copy: a Buffer view may sit on a larger shared slab (which a
        // structured clone would copy whole).
        const input = new Uint8Array(value);
        this.waiting.set(id, { slot, resolve, reject, retry: () => queue(true) });
        slot.pending++;
        slot.loaded.add(materialId);
        slot.outbox.push({ id, keyId: materialId, op, algorithm, value: input, ...(withKey ? { jwk: key.exportPrivateJwk() } : {}) });
        this.scheduleFlush();
      };
      queue(!slot.loaded.has(materialId));
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** Sends each worker the operations queued for it, one message per worker. */
  private flush(): void {
    this.flushScheduled = false;
    for (const s of this.slots) {
      if (s.outbox.length === 0) continue;
      const ops = s.outbox;
      s.outbox = [];
      s.worker.postMessage({ type: 'ops', ops } satisfies WorkerRequest);
    }
  }

  /** Drops a key from every worker (zeroing what can be zeroed there). */
  evict(materialId: string): void {
    this.flush(); // operations queued before the eviction reach the worker before it
    for (const s of this.slots) {
      if (!s.loaded.delete(materialId)) continue;
      s.worker.postMessage({ type: 'evict', keyId: materialId } satisfies WorkerRequest);
    }
  }

  /** Drops every key from every worker (seal). */
  clear(): void {
    this.flush();
    for (const s of this.slots) {
      s.loaded.clear();
      s.worker.postMessage({ type: 'clear' } satisfies WorkerRequest);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    const slots = this.slots.splice(0);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }
}
