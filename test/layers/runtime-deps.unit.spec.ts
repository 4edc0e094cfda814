/**
 * What a pure module loads at run time, measured: a child Node process imports the compiled
 * module with a resolve hook that records every module it resolves. libs/kernel, libs/crypto-core
 * and every domain/ module must load no database driver, Kafka client, web framework, logger,
 * Elasticsearch client or infrastructure lib.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { describe, expect, it } from '@jest/globals';

// This spec runs from dist/test/layers.
const dist = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const FORBIDDEN = /\/node_modules\/(pg|pg-[a-z-]+|kafkajs|@nestjs\/[^/]+|typeorm|@elastic\/[^/]+|fastify|pino|prom-client|jose|@grpc\/[^/]+)\/|\/dist\/libs\/(eventstore|platform|messaging|projections|crypto-client|testing)\//;

const HOOK = `
import { appendFileSync } from 'node:fs';
let log;
export function initialize(data) { log = data.log; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(log, r.url + '\\n');
  return r;
}`;

/** Every module URL resolved while importing `file` in a fresh Node process. */
function loadedBy(file: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'keyledger-load-'));
  const log = join(dir, 'loaded.txt');
  try {
    const script = `
      import { register } from 'node:module';
      import { writeFileSync } from 'node:fs';
      writeFileSync(${JSON.stringify(log)}, '');
      register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(HOOK)}), { data: { log: ${JSON.stringify(log)} } });
      await import(${JSON.stringify(pathToFileURL(file).href)});`;
    const res = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    if (res.status !== 0) throw new Error(`importing ${file} failed: ${res.stderr.slice(0, 2000)}`);
    return readFileSync(log, 'utf8').split('\n').filter(Boolean);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function domainModules(): string[] {
  const out: string[] = [];
  const walk = (d: string): void => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.js') && !/\.(spec|fixtures?)\.js$/.test(name)) out.push(p);
    }
  };
  for (const app of readdirSync(join(dist, 'apps'))) {
    const domain = join(dist, 'apps', app, 'src', 'domain');
    try {
      if (statSync(domain).isDirectory()) walk(domain);
    } catch {
      // this app has no domain folder
    }
  }
  return out.sort();
}

describe('pure modules load no infrastructure at run time', () => {
  it('the resolve hook sees what it must refuse', () => {
    const loaded = loadedBy(join(dist, 'libs', 'eventstore', 'src', 'index.js'));
    expect(loaded.some((u) => FORBIDDEN.test(u))).toBe(true);
  });

  it.each([['libs/kernel'], ['libs/crypto-core']])('%s', (lib) => {
    const loaded = loadedBy(join(dist, lib, 'src', 'index.js'));
    expect(loaded.length).toBeGreaterThan(1);
    expect(loaded.filter((u) => FORBIDDEN.test(u))).toEqual([]);
  });

  it('every domain/ module of every app', () => {
    const modules = domainModules();
    expect(modules.length).toBeGreaterThan(10);
    const offending = modules.flatMap((m) => loadedBy(m).filter((u) => FORBIDDEN.test(u)).map((u) => `${relative(dist, m)} loads ${u.replace(/^.*\/(node_modules|dist)\//, '$1/')}`));
    expect([...new Set(offending)]).toEqual([]);
  });
});
