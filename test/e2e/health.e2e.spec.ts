import { readFileSync } from 'node:fs';
import https from 'node:https';
import { describe, expect, it } from '@jest/globals';
import { stackEnv } from '../support/stack-env.js';

const SERVICES = [
  ['identity', 9443],
  ['crypto', 9444],
  ['vault', 8443],
  ['audit', 8444],
] as const;

function get(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const ca = readFileSync(stackEnv.caFile);
  return new Promise((resolve, reject) => {
    https
      .get({ host: 'localhost', port, path, ca, headers }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

describe('service health over HTTPS with the development CA', () => {
  it.each(SERVICES)('%s reports PostgreSQL, Kafka and Elasticsearch up', async (name, port) => {
    const res = await get(port, '/health');
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as { status: string; service: string; components: Record<string, { status: string }> };
    expect(body.service).toBe(name);
    expect(body.status).toBe('up');
    for (const c of ['postgres', 'kafka', 'elasticsearch']) expect(body.components[c]?.status).toBe('up');
  });

  const REQUIRED: Record<string, string[]> = { identity: ['postgres'], crypto: ['postgres', 'root'], vault: ['postgres', 'crypto'], audit: ['postgres'] };

  it.each(SERVICES)('%s is ready for a load balancer and names what its request path needs', async (name, port) => {
    const res = await get(port, '/health/ready');
    expect(res.status).toBe(200);
    const body = JSON.parse(res.body) as { status: string; service: string; required: string[]; down: string[]; components: Record<string, { status: string; required: boolean }> };
    expect(body.service).toBe(name);
    expect(body.status).toBe('ready');
    expect(body.down).toEqual([]);
    expect(body.required).toEqual(REQUIRED[name]);
    for (const c of REQUIRED[name] ?? []) expect(body.components[c]).toMatchObject({ status: 'up', required: true });
    // Projections are reported, never required: an Elasticsearch outage leaves the service in rotation.
    expect(body.components.elasticsearch).toMatchObject({ status: 'up', required: false });
    expect(body.components.kafka).toMatchObject({ status: 'up', required: false });
  });

  it.each(SERVICES)('%s serves Prometheus metrics', async (_name, port) => {
    const res = await get(port, '/metrics');
    expect(res.status).toBe(200);
    expect(String(res.headers['content-type'])).toMatch(/^text\/plain/);
    expect(res.body).toContain('process_cpu_user_seconds_total');
  });

  it('echoes a client request id and stamps x-ms-request-id', async () => {
    const res = await get(8443, '/health/live', { 'x-ms-client-request-id': 'req-123' });
    expect(res.headers['x-ms-client-request-id']).toBe('req-123');
    expect(res.headers['x-ms-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});
