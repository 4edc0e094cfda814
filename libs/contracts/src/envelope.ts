/**
 * The envelope of every Kafka message (DESIGN section 2): the same fields as Kafka headers
 * (strings) and inside the JSON value, so consumers can route on headers and still read
 * everything from the value.
 */
export type Envelope<Data extends object = object> = {
  readonly id: string;
  readonly type: string;
  readonly schemaVersion: number;
  /** Producing service: identity, vault, crypto or audit. */
  readonly source: string;
  /** The stream id the event belongs to (also the Kafka message key). */
  readonly subject: string;
  readonly time: string;
  readonly correlationId: string;
  readonly causationId: string | null;
  readonly tenant: string;
  readonly traceparent: string | null;
  /** Position of the event in its stream, when it comes from an event store. */
  readonly streamVersion?: number;
  readonly data: Data;
};

export const ENVELOPE_HEADERS = ['id', 'type', 'schemaVersion', 'source', 'subject', 'time', 'correlationId', 'causationId', 'tenant', 'traceparent'] as const;

export function envelopeHeaders(env: Envelope): Record<string, string> {
  const h: Record<string, string> = {};
  for (const k of ENVELOPE_HEADERS) {
    const v = env[k];
    if (v !== null && v !== undefined) h[k] = String(v);
  }
  return h;
}

export class EnvelopeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnvelopeError';
  }
}

/** Parses and checks a Kafka message value; never echoes the payload in errors. */
export function parseEnvelope(value: Buffer | string | null): Envelope {
  if (value === null) throw new EnvelopeError('empty message');
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : value.toString('utf8'));
  } catch {
    throw new EnvelopeError('message value is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) throw new EnvelopeError('message value is not an object');
  const o = parsed as Record<string, unknown>;
  for (const k of ['id', 'type', 'source', 'subject', 'time', 'correlationId', 'tenant'] as const) {
    if (typeof o[k] !== 'string' || (o[k] as string).length === 0) throw new EnvelopeError(`envelope field "${k}" missing`);
  }
  if (typeof o.schemaVersion !== 'number') throw new EnvelopeError('envelope field "schemaVersion" missing');
  if (typeof o.data !== 'object' || o.data === null) throw new EnvelopeError('envelope field "data" missing');
  return o as unknown as Envelope;
}
