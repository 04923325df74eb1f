/**
 * A scenario whose expectation does not hold fails the run (exit 1) with a report that says where (the
 * scenario file and line of the expectation) and why (expected, got), in the CLI's table, in JUnit and in
 * the HTML page; `--seed` overrides the scenario's seed and the reports carry it for a replay.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { tempDir } from '../support/temp.js';
import { readJunit } from './junit-reader.js';

// Line 22 states mismatches: 0, but the fault at line 17 corrupts 4 KiB (8 sectors) first.
const SCENARIO = `name: wrong-expectation
description: expects a clean scrub although a sector rots first
seed: 3
rig:
  devices:
    - { name: a, kind: file, size: 2MiB }
    - { name: b, kind: file, size: 2MiB }
    - { name: c, kind: file, size: 2MiB }
volume:
  level: raid1
  members: [a, b, c]
workload: { kind: pattern, writes: 0 }
task:
  kind: scrub
  partitions: 4
faults:
  - { action: corrupt, device: b, offset: 64KiB, length: 4KiB, at: 0% }
  - { action: kill-controller, controller: 0, at: 100% }
expect:
  task: completed
  dataVerified: true
  mismatches: 0
`;

describe('a failing expectation', () => {
  const dir = tempDir('blockrig-hil-failing-');

  it('fails the run and reports where and why in the table, JUnit and HTML', () => {
    const file = join(dir, 'wrong-expectation.yaml');
    writeFileSync(file, SCENARIO);
    const junit = join(dir, 'out.xml');
    const report = join(dir, 'report');
    const run = runCli(['hil', 'run', file, '--junit', junit, '--report', report, '--seed', '99', '--quiet'], { env: { TMPDIR: dir } });
    expect(run.status).toBe(1);
    expect(run.stdout).toContain(`${file}:22 expect.mismatches: expected exactly 0, got 8 sectors`);

    const [suite] = readJunit(junit);
    expect(suite?.properties.seed).toBe('99');
    expect(suite?.properties.replay).toBe(`blockrig hil run ${file} --seed 99`);
    expect(suite?.failures).toBe(1);
    const failed = suite?.cases.filter((c) => c.failure !== undefined) ?? [];
    expect(failed.map((c) => [c.name, c.file, c.line])).toEqual([['expect.mismatches', file, 22]]);
    expect(failed[0]?.failure).toContain(`${file}:22:3: expect.mismatches: expected exactly 0, got 8 sectors`);
    // The data survived: a three-way mirror repairs the minority copy.
    expect(suite?.cases.find((c) => c.name === 'expect.dataVerified')?.failure).toBeUndefined();

    const page = readFileSync(join(report, 'wrong-expectation.html'), 'utf8');
    expect(page).toContain('wrong-expectation: <span class="fail">FAIL</span>');
    expect(page).toMatch(/<tr class="fail"><td>expect\.mismatches<\/td><td class="fail">FAIL<\/td><td>exactly 0<\/td><td>8 sectors<\/td><td>[^<]*wrong-expectation\.yaml:22:3<\/td><\/tr>/);
    expect(page).toContain('Seed <b>99</b>');
    expect(readFileSync(join(report, 'index.html'), 'utf8')).toContain('<td class="fail">FAIL</td>');
  });

  it('reports a fault that never fired as a failure of its own', () => {
    const file = join(dir, 'never-fires.yaml');
    // A kill due 30 s after the start of a sub-second task never happens.
    writeFileSync(file, SCENARIO.replace('mismatches: 0', 'mismatches: 8').replace('at: 100% }', 'at: 30s }'));
    const junit = join(dir, 'never.xml');
    const run = runCli(['hil', 'run', file, '--junit', junit, '--quiet'], { env: { TMPDIR: dir } });
    expect(run.status).toBe(1);
    const [suite] = readJunit(junit);
    expect(suite?.cases.filter((c) => c.failure !== undefined).map((c) => [c.name, c.line])).toEqual([['faults.1', 18]]);
    expect(suite?.cases.find((c) => c.name === 'faults.1')?.failure).toContain('never fired (the task ended first)');
  });
});
