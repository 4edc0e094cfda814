/**
 * Worker thread for software RSA private-key operations (sign, decrypt, unwrapKey): ~0.2 ms
 * of CPU each at 2048 bits, moved off the event loop that serves gRPC and audit. Keys arrive
 * once per worker as private JWKs (same process memory) and are held as crypto-core handles
 * until the main thread evicts them or seals.
 */
import { parentPort } from 'node:worker_threads';
import { isDomainError, loadSoftwareKey, type PrivateJwk, type SoftwareKey } from '#libs/crypto-core';
import type { WorkerReply, WorkerRequest } from './rsa-worker.protocol.js';

const keys = new Map<string, SoftwareKey>();
const port = parentPort;
if (!port) throw new Error('rsa.worker must run as a worker thread');

function run(key: SoftwareKey, m: Extract<WorkerRequest, { type: 'op' }>): Buffer {
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

port.on('message', (m: WorkerRequest) => {
  switch (m.type) {
    case 'op': {
      let reply: WorkerReply;
      try {
        let key = keys.get(m.keyId);
        if (!key) {
          if (!m.jwk) {
            reply = { id: m.id, ok: false, missing: true };
            break;
          }
          key = loadSoftwareKey(m.jwk as PrivateJwk);
          keys.set(m.keyId, key);
        }
        const out = run(key, m);
        // A fresh, exactly-sized copy is transferred (never a slice of Node's shared Buffer pool).
        const result = new Uint8Array(out);
        out.fill(0);
        port.postMessage({ id: m.id, ok: true, result } satisfies WorkerReply, [result.buffer]);
        return;
      } catch (err) {
        reply = isDomainError(err)
          ? { id: m.id, ok: false, code: err.code, message: err.message, details: err.details }
          : { id: m.id, ok: false, code: 'Internal', message: err instanceof Error ? err.message : String(err), details: {} };
      }
      port.postMessage(reply);
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
