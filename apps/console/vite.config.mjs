// The console's build: vite 8 (its built-in oxc transforms JSX/TSX; no React plugin needed).
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const root = fileURLToPath(new URL('.', import.meta.url));

export default defineConfig({
  root,
  base: '/',
  oxc: { jsx: { runtime: 'automatic' } },
  build: {
    outDir: 'web-dist',
    emptyOutDir: true,
    chunkSizeWarningLimit: 2000,
    // Mantine marks its modules "use client" (a React Server Components hint, meaningless in a SPA bundle).
    rolldownOptions: { onwarn: (warning, warn) => warning.code !== 'MODULE_LEVEL_DIRECTIVE' && warn(warning) },
  },
  logLevel: 'warn',
});
