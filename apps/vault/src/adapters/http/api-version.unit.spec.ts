import { describe, expect, it } from '@jest/globals';
import { API_VERSIONS, atLeast, GA_API_VERSIONS, LATEST_API_VERSION, queryOf, reportsRecoverableDays, requireApiVersion, shapeOf } from './api-version.js';
import { HttpProblem } from './azure-errors.js';

const PREVIEWS = ['7.0-preview', '7.1-preview', '7.2-preview', '7.3-preview', '7.4-preview.1', '7.5-preview.1', '7.6-preview.1', '7.6-preview.2', '2025-06-01-preview', '2025-07-01-preview', '2026-01-01-preview', '2026-03-01-preview', '2026-05-01-preview', '2026-07-01-preview'];
const GA = ['2015-06-01', '2016-10-01', '7.0', '7.1', '7.2', '7.3', '7.4', '7.5', '7.6', '2025-06-01', '2025-07-01', '2026-04-01'];

function problemOf(fn: () => unknown): HttpProblem | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err as HttpProblem;
  }
}

describe('api-versions of the Key Vault data plane', () => {
  it('accepts every GA and preview version of the specification folders, and nothing else', () => {
    expect([...API_VERSIONS].sort()).toEqual([...GA, ...PREVIEWS].sort());
    expect(GA_API_VERSIONS).toEqual(GA);
    for (const v of API_VERSIONS) expect(requireApiVersion(queryOf(`/keys/k/create?api-version=${encodeURIComponent(v)}`))).toBe(v);
  });

  it('reads a percent-encoded key (the SDKs send api%2Dversion)', () => {
    expect(requireApiVersion(queryOf('/secrets?api%2Dversion=7.6-preview.2'))).toBe('7.6-preview.2');
  });

  it.each([['/secrets'], ['/secrets?api-version='], ['/secrets?api-version=7.7'], ['/secrets?api-version=7.6-preview.3'], ['/secrets?api-version=2026-04-01-preview'], ['/secrets?api-version=latest'], ['/secrets?api-version=7.6%20']])('answers 400 BadParameter for %s', (url) => {
    const p = problemOf(() => requireApiVersion(queryOf(url)));
    expect(p).toBeInstanceOf(HttpProblem);
    expect([p?.status, p?.code]).toEqual([400, 'BadParameter']);
    expect(p?.message).toContain(LATEST_API_VERSION);
  });

  it.each([
    ['7.0-preview', '7.0'],
    ['7.2-preview', '7.2'],
    ['7.4-preview.1', '7.4'],
    ['7.5-preview.1', '7.5'],
    ['7.6-preview.1', '7.6'],
    ['7.6-preview.2', '7.6'],
    ['2025-06-01-preview', '2025-06-01'],
    ['2025-07-01-preview', '2025-07-01'],
    ['2026-01-01-preview', '2026-04-01'],
    ['2026-03-01-preview', '2026-04-01'],
    ['2026-07-01-preview', '2026-04-01'],
    ['7.3', '7.3'],
  ])('shapes answers to %s like %s', (preview, ga) => {
    expect(shapeOf(preview)).toBe(ga);
  });

  it('reports recoverableDays from 7.1 on, previews like the GA version they precede', () => {
    for (const v of ['2015-06-01', '2016-10-01', '7.0-preview', '7.0']) expect([v, reportsRecoverableDays(v)]).toEqual([v, false]);
    for (const v of ['7.1-preview', '7.1', '7.2-preview', '7.6-preview.2', '2025-07-01', '2026-03-01-preview', '2026-04-01']) expect([v, reportsRecoverableDays(v)]).toEqual([v, true]);
  });

  it('orders versions by the GA version they behave like', () => {
    expect(atLeast('7.6-preview.2', '7.6')).toBe(true);
    expect(atLeast('7.6-preview.2', '2025-07-01')).toBe(false);
    expect(atLeast('2026-03-01-preview', '2026-04-01')).toBe(true);
    expect(() => atLeast('7.6', '7.6-preview.2')).toThrow();
    expect(() => shapeOf('9.9')).toThrow();
  });
});
