/**
 * Proves the layer rules see edges between packages: writes deliberate violations into the
 * real source tree, runs `npm run lint:layers` (the script from package.json, on the whole
 * tree) and expects it to fail naming each violation and its rule. The probe files are
 * removed afterwards whatever happens.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!(existsSync(join(dir, 'package.json')) && existsSync(join(dir, '.dependency-cruiser.cjs')))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('repository root not found');
    dir = up;
  }
  return dir;
}

const root = repoRoot();
const tag = randomBytes(4).toString('hex');

type Probe = { readonly path: string; readonly code: string; readonly rule: string; readonly to: string };

const probes: readonly Probe[] = [
  {
    path: `libs/auth/src/layer-probe-${tag}.ts`,
    code: `import { EventStore } from '#libs/eventstore';\nexport const probe = EventStore;\n`,
    rule: 'pure-libs-take-the-kernel',
    to: 'libs/eventstore/src/index.ts',
  },
  {
    path: `libs/kernel/src/layer-probe-${tag}.ts`,
    code: `import { REPO_ROOT } from '#libs/platform';\nexport const probe = REPO_ROOT;\n`,
    rule: 'kernel-imports-nothing',
    to: 'libs/platform/src/index.ts',
  },
  {
    path: `apps/vault/src/domain/layer-probe-${tag}.ts`,
    code: `import { DomainError } from '#libs/eventstore';\nexport const probe = DomainError;\n`,
    rule: 'domain-stands-on-the-kernel',
    to: 'libs/eventstore/src/index.ts',
  },
  {
    path: `apps/identity/src/domain/layer-probe-${tag}.ts`,
    code: `import { IdentityRepository } from '../adapters/persistence/identity.repository.js';\nexport const probe = IdentityRepository;\n`,
    rule: 'domain-is-pure',
    to: 'apps/identity/src/adapters/persistence/identity.repository.ts',
  },
];

let run: { status: number | null; output: string };

beforeAll(() => {
  try {
    for (const p of probes) writeFileSync(join(root, p.path), p.code, { flag: 'wx' });
    const script = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts['lint:layers'];
    if (!script) throw new Error('package.json has no lint:layers script');
    const res = spawnSync('sh', ['-c', script], {
      cwd: root,
      encoding: 'utf8',
      maxBuffer: 256 * 1024 * 1024,
      env: { ...process.env, PATH: `${join(root, 'node_modules', '.bin')}${delimiter}${process.env.PATH ?? ''}` },
    });
    run = { status: res.status, output: `${res.stdout}\n${res.stderr}` };
  } finally {
    for (const p of probes) rmSync(join(root, p.path), { force: true });
  }
});

afterAll(() => {
  for (const p of probes) rmSync(join(root, p.path), { force: true });
});

describe('layer rules see edges between packages', () => {
  it('npm run lint:layers fails on the deliberate violations', () => {
    expect(run.status).not.toBe(0);
  });

  it.each(probes.map((p) => [p.rule, p.path, p.to] as const))('%s flags %s -> %s', (rule, from, to) => {
    // dependency-cruiser's default reporter: "error <rule>: <from> → <to>"
    const flagged = run.output.split('\n').filter((line) => line.includes(from)).map((line) => line.trim());
    expect(flagged).toContain(`error ${rule}: ${from} → ${to}`);
  });

  it('the probes are gone from the tree', () => {
    expect(probes.filter((p) => existsSync(join(root, p.path)))).toEqual([]);
  });
});
