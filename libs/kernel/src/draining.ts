/**
 * The process's shutdown state: set once when a service starts its graceful shutdown (SIGTERM,
 * SIGINT), read by the audited-operation gate, which from then on refuses new requests with an
 * audited 503 in Azure's envelope (with the caller's identity when its token verifies) while the
 * requests in flight finish — instead of Fastify's bare, unaudited 503.
 */
let draining = false;

export function startDraining(): void {
  draining = true;
}

export function isDraining(): boolean {
  return draining;
}
