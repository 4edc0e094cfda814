export * from './envelope.js';
export * from './topics.js';
export * from './audit-record.js';
export * from './events/index.js';
