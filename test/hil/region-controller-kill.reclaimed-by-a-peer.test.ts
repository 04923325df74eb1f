/**
 * With task kind region the controllers are real `blockrig controller run` processes: a kill-controller
 * fault is SIGKILL of that process's pid, mid-task; the chunk it held is reclaimed by the surviving
 * process once its heartbeat stops, the fill completes, and the verify task reads every byte back.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCliAsync } from '../support/cli.js';
import { tempDir } from '../support/temp.js';
import { readJunit } from './junit-reader.js';

const SCENARIO = `name: region-controller-kill
seed: 5
timeout: 60s
rig:
  devices:
    - { name: dm, kind: file, size: 512MiB }
    - { name: a, kind: memory, size: 1MiB }
    - { name: b, kind: memory, size: 1MiB }
volume:
  level: raid1
  members: [a, b]
controllers: { count: 2, leaseMs: 100ms }
task:
  kind: region
  device: dm
  partitions: 16
  chunkPartitions: 2
faults:
  - { action: kill-controller, controller: 0, at: 20% }
expect:
  task: completed
  dataVerified: true
  reclaimed: { min: 1 }
  metaCheck: clean
  metaWarnings: 0
`;

describe('a region task under a controller process kill', () => {
  const dir = tempDir('blockrig-hil-region-kill-');

  it('SIGKILLs the controller process; its peer reclaims the chunk, the data verifies', async () => {
    const file = join(dir, 'kill.yaml');
    writeFileSync(file, SCENARIO);
    const junit = join(dir, 'kill.xml');
    const report = join(dir, 'report');
    const run = await runCliAsync(['hil', 'run', file, '--junit', junit, '--report', report, '--quiet'], { timeoutMs: 90_000, env: { TMPDIR: dir } });
    const page = readFileSync(join(report, 'region-controller-kill.html'), 'utf8');
    expect(run.status, page.slice(0, 20_000)).toBe(0);
    const suite = readJunit(junit)[0];
    expect({ failures: suite?.failures, errors: suite?.errors }).toEqual({ failures: 0, errors: 0 });
    // The process the fault named died of SIGKILL; its peer left the region at teardown (SIGTERM, exit 0).
    const pid = /controller 0: blockrig controller run, pid (\d+)/.exec(page)?.[1];
    expect(pid).toBeDefined();
    const log = new RegExp(`controller:0 \\(pid ${pid}\\)</summary><pre>[\\s\\S]*?</pre>`).exec(page)?.[0] ?? '';
    expect(log).toContain('[exited: SIGKILL]');
    expect(page).toMatch(/controller:1 \(pid \d+\)<\/summary><pre>[\s\S]*?\[exited: code 0\]/);
    // The chart shows the kill while it held a claim, and the peer's reclaim after it.
    const kill = /<title>(\d+) ms: controller 0 killed \(pid \d+, holding a claim\)/.exec(page);
    const reclaim = /<title>(\d+) ms: controller 1 reclaim \(chunk \d+ of task \w+\)/.exec(page);
    expect(kill).not.toBeNull();
    expect(reclaim).not.toBeNull();
    expect(Number(reclaim?.[1])).toBeGreaterThan(Number(kill?.[1]));
  }, 120_000);
});
