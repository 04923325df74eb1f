/**
 * Every operator command answers `--help` with a description and examples, and usage mistakes exit 2
 * (commander's errors, like the error table's INVALID_ARGUMENT) before anything is contacted.
 */
import { describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const COMMANDS = [
  ['start'],
  ['status'],
  ['devices'],
  ['volumes'],
  ['controllers'],
  ['agents'],
  ['servers'],
  ['events'],
  ['task', 'submit'],
  ['task', 'list'],
  ['task', 'show'],
  ['task', 'cancel'],
  ['task', 'pause'],
  ['task', 'resume'],
  ['task', 'watch'],
];

describe('operator CLI help', () => {
  it.each(COMMANDS.map((words) => words.join(' ')))('blockrig %s --help shows examples', (line) => {
    const r = runCli([...line.split(' '), '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Examples:');
    expect(r.stdout).toContain(`blockrig ${line}`);
  });

  it('server commands explain how to connect', () => {
    expect(runCli(['status', '--help']).stdout).toContain('BLOCKRIG_PASSWORD');
  });

  it('task commands that work on a region and through the servers show the examples of both forms', () => {
    const submit = runCli(['task', 'submit', '--help']).stdout;
    expect(submit).toContain('blockrig task submit fill --meta /dev/loop3');
    expect(submit).toMatch(/Through the servers \(--server URL or BLOCKRIG_SERVER\):\n {2}blockrig task submit volume-scrub --cluster c1 --volume v5 --wait\n/);
    for (const kind of ['volume-rebuild', 'volume-initialize', 'volume-copy', 'verify']) expect(submit).toContain(`blockrig task submit ${kind} --cluster`);
    expect(submit).toContain('BLOCKRIG_PASSWORD');
  });

  it('exits 2 on an unknown option or a missing argument', () => {
    expect(runCli(['status', '--no-such-option']).status).toBe(2);
    const missing = runCli(['task', 'watch']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'id'");
  });
});
