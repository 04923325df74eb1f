/**
 * `npm start -- --demo`: the scenario plays through the servers of the running rig - a member of the
 * raid5 fails, a real volume-rebuild task (partitions on the controllers) rebuilds the spare into its slot
 * while the export keeps answering, a real volume scrub runs, a device of cluster c2 goes missing (both
 * servers report it unavailable) and comes back - and Ctrl-C still stops everything.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ApiClient } from '../../src/cli/client/api-client.js';
import { TaskListSchema } from '../../src/wire/index.js';
import { processAlive } from '../../src/agent/task-runner.js';
import { CLI_PATH } from '../support/cli.js';
import { startProcess, waitFor } from '../support/processes.js';
import { requireCommand } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';

const dir = tempDir('blockrig-demo-');

interface Ready {
  dashboards: { url: string }[];
  exports: { uri: string }[];
  processes: { pid: number }[];
  user: string;
  password: string;
}

describe('npm start -- --demo', () => {
  it('fails a member, rebuilds the spare with a volume-rebuild task, runs a volume scrub, and stops cleanly on Ctrl-C', async () => {
    const start = startProcess(process.execPath, [CLI_PATH, 'start', '--dir', dir, '--size', '16MiB', '--demo', '--json']);
    await waitFor(() => start.stderr().includes('[demo] done') || start.stderr().includes('[demo] stopped'), 150_000, `the demo to finish (stderr: ${start.stderr()})`, 250);
    const ready = JSON.parse(start.stdout().split('\n').find((l) => l.includes('"event":"ready"')) ?? '{}') as Ready;
    const narration = start.stderr();
    const demo = narration.split('\n').filter((l) => l.startsWith('[demo]')).join('\n');
    expect(demo).not.toContain('[demo] stopped');
    expect(demo).toContain('member 1 of volume v5 fails');
    expect(demo).toMatch(/volume v5: rebuilding, members d0\.img:in-sync d3\.img:rebuilding d2\.img:in-sync/);
    expect(demo).toMatch(/volume-rebuild task t-\S+ issued on cluster c1 through server A/);
    expect(demo).toMatch(/task t-\S+ succeeded, 16\/16 partitions COMPLETE\n\[demo\] volume v5: clean, members d0\.img:in-sync d3\.img:in-sync d2\.img:in-sync/);
    expect(demo).toMatch(/volume-scrub task t-\S+ issued on cluster c1 through server B/);
    expect(demo).toContain('scrub of v5: 0 mismatched sectors');
    expect(demo).toContain('device d2 of cluster c2 goes missing');
    expect(demo).toContain('device d2 of cluster c2 is back');

    // The tasks are real tasks of the servers, with the driver's partition cells and owners.
    const client = new ApiClient({ servers: ready.dashboards.map((d) => d.url), user: ready.user, password: ready.password });
    const { tasks } = await client.get(TaskListSchema, '/api/v1/tasks?cluster=c1');
    expect(tasks.map((t) => [t.kind, t.state]).sort()).toEqual([
      ['volume-rebuild', 'succeeded'],
      ['volume-scrub', 'succeeded'],
    ]);
    const rebuild = tasks.find((t) => t.kind === 'volume-rebuild')?.result as { partitionStates: string[]; partitionOwners: (string | null)[]; outcome: { result: { member: number } } };
    expect(rebuild.partitionStates).toEqual(Array(16).fill('COMPLETE'));
    expect(rebuild.partitionOwners.every((o) => o !== null && o.startsWith('controller slot'))).toBe(true);
    expect(rebuild.outcome.result.member).toBe(1);
    const scrub = tasks.find((t) => t.kind === 'volume-scrub');
    expect(scrub?.issuedVia).toBe('B');
    expect(scrub?.result).toMatchObject({ outcome: { result: { volume: 'v5', repair: false, mismatchSectors: 0 } } });

    const v5 = ready.exports[0]?.uri ?? '';
    expect(spawnSync(requireCommand('nbdinfo', 'libnbd-bin'), ['--size', v5], { encoding: 'utf8' }).status).toBe(0);
    start.child.kill('SIGINT');
    expect(await start.exited).toBe(0);
    expect(ready.processes.map((p) => p.pid).filter(processAlive)).toEqual([]);
  }, 200_000);
});

