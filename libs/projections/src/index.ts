export * from './projection.types.js';
export * from './checkpoint.store.js';
export * from './es-index.manager.js';
export * from './projection.runner.js';
