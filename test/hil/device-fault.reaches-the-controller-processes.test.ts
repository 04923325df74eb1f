/**
 * A device fault of the timeline reaches the controller processes, not only the harness: every write to
 * the replacement member fails from 30% of a rebuild on, so the `blockrig controller run` processes that
 * write it fail their partitions and the task fails. Were the rule only in the harness's process (as before
 * the fault control channel), the controllers would finish the rebuild and the task would complete.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../hil/run/runner.js';
import { loadScenario } from '../../hil/scenario/load.js';
import { CLI_PATH } from '../support/cli.js';
import { tempDir } from '../support/temp.js';

const SCENARIO = `name: fault-reaches-controllers
seed: 9
rig:
  devices:
    - { name: a, kind: file, size: 4MiB }
    - { name: b, kind: file, size: 4MiB }
    - { name: c, kind: file, size: 4MiB }
volume: { level: raid1, chunk: 64KiB, members: [a, b] }
controllers: { count: 2, leaseMs: 200ms }
task: { kind: rebuild, member: 1, with: c, partitions: 8, rate: 1MiB }
faults:
  - { action: rule, device: c, rule: { kind: error, ops: [write] }, at: 30% }
expect:
  task: failed
`;

describe('a device fault during a rebuild by controller processes', () => {
  it('is applied by the harness and both controller processes, whose writes then fail the task', async () => {
    const dir = tempDir('blockrig-hil-fault-reach-');
    const file = join(dir, 'reach.yaml');
    writeFileSync(file, SCENARIO);
    const run = await runScenario(loadScenario(file), { baseDir: dir, cliPath: CLI_PATH });
    const log = run.logs[0]?.text ?? '';
    expect(run.expectations.filter((e) => !e.passed).map((e) => `${e.name}: ${e.actual}`)).toEqual([]);
    // The harness, and each controller process twice (the member of its assembled volume, the task's target).
    const applied = Number(/fault: add on device c: applied by (\d+) openers/.exec(log)?.[1] ?? 0);
    expect(applied).toBeGreaterThanOrEqual(3);
    expect(run.expectations.find((e) => e.name === 'expect.task')?.actual).toMatch(/failed: .*volume-rebuild/);
  });
});
