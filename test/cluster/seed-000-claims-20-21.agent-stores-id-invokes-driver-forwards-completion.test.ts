/**
 * Seed 000 claims 20-21 (seed 001 claims 12, 29-30): the agent receives the task from its server, stores
 * its own identification with the task in the persistent data, invokes a separate driver process,
 * receives its completion status and forwards it to its server. Also: a failing driver, cancel, pause and
 * resume, and idempotent issuing with a request id.
 */
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { waitFor, type TestProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import type { ClusterSnapshot, TaskRecord } from '../../src/wire/index.js';
import { agentPid, clusterUp, recordingDriver, runsRecorded, startServer, writeRig, type ServerHandle } from './rig.js';

const dir = tempDir('blockrig-tasks-');
const runs = join(dir, 'runs.log');
let config: string;
let serverA: ServerHandle;
let serverB: ServerHandle;
let up: TestProcess;

function storedTask(id: string): TaskRecord | undefined {
  const res = runCli(['cluster', 'status', '--config', config, '--cluster', 'c1', '--json']);
  expect(res.status, res.stderr).toBe(0);
  return (JSON.parse(res.stdout) as ClusterSnapshot).tasks.find((t) => t.id === id);
}

async function issue(server: ServerHandle, args: Record<string, string | number | boolean> = {}, requestId?: string): Promise<{ status: number; body: TaskRecord }> {
  return server.post<TaskRecord>('/api/v1/tasks', { cluster: 'c1', kind: 'fill', args, ...(requestId === undefined ? {} : { requestId }) });
}

async function waitState(server: ServerHandle, id: string, state: TaskRecord['state']): Promise<TaskRecord> {
  let task: TaskRecord | undefined;
  await waitFor(async () => (task = await server.task(id))?.state === state, 20_000, `task ${id} to be ${state} on ${server.id}`);
  if (!task) throw new Error('unreachable');
  return task;
}

beforeAll(async () => {
  writeFileSync(join(dir, 'd0.img'), '');
  truncateSync(join(dir, 'd0.img'), 1 << 20);
  config = writeRig(dir, {
    servers: [{ id: 'A' }, { id: 'B' }],
    clusters: [{ id: 'c1', devices: [{ name: 'd0', uri: join(dir, 'd0.img') }], driverCommand: recordingDriver(runs, 1) }],
  });
  [serverA, serverB] = await Promise.all([startServer(config, 'A'), startServer(config, 'B')]);
  up = await clusterUp(config, 'c1', 2);
  await waitFor(async () => (await serverA.cluster('c1')).agents.some((a) => a.alive) && (await serverB.cluster('c1')).agents.some((a) => a.alive), 20_000, 'agents registered');
});

describe.each([
  ['seed 000 claim 20, seed 001 claims 12, 29: the first agent', 'A'],
  ['seed 000 claim 21, seed 001 claim 30: the second agent', 'B'],
])('%s', (_title, serverId) => {
  it(`stores its identification with the task, invokes a driver process and forwards the completion status to server ${serverId}`, async () => {
    const server = serverId === 'A' ? serverA : serverB;
    const agentId = `${serverId}@c1`;
    const res = await issue(server, { seconds: 1 });
    expect(res.status).toBe(201);
    const stored = storedTask(res.body.id);
    expect(stored?.executor).toMatchObject({ agentId, serverId, pid: agentPid(up, agentId) });
    expect(stored?.issuedVia).toBe(serverId);
    const done = await waitState(server, res.body.id, 'succeeded');
    expect(done.result).toEqual({ state: 'complete', partitions: 4 });
    const run = runsRecorded(runs).find((l) => l.startsWith(`${res.body.id} `));
    const driverPid = Number(run?.split(' ')[1]);
    expect(driverPid).toBeGreaterThan(0);
    expect(driverPid).not.toBe(agentPid(up, agentId));
    expect(driverPid).not.toBe(server.process.child.pid);
    expect(storedTask(res.body.id)?.state).toBe('succeeded');
  });
});

describe('seed 000 claims 20-21: completion status of failed, cancelled, paused tasks', () => {
  it('a driver that exits non-zero fails the task with its status and stderr', async () => {
    const res = await issue(serverA, { seconds: 0, fail: true });
    const done = await waitState(serverA, res.body.id, 'failed');
    expect(done.error).toContain('status 3');
    expect(done.error).toContain('injected failure');
  });

  it('cancel stops the driver process and the task ends cancelled on both servers', async () => {
    const res = await issue(serverA, { seconds: 30 });
    await waitState(serverB, res.body.id, 'running');
    const cancel = await serverB.post<TaskRecord>(`/api/v1/tasks/${res.body.id}/cancel`, {});
    expect(cancel.status).toBe(202);
    await waitState(serverA, res.body.id, 'cancelled');
    await waitState(serverB, res.body.id, 'cancelled');
  });

  it('pause and resume reach the executing agent through the other server', async () => {
    const res = await issue(serverA, { seconds: 2 });
    await waitState(serverB, res.body.id, 'running');
    expect((await serverB.post(`/api/v1/tasks/${res.body.id}/pause`, {})).status).toBe(202);
    await waitState(serverA, res.body.id, 'paused');
    expect((await serverA.post(`/api/v1/tasks/${res.body.id}/resume`, {})).status).toBe(202);
    await waitState(serverB, res.body.id, 'succeeded');
  });

  it('a finished task cannot be cancelled (409)', async () => {
    const res = await issue(serverA, { seconds: 0 });
    await waitState(serverA, res.body.id, 'succeeded');
    const cancel = await serverA.post<{ error: { code: string } }>(`/api/v1/tasks/${res.body.id}/cancel`, {});
    expect(cancel.status).toBe(409);
    expect(cancel.body.error.code).toBe('BLOCKRIG_E_CONFLICT');
  });

  it('issuing twice with one request id, through either server, makes one task that runs once', async () => {
    const first = await issue(serverA, { seconds: 0 }, 'job-42');
    const again = await issue(serverB, { seconds: 0 }, 'job-42');
    expect(first.status).toBe(201);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    await waitState(serverB, first.body.id, 'succeeded');
    expect(runsRecorded(runs).filter((l) => l.startsWith(`${first.body.id} `))).toHaveLength(1);
  });
});
