export * from './decider.specification.js';
export * from './unique.names.js';
export * from './stack.connections.js';
export * from './test-db.fixture.js';
export * from './topic.collector.js';
export * from './wait.helpers.js';
export * from './envelopes.fixture.js';
