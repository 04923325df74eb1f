/**
 * Seed 000 claim 13 (and seed 001 claims 1-4, 6-8, 13, 22): two clusters, two domain servers (A on
 * cluster 1, B on cluster 2), one agent per server at each cluster; tasks issued to either server run on
 * its own agent; when one pair fails the other carries on, tasks are neither lost nor run twice, and a
 * restarted server catches up from the persistent data. Real processes on loopback, and the real driver
 * process (`blockrig driver run fill` on each cluster's metadata region, a few seconds per task): kill
 * points wait for the driver's observable progress, and "neither lost nor run twice" is checked in the
 * store (one driver process per task) and in the region (one finished region task per issued task).
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopProcess, waitFor, type TestProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import type { AgentView, TaskRecord } from '../../src/wire/index.js';
import { ranOnceEach, realDriverCluster, waitForProgress, type DriverResult, type RealDriverCluster, stopLeftoverDrivers } from './real-driver.js';
import { agentPid, clusterUp, startServer, TEST_PASSWORD, TEST_SECRET, writeRig, type ServerHandle } from './rig.js';

const dir = tempDir('blockrig-pairs-');
const clusters: Record<string, RealDriverCluster> = {};
let config: string;
let serverA: ServerHandle;
let serverB: ServerHandle;
let up1: TestProcess;
let up2: TestProcess;

async function issue(server: ServerHandle, cluster: string): Promise<TaskRecord> {
  const res = await server.post<TaskRecord>('/api/v1/tasks', { cluster, kind: 'fill', args: clusters[cluster]?.fillArgs });
  expect(res.status).toBe(201);
  return res.body;
}

async function waitForTask(server: ServerHandle, id: string, state: TaskRecord['state'], what: string): Promise<TaskRecord> {
  let task: TaskRecord | undefined;
  await waitFor(async () => (task = await server.task(id))?.state === state, 60_000, what);
  if (!task) throw new Error('unreachable');
  return task;
}

beforeAll(async () => {
  for (const id of ['c1', 'c2']) clusters[id] = await realDriverCluster(dir, id);
  const c1 = clusters.c1 as RealDriverCluster;
  const c2 = clusters.c2 as RealDriverCluster;
  config = writeRig(dir, {
    servers: [
      { id: 'A', cluster: 'c1' },
      { id: 'B', cluster: 'c2' },
    ],
    clusters: [
      { id: 'c1', meta: c1.meta, devices: [{ name: 'meta', uri: c1.meta }, { name: 'd0', uri: c1.target }] },
      { id: 'c2', meta: c2.meta, devices: [{ name: 'd0', uri: c2.target }] },
    ],
  });
  [serverA, serverB] = await Promise.all([startServer(config, 'A'), startServer(config, 'B')]);
  [up1, up2] = await Promise.all([clusterUp(config, 'c1', 2), clusterUp(config, 'c2', 2)]);
  await waitFor(async () => {
    const [a, b] = await Promise.all([serverA.get<{ agents: AgentView[] }>('/api/v1/agents'), serverB.get<{ agents: AgentView[] }>('/api/v1/agents')]);
    return a.agents.filter((x) => x.alive).length === 2 && b.agents.filter((x) => x.alive).length === 2;
  }, 20_000, 'four agents registered');
});


afterAll(() => stopLeftoverDrivers(dir, ['c1', 'c2']));

describe('seed 000 claim 13, seed 001 claims 1-4, 8, 13, 22: two agent/server pairs at each of two clusters', () => {
  it('registers at each cluster one agent with each server, so each server lists its own agents', async () => {
    const a = await serverA.get<{ agents: AgentView[] }>('/api/v1/agents');
    const b = await serverB.get<{ agents: AgentView[] }>('/api/v1/agents');
    expect(a.agents.map((x) => x.agentId).sort()).toEqual(['A@c1', 'A@c2']);
    expect(b.agents.map((x) => x.agentId).sort()).toEqual(['B@c1', 'B@c2']);
    expect(a.agents.every((x) => x.serverId === 'A' && x.alive)).toBe(true);
    expect(a.agents.find((x) => x.agentId === 'A@c1')?.pid).toBe(agentPid(up1, 'A@c1'));
    const servers = await serverA.get<{ servers: { id: string; self: boolean; cluster: string | null }[] }>('/api/v1/servers');
    expect(servers.servers.map((s) => [s.id, s.self, s.cluster])).toEqual([
      ['A', true, 'c1'],
      ['B', false, 'c2'],
    ]);
  });

  it('executes a task issued to server A with the first agent and one issued to server B with the second', async () => {
    const viaA = await issue(serverA, 'c1');
    const viaB = await issue(serverB, 'c1');
    expect(viaA.executor).toMatchObject({ agentId: 'A@c1', serverId: 'A', pid: agentPid(up1, 'A@c1') });
    expect(viaB.executor).toMatchObject({ agentId: 'B@c1', serverId: 'B', pid: agentPid(up1, 'B@c1') });
    const doneA = await waitForTask(serverA, viaA.id, 'succeeded', 'task via A to finish');
    const doneB = await waitForTask(serverB, viaB.id, 'succeeded', 'task via B to finish');
    expect(doneA.result).toMatchObject({ kind: 'fill', counts: { complete: 64, failed: 0 }, outcome: { status: 'finished', byInitiator: true } });
    expect(doneB.issuedVia).toBe('B');
    expect((doneB.result as DriverResult).id).not.toBe((doneA.result as DriverResult).id);
  });
});

describe('seed 000 claim 13 (failover), seed 001 claims 6-7: when one pair fails the other continues', () => {
  it('kill -9 of server A mid-task: the task completes and is reported through server B; a restarted A catches up', async () => {
    const task = await issue(serverA, 'c2');
    expect(task.executor?.agentId).toBe('A@c2');
    await waitForProgress(serverA, task.id);
    serverA.process.child.kill('SIGKILL');
    await serverA.process.exited;
    // Claim 001/7: while pair A is down, pair B keeps executing a second task in the same cluster.
    const second = await issue(serverB, 'c2');
    const seenByB = await waitForTask(serverB, task.id, 'succeeded', 'task issued via dead A to be reported by B');
    expect(seenByB.executor?.agentId).toBe('A@c2');
    expect(seenByB.issuedVia).toBe('A');
    await waitForTask(serverB, second.id, 'succeeded', 'second task via B');
    expect(seenByB.attempts).toBe(1);

    serverA = await startServer(config, 'A');
    const caughtUp = await waitForTask(serverA, task.id, 'succeeded', 'restarted A to catch up from the persistent data');
    expect(caughtUp.result).toEqual(seenByB.result);
    await waitFor(async () => (await serverA.task(second.id))?.state === 'succeeded', 20_000, 'A to learn the task issued via B');
  });

  it('kill -9 of the executing agent mid-task: the other agent takes the task over, the driver runs once, both servers report it', async () => {
    const task = await issue(serverB, 'c1');
    expect(task.executor?.agentId).toBe('B@c1');
    await waitForProgress(serverB, task.id);
    process.kill(agentPid(up1, 'B@c1'), 'SIGKILL');
    const done = await waitForTask(serverA, task.id, 'succeeded', 'task to complete through pair A');
    // Taken over by whichever live agent of c1 noticed first: A@c1, or B@c1 restarted by cluster up.
    expect(done.executors).toHaveLength(2);
    expect(done.executors[0]).toMatchObject({ agentId: 'B@c1', pid: task.executor?.pid });
    expect(done.executor?.pid).not.toBe(task.executor?.pid);
    // The driver process was adopted, not started again: one attempt, one region task, finished by it.
    expect(done.attempts).toBe(1);
    expect(done.result).toMatchObject({ counts: { complete: 64, failed: 0 }, outcome: { status: 'finished', byInitiator: true } });
    // cluster up restarts B@c1, which re-registers and transmits the stored outcome to B.
    await waitForTask(serverB, task.id, 'succeeded', 'restarted agent B@c1 to report to server B');
  });

  it('issued tasks are neither lost nor run twice: every task ran one driver process, which ran one region task to its end', async () => {
    const tasks = (await serverB.get<{ tasks: TaskRecord[] }>('/api/v1/tasks')).tasks;
    expect(tasks.length).toBe(5);
    for (const id of ['c1', 'c2']) {
      const mine = tasks.filter((t) => t.cluster === id);
      expect(mine.length).toBeGreaterThan(0);
      expect(await ranOnceEach(mine, clusters[id]?.meta ?? '', join(dir, id))).toBeNull();
    }
  });

  it('never writes the cluster secret or a password to any process output', () => {
    for (const proc of [serverA.process, serverB.process, up1, up2]) {
      for (const text of [proc.stdout(), proc.stderr()]) {
        expect(text).not.toContain(TEST_SECRET);
        expect(text).not.toContain(TEST_PASSWORD);
      }
    }
    expect(up1.stderr()).toContain('registered with server');
  });

  it('cluster up stops its agents on SIGTERM and exits 0', async () => {
    up1.child.kill('SIGTERM');
    expect(await up1.exited).toBe(0);
    expect(up1.stdout()).toMatch(/"event":"exited","role":"agent","name":"A@c1"/);
    expect(up1.stdout()).toMatch(/"event":"exited","role":"agent","name":"B@c1"/);
    await stopProcess(up2.child);
  });
});
