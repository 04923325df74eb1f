import { defineConfig } from 'tsup';

/** One ESM bundle for the CLI; every process blockrig starts (controllers, agents, servers) runs this file. */
export default defineConfig({
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
});
