import { v, type EventRegistry } from '#libs/kernel';
import type { SignedCheckpoint } from './checkpoint.js';
import type { ObservedLifecycleEvent } from './object-state.js';

/** A signed checkpoint, also published (keyledger.audit.events.v1) so a copy lives outside the audit database. */
export type AuditCheckpointSigned = { readonly type: 'AuditCheckpointSigned'; readonly data: SignedCheckpoint };

/** A vault/crypto lifecycle event as observed on its topic, kept so the object-state projection can be rebuilt. */
export type LifecycleEventObserved = {
  readonly type: 'LifecycleEventObserved';
  readonly data: ObservedLifecycleEvent & { readonly eventId: string; readonly schemaVersion: number };
};

export type AuditEvent = AuditCheckpointSigned | LifecycleEventObserved;

const isObject = (x: unknown): boolean => typeof x === 'object' && x !== null && !Array.isArray(x);
const isNullableString = (x: unknown): boolean => x === null || typeof x === 'string';

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
      schemaVersion: 1,
      validate: v.object({ eventId: v.string, source: v.string, type: v.string, subject: v.string, tenant: v.string, time: v.string, schemaVersion: v.number, data: isObject }),
    });
}
