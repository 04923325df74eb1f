/** The embedded rig reads what the build can do from the command tree; a hidden refusal option is not a capability. */
import { Command, Option } from 'commander';
import { describe, expect, it } from 'vitest';
import { detectCapabilities } from '../../src/rig/capabilities.js';

describe('embedded rig capabilities', () => {
  it('finds nothing in an empty program', () => {
    expect(detectCapabilities(new Command('blockrig'))).toEqual({ metaFormat: false, controllers: false, regionTasks: false, volumes: false });
  });

  it('finds meta format, controller run --meta, driver run --meta (what agents invoke) and the volume commands', () => {
    const program = new Command('blockrig');
    program.command('meta').command('format');
    program.command('controller').command('run').option('--meta <uri>');
    program.command('driver').command('run').option('--meta <uri>');
    const volume = program.command('volume');
    for (const c of ['create', 'serve', 'fail', 'scrub']) volume.command(c);
    expect(detectCapabilities(program)).toEqual({ metaFormat: true, controllers: true, regionTasks: true, volumes: true });
  });

  it('does not count a hidden --meta (a command that only declares it to refuse it)', () => {
    const program = new Command('blockrig');
    program.command('driver').command('run').addOption(new Option('--meta <uri>').hideHelp());
    expect(detectCapabilities(program).regionTasks).toBe(false);
  });

  it('does not take task submit --meta for the driver agents invoke', () => {
    const program = new Command('blockrig');
    program.command('task').command('submit').option('--meta <uri>');
    expect(detectCapabilities(program).regionTasks).toBe(false);
  });
});
