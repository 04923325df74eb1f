/**
 * `pause-controller` stops a real controller process (SIGSTOP) while it holds a claim of a volume scrub;
 * once its heartbeat is older than the region's reclaim time its peer takes the chunk over and completes
 * the task. The run's events show the pause (holding a claim) and the peer's reclaim after it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../hil/run/runner.js';
import { loadScenario } from '../../hil/scenario/load.js';
import { CLI_PATH } from '../support/cli.js';
import { tempDir } from '../support/temp.js';

// Reclaim after 3.52 s with leaseMs 100ms (docs/hil.md, "Controllers"): the pause outlasts it.
const SCENARIO = `name: pause-reclaimed
seed: 13
rig:
  devices:
    - { name: a, kind: file, size: 4MiB }
    - { name: b, kind: file, size: 4MiB }
    - { name: c, kind: file, size: 4MiB }
volume: { level: raid1, chunk: 64KiB, members: [a, b, c] }
controllers: { count: 2, leaseMs: 100ms }
task: { kind: scrub, repair: false, partitions: 8, rate: 1MiB }
faults:
  - { action: pause-controller, controller: 0, at: 20%, duration: 6s }
expect:
  task: completed
  mismatches: 0
  reclaimed: { min: 1 }
`;

describe('a paused controller process', () => {
  it('loses its claimed chunk to its peer, which completes the task', async () => {
    const dir = tempDir('blockrig-hil-pause-');
    const file = join(dir, 'pause.yaml');
    writeFileSync(file, SCENARIO);
    const run = await runScenario(loadScenario(file), { baseDir: dir, cliPath: CLI_PATH });
    expect(run.expectations.filter((e) => !e.passed).map((e) => `${e.name}: ${e.actual}`)).toEqual([]);
    const paused = run.controllerEvents.find((e) => e.controller === 0 && e.what === 'paused');
    const reclaim = run.controllerEvents.find((e) => e.controller === 1 && e.what === 'reclaim');
    expect(paused?.detail).toMatch(/holding a claim/);
    expect(reclaim).toBeDefined();
    expect(reclaim?.atMs ?? 0).toBeGreaterThan(paused?.atMs ?? Infinity);
  });
});
