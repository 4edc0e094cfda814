export * from './schema.sql.js';
export * from './event-store.js';
export * from './outbox-relay.js';
export * from './audit-writer.js';
export * from './spine.module.js';
export * from './lifecycle.events.js';
export * from './command-handler.js';
