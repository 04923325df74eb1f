/**
 * `npm start -- --demo`: the scenario plays against the running rig - a member of the raid5 fails and the
 * spare is rebuilt into its slot while the export keeps answering, a device of cluster c2 goes missing
 * (both servers report it unavailable) and comes back - and Ctrl-C still stops everything.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { CLI_PATH } from '../support/cli.js';
import { startProcess, waitFor } from '../support/processes.js';
import { requireCommand } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('blockrig-demo-');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('npm start -- --demo', () => {
  it('plays the scenario and stops cleanly on Ctrl-C', async () => {
    const start = startProcess(process.execPath, [CLI_PATH, 'start', '--dir', dir, '--size', '16MiB', '--demo', '--json']);
    await waitFor(() => start.stderr().includes('[demo] done') || start.stderr().includes('[demo] stopped'), 150_000, `the demo to finish (stderr: ${start.stderr()})`, 250);
    const ready = JSON.parse(start.stdout().split('\n').find((l) => l.includes('"event":"ready"')) ?? '{}') as { exports: { uri: string }[]; processes: { pid: number }[]; missing: string[] };
    const narration = start.stderr();
    expect(narration).not.toContain('[demo] stopped');
    if (!ready.missing.some((m) => m.startsWith('volumes'))) {
      expect(narration).toContain('member 1 of volume v5 fails');
      expect(narration).toMatch(/volume v5: \S+, members d0\.img:in-sync d3\.img:in-sync d2\.img:in-sync/);
      const v5 = ready.exports[0]?.uri ?? '';
      expect(spawnSync(requireCommand('nbdinfo', 'libnbd-bin'), ['--size', v5], { encoding: 'utf8' }).status).toBe(0);
    }
    if (!ready.missing.some((m) => m.startsWith('region task'))) {
      // Real tasks through the agents' driver process on the metadata region, through both servers.
      const demo = narration.split('\n').filter((l) => l.startsWith('[demo]')).join('\n');
      expect(demo).toMatch(/checksum task on cluster c1 through server A[^\n]*\n[^\n]*task t-\S+ succeeded/);
      expect(demo).toMatch(/verify task on cluster c2 through server B[^\n]*\n[^\n]*task t-\S+ succeeded/);
    }
    expect(narration).toContain('device d2 of cluster c2 goes missing');
    expect(narration).toContain('device d2 of cluster c2 is back');
    start.child.kill('SIGINT');
    expect(await start.exited).toBe(0);
    expect(ready.processes.map((p) => p.pid).filter(alive)).toEqual([]);
  }, 200_000);
});
