/**
 * Ctrl-C in the middle of a run tears the whole rig down before blockrig exits: nbdkit and socat stopped,
 * the loop device detached, the relay ports closed, the work folder removed; the run is reported as
 * interrupted (exit 130) and the JUnit file records why.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI_PATH } from '../support/cli.js';
import { startProcess, waitFor } from '../support/processes.js';
import { requireCommand, requireRoot } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import { readJunit } from './junit-reader.js';

// A rebuild held to 1 MiB/s over 8 MiB takes about eight seconds: plenty of time to interrupt it.
const SCENARIO = `name: long-rebuild
rig:
  serial: { relay: { channels: 2 } }
  devices:
    - { name: a, kind: loop, size: 8MiB, power: 1 }
    - { name: b, kind: nbdkit, size: 8MiB, filters: { rate: 800M } }
    - { name: c, kind: file, size: 8MiB }
volume: { level: raid1, members: [a, b] }
controllers: { count: 2 }
task: { kind: rebuild, member: 1, with: c, rate: 1MiB }
expect: { task: completed }
`;

/** Command lines of every process that mentions `text`. */
function processesMentioning(text: string): string[] {
  const found: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmdline.includes(text)) found.push(`${pid}: ${cmdline}`);
    } catch {
      // The process ended while we looked.
    }
  }
  return found;
}

describe('interrupting a run', () => {
  const dir = tempDir('blockrig-hil-interrupt-');

  it('tears everything down on SIGINT and exits 130', async () => {
    requireRoot('loop devices in HIL scenarios');
    requireCommand('nbdkit', 'nbdkit');
    requireCommand('socat', 'socat');
    const file = join(dir, 'long-rebuild.yaml');
    writeFileSync(file, SCENARIO);
    const junit = join(dir, 'out.xml');
    const run = startProcess(process.execPath, [CLI_PATH, 'hil', 'run', file, '--junit', junit], { env: { ...process.env, TMPDIR: dir } });
    await waitFor(() => run.stderr().includes('task rebuild: member 1'), 30_000, 'the rebuild to start');
    const workDir = /work folder (\S+)/.exec(run.stderr())?.[1] ?? '';
    expect(workDir.startsWith(dir)).toBe(true);
    expect(processesMentioning(workDir).length).toBeGreaterThanOrEqual(2);
    expect(execFileSync('losetup', ['-a'], { encoding: 'utf8' })).toContain(workDir);

    run.child.kill('SIGINT');
    expect(await run.exited).toBe(130);
    expect(run.stderr()).toContain('tearing the rig down');
    expect(run.stderr()).toContain('teardown complete');
    expect(processesMentioning(workDir)).toEqual([]);
    expect(execFileSync('losetup', ['-a'], { encoding: 'utf8' })).not.toContain(workDir);
    expect(readdirSync(dir).filter((f) => f.startsWith('blockrig-hil-'))).toEqual([]);
    const [suite] = readJunit(junit);
    expect(suite?.errors).toBe(1);
    expect(suite?.cases.find((c) => c.name === 'rig')?.error).toContain('interrupted by SIGINT');
  });
});
