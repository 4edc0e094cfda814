export * from './retry.policy.js';
export * from './topics.admin.js';
export * from './consumer.supervisor.js';
export * from './inbox.consumer.js';
