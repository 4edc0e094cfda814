/** Versioned topic names. A published event type is never edited: new shapes get a new version. */
export const TOPICS = {
  identityEvents: 'keyledger.identity.events.v1',
  vaultEvents: 'keyledger.vault.events.v1',
  cryptoEvents: 'keyledger.crypto.events.v1',
  auditRecords: 'keyledger.audit.records.v1',
} as const;

export type Topic = (typeof TOPICS)[keyof typeof TOPICS];

export const serviceEventsTopic = (service: string): string => `keyledger.${service}.events.v1`;

/** Dead-letter topic of one consumer group on one topic. */
export const deadLetterTopic = (topic: string, group: string): string => `${topic}.dlq.${group}`;
