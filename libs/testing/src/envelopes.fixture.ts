import { randomUUID } from 'node:crypto';
import type { Envelope } from '#libs/contracts';

/**
 * A Kafka envelope as another service would publish it, for specs that feed consumers
 * directly: a fresh id, the given type, version, data and source, the rest fixed.
 */
export function testEnvelope(type: string, schemaVersion: number, data: Record<string, unknown>, o: { readonly source?: string; readonly tenant: string; readonly subject?: string }): Envelope {
  return {
    id: randomUUID(),
    type,
    schemaVersion,
    source: o.source ?? 'vault',
    subject: o.subject ?? 'secret-opaque',
    time: '2027-01-15T08:00:00.000Z',
    correlationId: 'c',
    causationId: null,
    tenant: o.tenant,
    traceparent: null,
    data,
  };
}
