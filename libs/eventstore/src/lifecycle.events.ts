import { hostname } from 'node:os';
import type { EventStore } from './event-store.js';
import { v, type EventRegistry } from '#libs/kernel';

/** Recorded on every boot in each service's own store: the spine's heartbeat flow. */
export type ServiceStarted = { readonly type: 'ServiceStarted'; readonly data: { readonly service: string; readonly host: string; readonly pid: number; readonly version: string } };

export function registerLifecycleEvents(registry: EventRegistry): EventRegistry {
  return registry.define({
    type: 'ServiceStarted',
    schemaVersion: 1,
    validate: v.object({ service: v.nonEmpty, host: v.string, pid: v.int, version: v.string }),
  });
}

export async function recordServiceStarted(store: EventStore, service: string, version: string): Promise<void> {
  const event: ServiceStarted = { type: 'ServiceStarted', data: { service, host: hostname(), pid: process.pid, version } };
  await store.appendToStream(`service-${service}`, 'any', [event], { metadata: { actor: service, tenant: 'system' } });
}
