import { v, type EventRegistry } from '#libs/kernel';
import type { SignedCheckpoint } from './checkpoint.js';
import type { ContractMessage } from '#libs/contracts';

/** A signed checkpoint, also published (keyledger.audit.events.v1) so a copy lives outside the audit database. */
export type AuditCheckpointSigned = { readonly type: 'AuditCheckpointSigned'; readonly data: SignedCheckpoint };

/**
 * A vault/crypto lifecycle event as observed on its topic, kept so the object-state projection
 * can be rebuilt. v2 keeps the contract message (libs/contracts: type, schema version, data —
 * metadata only by contract). v1 (before contracts) kept the type and field-name-picked
 * metadata; it is upcast to v2 with `message: null` and no longer folded: a pre-contract
 * event named its object only through type-name and stream-id guesses.
 */
export type LifecycleEventObserved = {
  readonly type: 'LifecycleEventObserved';
  readonly data: {
    readonly eventId: string;
    readonly source: string;
    readonly subject: string;
    readonly tenant: string;
    readonly time: string;
    readonly message: ContractMessage | null;
  };
};

export type AuditEvent = AuditCheckpointSigned | LifecycleEventObserved;

const isObject = (x: unknown): boolean => typeof x === 'object' && x !== null && !Array.isArray(x);
const isNullableString = (x: unknown): boolean => x === null || typeof x === 'string';
const isContractMessage = (x: unknown): boolean =>
  x === null || (isObject(x) && typeof (x as Record<string, unknown>)['type'] === 'string' && Number.isInteger((x as Record<string, unknown>)['schemaVersion']) && isObject((x as Record<string, unknown>)['data']));

export function registerAuditEvents(registry: EventRegistry): EventRegistry {
  return registry
    .define({
      type: 'AuditCheckpointSigned',
      schemaVersion: 1,
      validate: v.object({
        version: v.number,
        chain: v.string,
        number: v.number,
        headSeq: v.number,
        headHash: v.string,
        count: v.number,
        fromSeq: v.number,
        fromTime: isNullableString,
        toTime: isNullableString,
        createdAt: v.string,
        previousSignature: isNullableString,
        keyId: v.string,
        algorithm: v.string,
        signature: v.string,
      }),
    })
    .define({
      type: 'LifecycleEventObserved',
      schemaVersion: 2,
      validate: v.object({ eventId: v.string, source: v.string, subject: v.string, tenant: v.string, time: v.string, message: isContractMessage }),
    })
    .upcast('LifecycleEventObserved', 1, (d) => ({
      data: { eventId: d['eventId'], source: d['source'], subject: d['subject'], tenant: d['tenant'], time: d['time'], message: null },
    }));
}
