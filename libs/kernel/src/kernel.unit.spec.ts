import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';
import { ConflictError, DomainError, InvalidInputError, isDomainError, manualClock, NotFoundError, systemClock, UnavailableError } from './index.js';

// This spec runs from dist/libs/kernel/src; the sources are in libs/kernel/src.
const compiledDir = dirname(fileURLToPath(import.meta.url));
const sourceDir = join(compiledDir, '..', '..', '..', '..', 'libs', 'kernel', 'src');

const isSpec = (f: string): boolean => /\.spec\.(js|ts)$/.test(f);

/** Every module specifier a file names: static imports and re-exports (type-only too in .ts), dynamic import(), require(). */
function specifiers(code: string): string[] {
  const found: string[] = [];
  const patterns = [/\bfrom\s*['"]([^'"]+)['"]/g, /\bimport\s*['"]([^'"]+)['"]/g, /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g, /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g];
  for (const re of patterns) for (const m of code.matchAll(re)) found.push(m[1]!);
  return found;
}

function outsideImports(dir: string, ext: string): string[] {
  const problems: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(ext) && !isSpec(f))) {
    for (const spec of specifiers(readFileSync(join(dir, file), 'utf8'))) {
      const sibling = spec.startsWith('./') && !spec.slice(2).includes('/') && existsSync(join(dir, ext === '.ts' ? spec.slice(2).replace(/\.js$/, '.ts') : spec.slice(2)));
      if (!sibling) problems.push(`${file} imports ${spec}`);
    }
  }
  return problems;
}

describe('libs/kernel has no dependency', () => {
  it('its compiled modules load nothing but each other at run time (no package, no Node built-in, no other lib)', () => {
    const files = readdirSync(compiledDir).filter((f) => f.endsWith('.js') && !isSpec(f));
    expect(files).toContain('index.js');
    expect(outsideImports(compiledDir, '.js')).toEqual([]);
  });

  it('its sources name nothing outside libs/kernel/src, not even in type-only imports', () => {
    expect(existsSync(join(sourceDir, 'index.ts'))).toBe(true);
    expect(outsideImports(sourceDir, '.ts')).toEqual([]);
  });

  it('the specifier scan sees what it must refuse', () => {
    expect(specifiers(`import pg from 'pg';\nexport * from '#libs/platform';\nimport type { X } from './x.js';\nconst m = await import('node:fs');`)).toEqual(['pg', '#libs/platform', './x.js', 'node:fs']);
  });
});

describe('DomainError hierarchy', () => {
  it('keeps the stable code and is a DomainError whatever the kind', () => {
    const errors = [
      new InvalidInputError('name is too long', { field: 'name' }),
      new NotFoundError('SecretNotFound', 'no such secret'),
      new ConflictError('Conflict', 'the secret is being deleted'),
      new UnavailableError('AuditUnavailable', 'the audit store is down'),
    ];
    expect(errors.map((e) => [e instanceof DomainError, e instanceof Error, e.code])).toEqual([
      [true, true, 'BadParameter'],
      [true, true, 'SecretNotFound'],
      [true, true, 'Conflict'],
      [true, true, 'AuditUnavailable'],
    ]);
    expect(errors[0]!.details).toEqual({ field: 'name' });
    expect(errors.map((e) => e.name)).toEqual(['InvalidInputError', 'NotFoundError', 'ConflictError', 'UnavailableError']);
  });

  it('isDomainError matches the class and, when given, the code', () => {
    const e = new NotFoundError('KeyNotFound', 'no such key');
    expect(isDomainError(e)).toBe(true);
    expect(isDomainError(e, 'KeyNotFound')).toBe(true);
    expect(isDomainError(e, 'SecretNotFound')).toBe(false);
    expect(isDomainError(new Error('x'))).toBe(false);
    expect(isDomainError({ code: 'KeyNotFound' })).toBe(false);
  });
});

describe('clock', () => {
  it('the manual clock moves only when told to', () => {
    const clock = manualClock(1_000);
    expect(clock()).toBe(1_000);
    clock.advance(500);
    expect(clock()).toBe(1_500);
    clock.set(42);
    expect(clock()).toBe(42);
  });

  it('the system clock reads the wall clock in milliseconds', () => {
    const before = Date.now();
    const now = systemClock();
    expect(now).toBeGreaterThanOrEqual(before);
    expect(Number.isInteger(now)).toBe(true);
  });
});
