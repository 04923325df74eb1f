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

  it('exits 2 on an unknown option or a missing argument', () => {
    expect(runCli(['status', '--no-such-option']).status).toBe(2);
    const missing = runCli(['task', 'watch']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain("missing required argument 'id'");
  });
});
