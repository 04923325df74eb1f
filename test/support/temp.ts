/** Temporary folders of a test file, removed when the file ends. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll } from 'vitest';

const made = new Set<string>();

// Registered once, when a test file imports this module, so that folders made inside a test (where a
// new afterAll would never run) are removed too.
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
  made.clear();
});

/** Makes a fresh folder under the system temp dir, deleted after the test file. */
export function tempDir(prefix = 'blockrig-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.add(dir);
  return dir;
}
