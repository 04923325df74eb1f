/**
 * Pause and resume in the metadata region, not by stopping processes: a paused flag in the task record
 * that real `blockrig controller run` processes honour (they release their claims after the partition
 * they are on and claim nothing of it; their heartbeats go on, so nothing is reclaimed or fenced), and
 * that resume clears (the task then runs to its end). Set with `task pause|resume --meta`, and through
 * the servers: the agent asks the driver process, which sets the flag, and the driver is never stopped.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRecord } from '../../src/wire/index.js';
import { runCli } from '../support/cli.js';
import { waitFor, type TestProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { realDriverCluster, regionHosts, regionTasks, waitForProgress, type DriverResult, type RealDriverCluster, stopLeftoverDrivers } from './real-driver.js';
import { clusterUp, startServer, writeRig, type ServerHandle } from './rig.js';

const dir = tempDir('blockrig-pause-');
let c1: RealDriverCluster;
let up: TestProcess;
let serverA: ServerHandle;
let serverB: ServerHandle;

interface RegionStatus {
  id: string;
  state: string;
  counts: { ready: number; inProgress: number; complete: number; failed: number };
}

function cliJson<T>(args: string[]): T {
  const r = runCli([...args, '--json']);
  if (r.status !== 0) throw new Error(`blockrig ${args.join(' ')} exited ${r.status}: ${r.stdout} ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** The pids of the controller processes `cluster up` started. */
const controllerPids = (): number[] =>
  up
    .stdout()
    .split('\n')
    .filter((l) => l.includes('"role":"controller"') && l.includes('"started"'))
    .map((l) => (JSON.parse(l) as { pid: number }).pid);

const show = (id: string): RegionStatus => cliJson<RegionStatus>(['task', 'show', id, '--meta', c1.meta]);

/** Waits until no host holds a claim on the task, then checks that stays so while the controllers heartbeat on. */
async function expectHeldStill(id: string): Promise<void> {
  await waitFor(async () => (await regionHosts(c1.meta)).every((h) => h.claimedTask !== id), 20_000, `controllers to release task ${id}`);
  const before = show(id);
  const controllers = controllerPids();
  const beats = new Map((await regionHosts(c1.meta)).map((h) => [h.pid, h.heartbeat]));
  // Several heartbeat intervals of the controllers (200 ms): each has renewed, none took the task up again.
  await waitFor(async () => (await regionHosts(c1.meta)).filter((h) => controllers.includes(h.pid)).every((h) => h.state === 2 && h.heartbeat >= (beats.get(h.pid) ?? 0) + 5), 20_000, 'the controllers to heartbeat on');
  const after = show(id);
  expect(after.counts).toEqual(before.counts);
  expect(after.state).toBe('active');
  expect(after.counts.complete).toBeLessThan(c1.fillArgs.partitions);
  expect((await regionHosts(c1.meta)).every((h) => h.claimedTask !== id)).toBe(true);
}

beforeAll(async () => {
  // 32 partitions of 250 ms: two controllers take 4 s, time enough to pause mid-task from a CLI.
  c1 = await realDriverCluster(dir, 'c1', 250, 32);
  const config = writeRig(dir, { servers: [{ id: 'A' }, { id: 'B' }], clusters: [{ id: 'c1', meta: c1.meta, controllers: 2, devices: [{ name: 'target', uri: c1.target }] }] });
  [serverA, serverB] = await Promise.all([startServer(config, 'A'), startServer(config, 'B')]);
  up = await clusterUp(config, 'c1', 2);
  await waitFor(async () => (await regionHosts(c1.meta)).filter((h) => h.state === 2 && controllerPids().includes(h.pid)).length === 2, 20_000, 'two controller processes in the region');
});


afterAll(() => stopLeftoverDrivers(dir, ['c1']));

describe('pause and resume in the metadata region, honoured by controller processes', () => {
  it('task pause --meta stops the controllers at a partition boundary without reclaim; resume lets the task finish', async () => {
    const submitted = cliJson<RegionStatus>(['task', 'submit', 'fill', '--meta', c1.meta, '--target', c1.target, '--length', String(c1.fillArgs.partitions << 20), '--partitions', String(c1.fillArgs.partitions)]);
    await waitFor(() => show(submitted.id).counts.complete > 0, 30_000, 'the controllers to complete a partition');
    const controllers = controllerPids();
    expect(cliJson<{ paused: boolean }>(['task', 'pause', submitted.id, '--meta', c1.meta]).paused).toBe(true);
    expect((await regionTasks(c1.meta)).find((t) => t.id === submitted.id)?.paused).toBe(true);
    await expectHeldStill(submitted.id);
    // The same controller processes, still in their slots: none fenced itself or was replaced.
    expect((await regionHosts(c1.meta)).filter((h) => h.state === 2 && controllers.includes(h.pid))).toHaveLength(2);
    expect(up.stdout()).not.toMatch(/"exited","role":"controller"/);

    expect(cliJson<{ paused: boolean }>(['task', 'resume', submitted.id, '--meta', c1.meta]).paused).toBe(false);
    await waitFor(() => show(submitted.id).state === 'finished', 60_000, 'the resumed task to finish');
    expect(show(submitted.id).counts).toMatchObject({ complete: c1.fillArgs.partitions, failed: 0 });
  });

  it('pause and resume through the servers: the agent has the driver set the flag; the driver keeps running and the task succeeds', async () => {
    const issued = await serverA.post<TaskRecord>('/api/v1/tasks', { cluster: 'c1', kind: 'fill', args: c1.fillArgs });
    expect(issued.status).toBe(201);
    await waitForProgress(serverA, issued.body.id);
    expect((await serverB.post<TaskRecord>(`/api/v1/tasks/${issued.body.id}/pause`, {})).status).toBe(202);
    await waitFor(async () => (await serverA.task(issued.body.id))?.state === 'paused', 20_000, 'paused on server A');
    await waitFor(async () => ((await serverA.task(issued.body.id))?.result as { paused?: boolean } | null)?.paused === true, 20_000, 'the driver to report the task paused in the region');
    const regionId = (await regionTasks(c1.meta)).find((t) => t.state === 'active')?.id ?? '';
    expect((await regionTasks(c1.meta)).find((t) => t.id === regionId)?.paused).toBe(true);
    await expectHeldStill(regionId);
    const driverPid = (await serverA.task(issued.body.id))?.driverPid ?? -1;
    expect(readState(driverPid)).not.toBe('T'); // running, not stopped by a signal

    expect((await serverA.post<TaskRecord>(`/api/v1/tasks/${issued.body.id}/resume`, {})).status).toBe(202);
    let done: TaskRecord | undefined;
    await waitFor(async () => (done = await serverB.task(issued.body.id))?.state === 'succeeded', 60_000, 'the resumed task to succeed');
    expect(done?.attempts).toBe(1);
    expect(done?.result).toMatchObject({ id: regionId, counts: { complete: c1.fillArgs.partitions, failed: 0 } });
    expect((done?.result as DriverResult).outcome?.status).toBe('finished');
  });
});

/** A process's state letter from /proc (`T` when stopped), or '' when it is gone. */
function readState(pid: number): string {
  try {
    return /^\d+ \(.*\) (\S)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1] ?? '';
  } catch {
    return '';
  }
}
