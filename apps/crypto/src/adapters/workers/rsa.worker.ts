/**
 * Worker thread for software private-key operations: RSA sign / decrypt / unwrapKey (~0.2 ms
 * of CPU each at 2048 bits) and EC sign (pure-JS ECDSA over a digest, ~0.3 ms at P-256), moved
 * off the event loop that serves gRPC and audit. Keys arrive once per worker as private JWKs
 * (same process memory) and are held as crypto-core handles until the main thread evicts them
 * or seals. Operations arrive in batches (one message per event-loop turn of the main thread)
 * and their results go back in one message per batch.
 */
import { parentPort } from 'node:worker_threads';
import { isDomainError, loadSoftwareKey, type PrivateJwk, type SoftwareKey } from '#libs/crypto-core';
import type { WorkerOp, WorkerReply, WorkerRequest, WorkerResult } from './rsa-worker.protocol.js';

const keys = new Map<string, SoftwareKey>();
const port = parentPort;
if (!port) throw new Error('rsa.worker must run as a worker thread');

function run(key: SoftwareKey, m: WorkerOp): Buffer {
  const value = Buffer.from(m.value.buffer, m.value.byteOffset, m.value.byteLength);
  switch (m.op) {
    case 'sign':
      return key.sign(m.algorithm, value);
    case 'decrypt':
      return key.decrypt(m.algorithm, value);
    case 'unwrapKey':
      return key.unwrapKey(m.algorithm, value);
  }
}

function one(m: WorkerOp, transfer: ArrayBuffer[]): WorkerResult {
  try {
    let key = keys.get(m.keyId);
    if (!key) {
      if (!m.jwk) return { id: m.id, ok: false, missing: true };
      key = loadSoftwareKey(m.jwk as PrivateJwk);
      keys.set(m.keyId, key);
    }
    const out = run(key, m);
    // A fresh, exactly-sized copy is transferred (never a slice of Node's shared Buffer pool).
    const result = new Uint8Array(out);
    out.fill(0);
    transfer.push(result.buffer);
    return { id: m.id, ok: true, result };
  } catch (err) {
    return isDomainError(err)
      ? { id: m.id, ok: false, code: err.code, message: err.message, details: err.details }
      : { id: m.id, ok: false, code: 'Internal', message: err instanceof Error ? err.message : String(err), details: {} };
  }
}

port.on('message', (m: WorkerRequest) => {
  switch (m.type) {
    case 'ops': {
      const transfer: ArrayBuffer[] = [];
      const results = m.ops.map((op) => one(op, transfer));
      port.postMessage({ results } satisfies WorkerReply, transfer);
      return;
    }
    case 'evict':
      keys.get(m.keyId)?.destroy();
      keys.delete(m.keyId);
      return;
    case 'clear':
      for (const k of keys.values()) k.destroy();
      keys.clear();
      return;
  }
});
