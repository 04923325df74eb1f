/**
 * A run is deterministic under its seed: the same seed writes the same pattern and the same corruption
 * bytes, so a failure replays with `--seed`; another seed writes other bytes. Checked on the member images
 * a `keep` run leaves behind.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadScenario } from '../../hil/scenario/load.js';
import { runScenario } from '../../hil/run/runner.js';
import { CLI_PATH } from '../support/cli.js';
import { tempDir } from '../support/temp.js';

const SCENARIO = `name: seeded
seed: 5
rig:
  devices:
    - { name: a, kind: file, size: 1MiB }
    - { name: b, kind: file, size: 1MiB }
volume: { level: raid1, chunk: 64KiB, members: [a, b] }
workload: { kind: pattern, writes: 0 }
task: { kind: scrub, repair: false, partitions: 4 }
faults:
  - { action: corrupt, device: b, offset: 128KiB, length: 4KiB, at: 0% }
expect:
  task: completed
  mismatches: 8
`;

describe('a seeded run', () => {
  const dir = tempDir('blockrig-hil-seed-');
  const file = join(dir, 'seeded.yaml');
  writeFileSync(file, SCENARIO);

  async function imagesOf(seed: number | undefined): Promise<{ a: Buffer; b: Buffer; seed: number }> {
    const run = await runScenario(loadScenario(file), { baseDir: dir, keep: true, cliPath: CLI_PATH, ...(seed === undefined ? {} : { seed }) });
    expect(run.passed, run.expectations.filter((e) => !e.passed).map((e) => `${e.name}: ${e.actual}`).join('; ')).toBe(true);
    return { a: readFileSync(join(run.workDir, 'a.img')), b: readFileSync(join(run.workDir, 'b.img')), seed: run.seed };
  }

  it('writes the same bytes under the same seed and other bytes under another', async () => {
    const first = await imagesOf(undefined);
    const again = await imagesOf(5);
    const other = await imagesOf(6);
    expect([first.seed, again.seed, other.seed]).toEqual([5, 5, 6]);
    expect(first.a.equals(again.a)).toBe(true);
    expect(first.b.equals(again.b)).toBe(true);
    expect(first.a.equals(other.a)).toBe(false);
    // The rot is where the scenario put it and only there: a and b differ in exactly that 4 KiB.
    const diff = [...first.a.keys()].filter((i) => first.a[i] !== first.b[i]);
    expect(Math.min(...diff)).toBeGreaterThanOrEqual(128 * 1024);
    expect(Math.max(...diff)).toBeLessThan(132 * 1024);
  });
});
