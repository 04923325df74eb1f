/**
 * The scenario loader sends the author to the exact line, column and field of each problem, for YAML
 * syntax, schema and cross-reference errors alike, and every shipped scenario validates.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkScenarioText, formatProblem, loadScenario } from '../../hil/scenario/load.js';
import { ErrorCode } from '../../src/errors.js';

const SCENARIOS = join(import.meta.dirname, '..', '..', 'hil', 'scenarios');

const VALID = `name: demo
rig:
  devices:
    - { name: d0, kind: file, size: 4MiB }
    - { name: d1, kind: file, size: 4MiB }
    - { name: d2, kind: file, size: 4MiB }
volume:
  level: raid1
  members: [d0, d1]
task:
  kind: rebuild
  member: 1
  with: d2
faults:
  - { action: kill-controller, controller: 0, at: 50% }
expect:
  task: completed
`;

function problems(text: string): string[] {
  const result = checkScenarioText(text, 's.yaml');
  if (result.ok) throw new Error('expected the scenario to be invalid');
  return result.problems.map(formatProblem);
}

describe('scenario loader', () => {
  it('accepts a valid scenario and fills in defaults', () => {
    const result = checkScenarioText(VALID, 's.yaml');
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    const s = result.loaded.scenario;
    expect(s.seed).toBe(1);
    expect(s.rig.devices[0]?.size).toBe(4 * 1024 * 1024);
    expect(s.volume.chunk).toBe(65536);
    expect(s.controllers).toEqual({ count: 1, leaseMs: 400 });
    expect(s.faults[0]?.at).toEqual({ kind: 'progress', percent: 50 });
    expect(result.loaded.positionOf(['expect', 'task'])).toMatchObject({ line: 17, column: 3 });
  });

  it('names the line, column and field of a bad enum value', () => {
    expect(problems(VALID.replace('kind: file, size: 4MiB }\n    - { name: d1', 'kind: flie, size: 4MiB }\n    - { name: d1'))).toEqual([
      expect.stringMatching(/^s\.yaml:4:19: rig\.devices\.0\.kind: .*"file".*\(got "flie"\)$/),
    ]);
  });

  it('points at an unknown field itself', () => {
    expect(problems(VALID.replace('  task: completed', '  task: completed\n  tsak: failed'))).toEqual(['s.yaml:18:3: expect.tsak: unknown field "tsak"']);
  });

  it('points a missing field at its parent key', () => {
    expect(problems(VALID.replace('  member: 1\n', ''))).toEqual([expect.stringMatching(/^s\.yaml:10:1: task\.member: .*\(missing\)$/)]);
  });

  it('reports a bad size and a bad duration with their values', () => {
    const text = VALID.replace('{ name: d2, kind: file, size: 4MiB }', '{ name: d2, kind: file, size: lots }').replace('at: 50% }', 'at: soon }');
    const found = problems(text);
    expect(found).toContainEqual(expect.stringMatching(/^s\.yaml:6:31: rig\.devices\.2\.size: size "lots" is not a size/));
    expect(found).toContain('s.yaml:15:47: faults.0.at: "soon" is neither a time after the task starts (500ms, 2s) nor a progress point (40%) (got "soon")');
  });

  it('checks references between sections with the path of the referring field', () => {
    const text = VALID.replace('members: [d0, d1]', 'members: [d0, d9]').replace('controller: 0', 'controller: 3');
    expect(problems(text)).toEqual([
      's.yaml:9:17: volume.members.1: no device "d9" in rig.devices (have d0, d1, d2) (got "d9")',
      's.yaml:15:32: faults.0.controller: there are controllers 0-0 (got 3)',
    ]);
  });

  it('refuses a power cut on a device without a relay channel, and filters on a device that is not nbdkit', () => {
    const text = VALID.replace('{ name: d0, kind: file, size: 4MiB }', '{ name: d0, kind: file, size: 4MiB, filters: { delay: 2ms } }').replace(
      '- { action: kill-controller, controller: 0, at: 50% }',
      '- { action: power-cycle, device: d1, at: 10%, duration: 1s }',
    );
    const found = problems(text);
    expect(found).toContain('s.yaml:4:43: rig.devices.0.filters: filters are nbdkit filters: device "d0" is file, make it kind: nbdkit');
    expect(found).toContainEqual(expect.stringMatching(/^s\.yaml:15:\d+: faults\.0\.device: device "d1" has no power channel/));
  });

  it('refuses server faults and reported states without a servers section', () => {
    const text = VALID.replace('- { action: kill-controller, controller: 0, at: 50% }', '- { action: kill-server, server: B, at: 50% }').replace('  task: completed', '  task: completed\n  reported: { d0: unavailable }');
    expect(problems(text)).toEqual([
      expect.stringMatching(/^s\.yaml:15:7: faults\.0\.action: kill-server needs a servers section/),
      expect.stringMatching(/^s\.yaml:18:3: expect\.reported: reported device states need a servers section/),
    ]);
    const withOne = text.replace('faults:', 'servers: { count: 1 }\nfaults:').replace('  reported: { d0: unavailable }\n', '');
    expect(problems(withOne)).toEqual([expect.stringMatching(/^s\.yaml:16:\d+: faults\.0\.server: there are servers A-A/)]);
  });

  it('refuses metadata faults and checks without a region task, and a region on a device the controller processes cannot open by path', () => {
    const text = VALID.replace('- { action: kill-controller, controller: 0, at: 50% }', '- { action: tear-metadata, device: d1, record: chunk, at: 50% }').replace('  task: completed', '  task: completed\n  metaCheck: clean');
    expect(problems(text)).toEqual([
      expect.stringMatching(/^s\.yaml:18:3: expect\.metaCheck: metaCheck needs task kind: region/),
      expect.stringMatching(/^s\.yaml:15:\d+: faults\.0\.device: tear-metadata acts on the metadata region: needs task kind: region on device "d1"/),
    ]);
    const region = VALID.replace('{ name: d2, kind: file, size: 4MiB }', '{ name: d2, kind: memory, size: 4MiB }').replace('  kind: rebuild\n  member: 1\n  with: d2', '  kind: region\n  device: d2');
    expect(problems(region)).toEqual([expect.stringMatching(/^s\.yaml:12:3: task\.device: the metadata region's device is opened by the controller processes by path: device "d2" is memory, make it kind: file/)]);
  });

  it('refuses a memory device in a volume whose task the controller processes run', () => {
    const text = VALID.replace('{ name: d2, kind: file, size: 4MiB }', '{ name: d2, kind: memory, size: 4MiB }');
    expect(problems(text)).toEqual([expect.stringMatching(/^s\.yaml:13:3: task\.with: device "d2" is memory: the controller processes that run the rebuild cannot open it; make it kind: file/)]);
  });

  it('refuses a task issued through a server without servers, and task reports without a task issued that way', () => {
    const text = VALID.replace('  with: d2', '  with: d2\n  via: B').replace('  task: completed', '  task: completed\n  taskReported: succeeded');
    expect(problems(text)).toEqual([expect.stringMatching(/^s\.yaml:14:3: task\.via: via needs a servers section/)]);
    expect(problems(VALID.replace('  task: completed', '  task: completed\n  taskExecutedBy: [A, B]'))).toEqual([
      expect.stringMatching(/^s\.yaml:18:3: expect\.taskExecutedBy: taskExecutedBy needs a task issued through a server: give task\.via/),
    ]);
  });

  it('refuses console checks without a console and patterns that are not regular expressions', () => {
    const found = problems(VALID.replace('  task: completed', '  task: completed\n  console:\n    - { send: drives, match: "drive (" }'));
    expect(found).toContainEqual(expect.stringMatching(/^s\.yaml:18:3: expect\.console: console checks need rig\.serial\.console/));
    expect(found).toContainEqual(expect.stringMatching(/^s\.yaml:19:\d+: expect\.console\.0\.match: not a regular expression/));
  });

  it('reports YAML syntax errors and duplicate keys at their line', () => {
    expect(problems('name: x\nrig: [\n')[0]).toMatch(/^s\.yaml:\d+:\d+: /);
    expect(problems(`${VALID}name: again\n`)).toEqual([expect.stringMatching(/^s\.yaml:18:1: .*[Uu]nique/)]);
  });

  it('throws ConfigError listing every problem from loadScenario', () => {
    let error: unknown;
    try {
      loadScenario(join(SCENARIOS, 'no-such-scenario.yaml'));
    } catch (err) {
      error = err;
    }
    expect(error).toMatchObject({ code: ErrorCode.Config });
  });

  it('validates every shipped scenario', () => {
    const files = readdirSync(SCENARIOS).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThanOrEqual(4);
    for (const f of files) expect(loadScenario(join(SCENARIOS, f)).scenario.name).toBe(f.replace(/\.yaml$/, ''));
  });
});
