/** Messages between the main thread and the key workers (software RSA and EC private-key operations). */
export type WorkerOperation = 'sign' | 'decrypt' | 'unwrapKey';

/** One operation inside a batch. */
export interface WorkerOp {
  readonly id: number;
  readonly keyId: string;
  /** Sent only when the worker does not hold the key yet. */
  readonly jwk?: object;
  readonly op: WorkerOperation;
  readonly algorithm: string;
  readonly value: Uint8Array;
}

export type WorkerRequest =
  /** The operations queued for this worker during one event-loop turn, in one message. */
  | { readonly type: 'ops'; readonly ops: readonly WorkerOp[] }
  | { readonly type: 'evict'; readonly keyId: string }
  | { readonly type: 'clear' };

export type WorkerResult =
  | { readonly id: number; readonly ok: true; readonly result: Uint8Array }
  | { readonly id: number; readonly ok: false; readonly missing: true }
  | { readonly id: number; readonly ok: false; readonly code: string; readonly message: string; readonly details: Readonly<Record<string, string | number | boolean>> };

/** The results of one `ops` message, in one message. */
export type WorkerReply = { readonly results: readonly WorkerResult[] };
