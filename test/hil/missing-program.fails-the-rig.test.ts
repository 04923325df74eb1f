/**
 * A rig that cannot be built (here: nbdkit is not on PATH) fails its scenario with an error naming the
 * Debian package to install, recorded as the `rig` test case's error in JUnit, and what was built before
 * the failure (the first device) is torn down.
 */
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/temp.js';
import { readJunit } from './junit-reader.js';

const SCENARIO = `name: needs-nbdkit
rig:
  devices:
    - { name: a, kind: file, size: 1MiB }
    - { name: b, kind: nbdkit, size: 1MiB }
volume: { level: raid1, members: [a, b] }
task: { kind: scrub }
expect: { task: completed }
`;

describe('a rig that cannot be built', () => {
  const dir = tempDir('blockrig-hil-missing-');

  it('fails with the package to install and leaves nothing behind', () => {
    const file = join(dir, 'needs-nbdkit.yaml');
    writeFileSync(file, SCENARIO);
    const junit = join(dir, 'out.xml');
    // An empty PATH hides nbdkit (in /usr/bin); blockrig itself runs from its absolute path.
    const run = runCli(['hil', 'run', file, '--junit', junit, '--quiet'], { env: { PATH: '', TMPDIR: dir } });
    expect(run.status).toBe(1);
    expect(run.stdout).toContain('install the Debian package "nbdkit"');
    const [suite] = readJunit(junit);
    expect(suite?.errors).toBe(1);
    expect(suite?.cases.map((c) => c.name)).toEqual(['rig']);
    expect(suite?.cases[0]?.error).toMatch(/the program "nbdkit" is not installed: install the Debian package "nbdkit"/);
    expect(readdirSync(dir).filter((f) => f.startsWith('blockrig-hil-'))).toEqual([]);
  });
});
