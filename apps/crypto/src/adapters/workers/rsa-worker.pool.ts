import { Worker } from 'node:worker_threads';
import { DomainError, type SoftwareKey } from '#libs/crypto-core';
import type { Logger } from 'pino';
import type { WorkerOperation, WorkerReply, WorkerRequest } from './rsa-worker.protocol.js';

type Slot = { worker: Worker; pending: number; loaded: Set<string>; readonly started: number };
type Waiter = {
  readonly slot: Slot;
  readonly resolve: (b: Buffer) => void;
  readonly reject: (e: Error) => void;
  readonly retry: () => void;
};

/**
 * A small pool of worker threads for software RSA private-key operations. Each worker keeps
 * the keys it was sent (by material id) until evicted; the least busy worker takes the next
 * call. A worker that dies fails its calls with `Internal` and is replaced; if workers keep
 * dying at start the pool gives up (size 0) and callers run the operations inline.
 */
export class RsaWorkerPool {
  private readonly slots: Slot[] = [];
  private readonly waiting = new Map<number, Waiter>();
  private nextId = 1;
  private closed = false;
  private earlyDeaths = 0;

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
    const slot: Slot = { worker, pending: 0, loaded: new Set(), started: Date.now() };
    worker.on('message', (reply: WorkerReply) => this.settle(reply));
    worker.on('error', (err) => this.logger.error({ err: err.message }, 'RSA worker failed'));
    worker.on('exit', (code) => {
      for (const [id, w] of this.waiting) {
        if (w.slot !== slot) continue;
        this.waiting.delete(id);
        w.reject(new DomainError('Internal', `an RSA worker exited (${code})`));
      }
      const i = this.slots.indexOf(slot);
      if (i < 0 || this.closed) return;
      this.earlyDeaths = Date.now() - slot.started < 5_000 ? this.earlyDeaths + 1 : 0;
      if (this.earlyDeaths >= 3) {
        this.slots.splice(i, 1);
        this.logger.error({ code }, 'RSA workers keep exiting at start: RSA operations run on the event loop');
        return;
      }
      this.slots[i] = this.spawn();
    });
    return slot;
  }

  private settle(reply: WorkerReply): void {
    const w = this.waiting.get(reply.id);
    if (!w) return;
    this.waiting.delete(reply.id);
    w.slot.pending--;
    if (reply.ok) w.resolve(Buffer.from(reply.result.buffer, reply.result.byteOffset, reply.result.byteLength));
    else if ('missing' in reply) w.retry();
    else w.reject(new DomainError(reply.code, reply.message, reply.details));
  }

  /** Runs `op` with the key (sent to the worker the first time it sees this material id). */
  run(materialId: string, key: SoftwareKey, op: WorkerOperation, algorithm: string, value: Buffer): Promise<Buffer> {
    if (this.closed || this.slots.length === 0) return Promise.reject(new DomainError('Internal', 'the RSA worker pool is closed'));
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.pending < slot.pending) slot = s;
    return new Promise<Buffer>((resolve, reject) => {
      const send = (withKey: boolean): void => {
        const id = this.nextId++;
        // An exactly-sized copy, transferred: a Buffer view may sit on a larger shared slab.
        const input = new Uint8Array(value);
        const message: WorkerRequest = {
          type: 'op',
          id,
          keyId: materialId,
          op,
          algorithm,
          value: input,
          ...(withKey ? { jwk: key.exportPrivateJwk() } : {}),
        };
        this.waiting.set(id, { slot, resolve, reject, retry: () => send(true) });
        slot.pending++;
        slot.loaded.add(materialId);
        slot.worker.postMessage(message, [input.buffer]);
      };
      send(!slot.loaded.has(materialId));
    });
  }

  /** Drops a key from every worker (zeroing what can be zeroed there). */
  evict(materialId: string): void {
    for (const s of this.slots) {
      if (!s.loaded.delete(materialId)) continue;
      s.worker.postMessage({ type: 'evict', keyId: materialId } satisfies WorkerRequest);
    }
  }

  /** Drops every key from every worker (seal). */
  clear(): void {
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
