#!/usr/bin/env node
// The keyledger CLI: runs the compiled entry point (npm run build first).
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const main = join(dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'apps', 'cli', 'src', 'main.js');
if (!existsSync(main)) {
  console.error('keyledger: not built yet; run "npm run build" (or "npm start") first');
  process.exit(1);
}
await import(main);
