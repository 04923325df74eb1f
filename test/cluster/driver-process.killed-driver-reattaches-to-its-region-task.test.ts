/**
 * Neither lost nor run twice when the driver process itself dies: the agent starts the driver again
 * (attempt 2), and the new driver attaches to the region task its predecessor submitted instead of
 * submitting a second one. The task succeeds once, and the region holds a single task for it.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TaskRecord } from '../../src/wire/index.js';
import { waitFor } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { realDriverCluster, regionTasks, waitForProgress, type DriverResult, type RealDriverCluster, stopLeftoverDrivers } from './real-driver.js';
import { clusterUp, startServer, writeRig, type ServerHandle } from './rig.js';

const dir = tempDir('blockrig-reattach-');
let c1: RealDriverCluster;
let serverA: ServerHandle;

beforeAll(async () => {
  c1 = await realDriverCluster(dir, 'c1');
  const config = writeRig(dir, { servers: [{ id: 'A' }], clusters: [{ id: 'c1', meta: c1.meta, devices: [{ name: 'target', uri: c1.target }] }] });
  serverA = await startServer(config, 'A');
  await clusterUp(config, 'c1', 1);
  await waitFor(async () => (await serverA.cluster('c1')).agents.some((a) => a.alive), 20_000, 'the agent registered');
});


afterAll(() => stopLeftoverDrivers(dir, ['c1']));

describe('a killed driver process is started again and attaches to its region task', () => {
  it('kill -9 of the driver mid-task: attempt 2 waits for the same region task, which completes once', async () => {
    const issued = await serverA.post<TaskRecord>('/api/v1/tasks', { cluster: 'c1', kind: 'fill', args: c1.fillArgs });
    expect(issued.status).toBe(201);
    await waitForProgress(serverA, issued.body.id);
    const first = await serverA.task(issued.body.id);
    const announced = /"event":"submitted","id":"([0-9a-f]{8})"/.exec(readFileSync(join(dir, 'c1', 'drivers', `${issued.body.id}.1.out`), 'utf8'))?.[1];
    expect(announced).toMatch(/^[0-9a-f]{8}$/);
    // The driver's whole process group: its sh wrapper and the driver itself, as an OOM kill or a crash would.
    process.kill(-(first?.driverPid ?? 0), 'SIGKILL');
    let done: TaskRecord | undefined;
    await waitFor(async () => ['succeeded', 'failed', 'cancelled'].includes((done = await serverA.task(issued.body.id))?.state ?? ''), 90_000, 'the task to end after the driver was killed');
    expect(done?.state, done?.error ?? '').toBe('succeeded');
    expect(done?.attempts).toBe(2);
    expect(readFileSync(join(dir, 'c1', 'drivers', `${issued.body.id}.2.out`), 'utf8')).toContain(`"id":"${announced ?? ''}"`);
    expect((done?.result as DriverResult).id).toBe(announced);
    expect(done?.result).toMatchObject({ counts: { complete: c1.fillArgs.partitions, failed: 0 }, outcome: { status: 'finished' } });
    const inRegion = await regionTasks(c1.meta);
    expect(inRegion.map((t) => [t.id, t.state])).toEqual([[announced, 'finished']]);
  });
});
