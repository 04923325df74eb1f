/**
 * Seed 000 claims 20-21 (seed 001 claims 12, 29-30) with the real driver process: the agent invokes
 * `blockrig driver run KIND --meta URI ...`, which runs the task through the controller library on the
 * cluster's metadata region (submits it as initiator, runs partitions, waits for every partition COMPLETE
 * and the completion actions), and the completion status reaches both servers. A `verify` of the data set
 * written by `fill` then finds no mismatch.
 */
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDevice } from '../../drivers/index.js';
import { formatRegion } from '../../src/metadata/format.js';
import { waitFor, type TestProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import type { TaskRecord } from '../../src/wire/index.js';
import { agentPid, clusterUp, startServer, writeRig, type ServerHandle } from './rig.js';

const dir = tempDir('blockrig-realdriver-');
const meta = join(dir, 'meta.img');
const data = join(dir, 'data.img');
let serverA: ServerHandle;
let serverB: ServerHandle;
let up: TestProcess;

interface DriverStatus {
  kind: string;
  state: string;
  counts: { complete: number; failed: number };
  outcome: { status: string; result: { seed: number; mismatches?: number } };
}

async function waitEnd(server: ServerHandle, id: string): Promise<TaskRecord> {
  let task: TaskRecord | undefined;
  await waitFor(async () => ['succeeded', 'failed', 'cancelled'].includes((task = await server.task(id))?.state ?? ''), 90_000, `task ${id} to end on ${server.id}`);
  if (!task) throw new Error('unreachable');
  return task;
}

beforeAll(async () => {
  for (const [path, size] of [
    [meta, 32 << 20],
    [data, 4 << 20],
  ] as const) {
    writeFileSync(path, '');
    truncateSync(path, size);
  }
  const device = await openDevice(meta);
  await formatRegion(device, { force: true, timing: { heartbeatIntervalMs: 200 } });
  await device.close();
  const config = writeRig(dir, {
    servers: [{ id: 'A' }, { id: 'B' }],
    clusters: [{ id: 'c1', meta, devices: [{ name: 'meta', uri: meta }, { name: 'data', uri: data }] }],
  });
  [serverA, serverB] = await Promise.all([startServer(config, 'A'), startServer(config, 'B')]);
  up = await clusterUp(config, 'c1', 2);
  await waitFor(async () => (await serverA.cluster('c1')).agents.some((a) => a.alive) && (await serverB.cluster('c1')).agents.some((a) => a.alive), 20_000, 'agents registered');
});

describe('seed 000 claims 20-21, seed 001 claims 12, 29-30: the driver process runs the task on the metadata region', () => {
  let seedHex = '';

  it('a fill issued through server A completes on the region and both servers report its completion status', async () => {
    const issued = await serverA.post<TaskRecord>('/api/v1/tasks', { cluster: 'c1', kind: 'fill', args: { target: data, partitions: 4 } });
    expect(issued.status).toBe(201);
    expect(issued.body.executor?.agentId).toBe('A@c1');
    const done = await waitEnd(serverA, issued.body.id);
    expect(done.state, done.error ?? '').toBe('succeeded');
    const status = done.result as DriverStatus;
    expect(status.kind).toBe('fill');
    expect(status.counts).toMatchObject({ complete: 4, failed: 0 });
    expect(status.outcome.status).toBe('finished');
    seedHex = status.outcome.result.seed.toString(16);
    expect((await waitEnd(serverB, issued.body.id)).result).toEqual(status);
  });

  it('a verify issued through server B, run by agent B@c1, finds the pattern intact', async () => {
    const issued = await serverB.post<TaskRecord>('/api/v1/tasks', { cluster: 'c1', kind: 'verify', args: { target: data, partitions: 4, seed: seedHex } });
    expect(issued.body.executor?.agentId).toBe('B@c1');
    const done = await waitEnd(serverB, issued.body.id);
    expect(done.state, done.error ?? '').toBe('succeeded');
    expect((done.result as DriverStatus).outcome.result.mismatches).toBe(0);
  });

  it('cancel through the other server stops the driver process, which cancels the task in the region', async () => {
    const big = join(dir, 'big.img');
    writeFileSync(big, '');
    truncateSync(big, 256 << 20);
    const issued = await serverA.post<TaskRecord>('/api/v1/tasks', { cluster: 'c1', kind: 'fill', args: { target: big, partitions: 64 } });
    await waitFor(async () => (await serverB.task(issued.body.id))?.state === 'running', 20_000, 'task running, seen by B');
    expect((await serverB.post(`/api/v1/tasks/${issued.body.id}/cancel`, {})).status).toBe(202);
    expect((await waitEnd(serverA, issued.body.id)).state).toBe('cancelled');
    expect((await waitEnd(serverB, issued.body.id)).state).toBe('cancelled');
  });

  it('kill -9 of the executing agent mid-task: the surviving agent adopts the driver and the task completes once', async () => {
    const issued = await serverB.post<TaskRecord>('/api/v1/tasks', { cluster: 'c1', kind: 'fill', args: { target: data, partitions: 4 } });
    expect(issued.body.executor?.agentId).toBe('B@c1');
    await waitFor(async () => (await serverA.task(issued.body.id))?.state === 'running', 20_000, 'task running, seen by A');
    process.kill(agentPid(up, 'B@c1'), 'SIGKILL');
    const done = await waitEnd(serverA, issued.body.id);
    expect(done.state, done.error ?? '').toBe('succeeded');
    expect(done.attempts).toBe(1);
    expect(done.executors.map((e) => e.agentId)[0]).toBe('B@c1');
    expect(done.executors).toHaveLength(2);
    expect((done.result as DriverStatus).counts).toMatchObject({ complete: 4, failed: 0 });
  });

  it('a task the library refuses fails with the driver\'s error', async () => {
    const issued = await serverA.post<TaskRecord>('/api/v1/tasks', { cluster: 'c1', kind: 'verify', args: { target: join(dir, 'missing.img'), partitions: 4 } });
    const done = await waitEnd(serverA, issued.body.id);
    expect(done.state).toBe('failed');
    expect(done.error).toMatch(/status \d+/);
  });
});
