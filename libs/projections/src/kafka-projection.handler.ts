import type { Client as EsClient } from '@elastic/elasticsearch';
import type { EventRegistry } from '#libs/kernel';
import type { InboxHandler } from '#libs/messaging';
import { bulkWrite } from './es-index.manager.js';
import { fromEnvelope, handlesEvent, type EsProjection, type PgProjection } from './projection.types.js';

/**
 * Feeds a PostgreSQL projection from Kafka through an InboxConsumer: the read-model change
 * commits in the inbox transaction, so a redelivered event changes nothing.
 */
export function pgProjectionHandler(projection: PgProjection, registry?: EventRegistry): InboxHandler {
  return async (envelope, tx) => {
    if (!handlesEvent(projection, envelope.type)) return;
    await projection.handle([fromEnvelope(envelope, registry)], tx);
  };
}

/**
 * Feeds an Elasticsearch projection from Kafka: writes through the alias with the
 * projection's deterministic `_id`s, so redeliveries are idempotent even without the inbox.
 */
export function esProjectionHandler(es: EsClient, projection: EsProjection, registry?: EventRegistry): InboxHandler {
  return async (envelope) => {
    if (!handlesEvent(projection, envelope.type)) return;
    await bulkWrite(es, projection.alias, projection.toOperations([fromEnvelope(envelope, registry)]));
  };
}
