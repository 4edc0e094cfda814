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
