import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest ancestor of this file holding package.json named keyledger. */
function findRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'nest-cli.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

export const REPO_ROOT = findRoot();

/** Where the local stack keeps data, logs, TLS material and bootstrap credentials. */
export function keyledgerHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env.KEYLEDGER_HOME ?? join(REPO_ROOT, '.keyledger'));
}
