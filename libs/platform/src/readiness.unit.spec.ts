import { describe, expect, it } from '@jest/globals';
import { readinessReport } from './bootstrap.js';
import type { HealthCheck } from './infra.js';

const up: HealthCheck = async () => 'fine';
const down: HealthCheck = async () => {
  throw new Error('connection refused');
};

describe('GET /health/ready (readiness for load balancers)', () => {
  it('is ready when everything is up', async () => {
    const r = await readinessReport('vault', { postgres: up, crypto: up, kafka: up, elasticsearch: up }, ['postgres', 'crypto']);
    expect(r.status).toBe('ready');
    expect(r.down).toEqual([]);
    expect(r.components.postgres?.required).toBe(true);
    expect(r.components.elasticsearch?.required).toBe(false);
  });

  it('stays in rotation, degraded, while a projection (Elasticsearch, Kafka, a rejoining consumer) is down', async () => {
    const r = await readinessReport('vault', { postgres: up, crypto: up, kafka: down, elasticsearch: down, identityEvents: down }, ['postgres', 'crypto']);
    expect(r.status).toBe('degraded');
    expect(r.down).toEqual(['kafka', 'elasticsearch', 'identityEvents']);
    expect(r.components.elasticsearch?.detail).toBe('connection refused');
  });

  it('is not ready when something the request path needs is down', async () => {
    expect((await readinessReport('vault', { postgres: down, crypto: up, elasticsearch: up }, ['postgres', 'crypto'])).status).toBe('not-ready');
    expect((await readinessReport('vault', { postgres: up, crypto: down }, ['postgres', 'crypto'])).status).toBe('not-ready');
    expect((await readinessReport('identity', { postgres: down, kafka: up })).status).toBe('not-ready');
  });

  it('counts a required check the service does not have as down', async () => {
    const r = await readinessReport('crypto', { postgres: up }, ['postgres', 'root']);
    expect(r.status).toBe('not-ready');
    expect(r.down).toEqual(['root']);
  });
});
