import { describe, expect, it } from '@jest/globals';
import { bool, ConfigError, int, list, loadConfig, oneOf, port, str, url } from './config.js';
import { commonSchema } from './runtime.js';

const schema = {
  NAME: str('service name'),
  WORKERS: int('worker count', 4, 1, 64),
  PORT: port('listen port', 8443),
  DEBUG: bool('debug mode', false),
  IDENTITY_URL: url('identity service', 'https://127.0.0.1:8444', ['https']),
  BROKERS: list('Kafka brokers', ['127.0.0.1:9092']),
  MODE: oneOf('run mode', ['dev', 'prod'] as const, 'dev'),
  UNSEAL_SECRET: str('unseal secret', undefined, true),
};

const problemsOf = (env: NodeJS.ProcessEnv): readonly string[] => {
  try {
    loadConfig(schema, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  return [];
};

describe('loadConfig', () => {
  it('parses every kind of variable and applies defaults for unset or empty ones', () => {
    const c = loadConfig(schema, { NAME: 'vault', WORKERS: ' 8 ', PORT: '', DEBUG: 'YES', IDENTITY_URL: 'https://id.example/', BROKERS: 'a:1, b:2,,', UNSEAL_SECRET: 's3cret' });
    expect(c).toEqual({ NAME: 'vault', WORKERS: 8, PORT: 8443, DEBUG: true, IDENTITY_URL: 'https://id.example', BROKERS: ['a:1', 'b:2'], MODE: 'dev', UNSEAL_SECRET: 's3cret' });
  });

  it('names every bad variable in one error, not only the first', () => {
    const problems = problemsOf({ WORKERS: '0', PORT: '70000', DEBUG: 'maybe', IDENTITY_URL: 'http://id.example', BROKERS: ' , ', MODE: 'staging', UNSEAL_SECRET: 'x' });
    expect(problems.map((p) => p.split(' ')[0])).toEqual(['NAME', 'WORKERS', 'PORT', 'DEBUG', 'IDENTITY_URL', 'BROKERS', 'MODE']);
    expect(problems[0]).toBe('NAME is required (service name)');
    expect(problems).toContain('WORKERS must be between 1 and 64 (got "0")');
    expect(problems).toContain('PORT must be between 0 and 65535 (got "70000")');
    expect(problems).toContain('DEBUG must be true or false (got "maybe")');
    expect(problems).toContain('IDENTITY_URL must use https (got "http://id.example")');
    expect(problems).toContain('MODE must be one of dev, prod (got "staging")');
  });

  it('the error message lists each problem on its own line', () => {
    expect(() => loadConfig(schema, { WORKERS: 'many' })).toThrow('invalid configuration:\n  - NAME is required (service name)\n  - WORKERS must be an integer (got "many")');
  });

  it('never echoes the value of a secret variable, and shortens long values', () => {
    const secret = { KEY: { ...str('signing key', undefined, true), parse: (): string => { throw new Error('must be 32 bytes'); } } };
    let message = '';
    try {
      loadConfig(secret, { KEY: 'do-not-print-me' });
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain('KEY must be 32 bytes');
    expect(message).not.toContain('do-not-print-me');
    const long = problemsOf({ NAME: 'n', UNSEAL_SECRET: 'x', WORKERS: '9'.repeat(200) });
    expect(long[0]!.length).toBeLessThan(160);
    expect(long[0]).toContain('…');
  });

  it('refuses a URL that is not absolute and an integer with other characters', () => {
    const problems = problemsOf({ NAME: 'n', UNSEAL_SECRET: 'x', IDENTITY_URL: 'id.example', WORKERS: '4.5' });
    expect(problems).toEqual(['WORKERS must be an integer (got "4.5")', 'IDENTITY_URL must be an absolute URL (got "id.example")']);
  });
});

describe('commonSchema', () => {
  it('boots with no environment at all (local defaults), and refuses a non-PostgreSQL DATABASE_URL naming it', () => {
    const c = loadConfig(commonSchema, {});
    expect(c.DATABASE_URL).toMatch(/^postgres:\/\//);
    expect(c.KAFKA_BROKERS).toEqual(['127.0.0.1:9092']);
    expect(c.LOG_LEVEL).toBe('info');
    expect(() => loadConfig(commonSchema, { DATABASE_URL: 'mysql://db/x', LOG_LEVEL: 'loud' })).toThrow(/DATABASE_URL must use postgres or postgresql[\s\S]*LOG_LEVEL must be one of/);
  });

  it('never echoes the Elasticsearch password or the TLS key path when they are refused', () => {
    const schema2 = { ...commonSchema, ELASTICSEARCH_PASSWORD: { ...commonSchema.ELASTICSEARCH_PASSWORD, parse: (): string => { throw new Error('is malformed'); } } };
    expect(() => loadConfig(schema2, { ELASTICSEARCH_PASSWORD: 'hunter2' })).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') }));
  });
});
