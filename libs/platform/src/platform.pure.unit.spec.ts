import { join } from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { correlationIdFrom, currentContext, runWithContext } from './context.js';
import { assertSchemaName } from './database.js';
import { probe } from './infra.js';
import { REDACT_PATHS } from './logger.js';
import { keyledgerHome } from './paths.js';
import { devTlsFiles, loadTls } from './tls.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request context', () => {
  it('keeps a plain caller correlation id and mints one for anything else', () => {
    expect(correlationIdFrom('req-42.a:b_c')).toBe('req-42.a:b_c');
    expect(correlationIdFrom(['first', 'second'])).toBe('first');
    for (const bad of [undefined, '', 'has space', 'x'.repeat(129), 'new\nline', 'ünïcode', []]) expect(correlationIdFrom(bad)).toMatch(UUID);
  });

  it('carries the context across awaits and only inside the run', async () => {
    expect(currentContext()).toBeUndefined();
    const seen = await runWithContext({ correlationId: 'c1', requestId: 'r1' }, async () => {
      await new Promise((r) => setImmediate(r));
      return currentContext();
    });
    expect(seen).toEqual({ correlationId: 'c1', requestId: 'r1' });
    expect(currentContext()).toBeUndefined();
  });
});

describe('schema names', () => {
  it('accepts lower-case identifiers up to 63 characters and refuses anything that could inject SQL', () => {
    expect(assertSchemaName('vault')).toBe('vault');
    expect(assertSchemaName(`_t${'a'.repeat(61)}`)).toHaveLength(63);
    for (const bad of ['', 'Vault', '1vault', 'va-ult', 'vault;drop', 'a'.repeat(64), 'vault"']) expect(() => assertSchemaName(bad)).toThrow('invalid schema name');
  });
});

describe('health probe', () => {
  it('reports up with the check detail, and down with the reason', async () => {
    expect(await probe(async () => 'v1.2')).toMatchObject({ status: 'up', detail: 'v1.2' });
    expect(await probe(async () => undefined)).not.toHaveProperty('detail');
    expect(await probe(async () => Promise.reject(new Error('connection refused')))).toMatchObject({ status: 'down', detail: 'connection refused' });
  });

  it('reports down when the check does not answer in time', async () => {
    const never = (): Promise<string> => new Promise(() => undefined);
    expect(await probe(never, 10)).toMatchObject({ status: 'down', detail: 'no answer within 10 ms' });
  });
});

describe('log redaction', () => {
  it('censors secret values, tokens, client secrets and JWK private members wherever they sit one level deep', () => {
    for (const path of ['value', 'token', 'client_secret', 'client_assertion', 'authorization', 'req.headers.authorization', 'plaintext', 'key', 'd', 'p', 'q', 'dp', 'dq', 'qi', 'k']) {
      expect(REDACT_PATHS).toContain(path);
    }
    for (const field of ['value', 'secret', 'password', 'token', 'key', 'plaintext', 'material', 'd', 'k']) expect(REDACT_PATHS).toContain(`*.${field}`);
  });
});

describe('paths and TLS layout', () => {
  it('KEYLEDGER_HOME overrides the home directory', () => {
    expect(keyledgerHome({ KEYLEDGER_HOME: '/srv/keyledger' })).toBe('/srv/keyledger');
    expect(keyledgerHome({})).toMatch(/\.keyledger$/);
  });

  it('the development CA layout, and a missing file named with how to create it', () => {
    expect(devTlsFiles('/h')).toEqual({ certFile: join('/h', 'tls', 'server.crt'), keyFile: join('/h', 'tls', 'server.key'), caFile: join('/h', 'tls', 'ca.crt') });
    expect(() => loadTls(devTlsFiles('/nonexistent-keyledger-home'))).toThrow(/TLS certFile not found at \/nonexistent-keyledger-home\/tls\/server.crt: run "npm run stack:up"/);
  });
});
