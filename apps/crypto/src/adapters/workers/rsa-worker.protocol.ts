/** Messages between the main thread and the RSA workers. */
export type WorkerOperation = 'sign' | 'decrypt' | 'unwrapKey';

export type WorkerRequest =
  | {
      readonly type: 'op';
      readonly id: number;
      readonly keyId: string;
      /** Sent only when the worker does not hold the key yet. */
      readonly jwk?: object;
      readonly op: WorkerOperation;
      readonly algorithm: string;
      readonly value: Uint8Array;
    }
  | { readonly type: 'evict'; readonly keyId: string }
  | { readonly type: 'clear' };

export type WorkerReply =
  | { readonly id: number; readonly ok: true; readonly result: Uint8Array }
  | { readonly id: number; readonly ok: false; readonly missing: true }
  | { readonly id: number; readonly ok: false; readonly code: string; readonly message: string; readonly details: Readonly<Record<string, string | number | boolean>> };
