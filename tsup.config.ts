import { resolve } from 'node:path';
import { defineConfig } from 'tsup';

/**
 * One ESM bundle for the CLI (every process blockrig starts runs `dist/cli.js`), and the browser bundle of
 * the dashboard (`dist/ui/main.js` and `main.css`, Preact bundled in, no CDN) that each server serves.
 */
export default defineConfig([{
  entry: { cli: 'src/cli/main.ts' },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  outDir: 'dist',
  clean: false,
  sourcemap: true,
  splitting: false,
  banner: { js: '#!/usr/bin/env node' },
  // Native and large runtime packages stay in node_modules.
  external: ['koffi', 'serialport', 'better-sqlite3', 'playwright-core'],
}, {
  entry: { 'ui/main': 'src/ui/main.tsx' },
  format: ['esm'],
  platform: 'browser',
  target: 'es2022',
  outDir: 'dist',
  tsconfig: 'src/ui/tsconfig.json',
  clean: false,
  sourcemap: true,
  splitting: false,
  minify: true,
  noExternal: [/.*/],
  esbuildPlugins: [
    {
      // zod's locale bundle is kept alive by its `locales` namespace export; the dashboard needs none of it.
      name: 'zod-without-locales',
      setup(build) {
        build.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
          args.importer.includes('/node_modules/zod/') ? { path: resolve('src/ui/zod-locales-stub.ts') } : undefined,
        );
      },
    },
  ],
}]);
