/**
 * Multi-host failover (seed 000 claim 13, seed 001 claims 2-4, 6-7): each cluster and its server run in
 * their own network namespace ("host") with its own address, joined by a veth link. Cutting the link and
 * restoring it lets the cut-off server catch up; killing a whole host leaves the other pair carrying on
 * every task in the surviving cluster, with views that converge. Tasks run on the real driver process
 * (`blockrig driver run fill` on cluster 2's metadata region, a few seconds each); the host dies once the
 * driver shows progress, and the task is checked to have run once, in the store and in the region.
 */
import { renameSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stopProcess, waitFor, type TestProcess } from '../support/processes.js';
import { requireCommand, requireRoot } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import type { AgentView, TaskRecord } from '../../src/wire/index.js';
import { createRigHosts, type RigHosts } from '../../hil/rig/netns.js';
import { ranOnceEach, realDriverCluster, stopLeftoverDrivers, waitForProgress, type RealDriverCluster } from './real-driver.js';
import { clusterUp, startServer, startedAgents, writeRig, type ServerHandle } from './rig.js';

const dir = tempDir('blockrig-hosts-');
let c2: RealDriverCluster;
let hosts: RigHosts | undefined;
let serverA: ServerHandle;
let serverB: ServerHandle;
let up1: TestProcess;
let up2: TestProcess;

function image(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, '');
  truncateSync(path, 1 << 20);
  return path;
}

async function d0Available(server: ServerHandle, cluster: string): Promise<boolean | undefined> {
  return (await server.cluster(cluster)).devices.find((d) => d.name === 'd0')?.available;
}

async function waitTask(server: ServerHandle, id: string, state: TaskRecord['state'], what: string): Promise<TaskRecord> {
  let task: TaskRecord | undefined;
  await waitFor(async () => (task = await server.task(id))?.state === state, 60_000, what);
  if (!task) throw new Error('unreachable');
  return task;
}

beforeAll(async () => {
  requireRoot('network namespaces for multi-host tests');
  requireCommand('ip', 'iproute2');
  hosts = createRigHosts();
  const h = hosts;
  c2 = await realDriverCluster(dir, 'c2');
  const config = writeRig(dir, {
    servers: [
      { id: 'A', cluster: 'c1', host: h.addressOf(1) },
      { id: 'B', cluster: 'c2', host: h.addressOf(2) },
    ],
    clusters: [
      { id: 'c1', devices: [{ name: 'd0', uri: image('c1-d0.img') }] },
      { id: 'c2', meta: c2.meta, devices: [{ name: 'd0', uri: image('c2-d0.img') }, { name: 'target', uri: c2.target }] },
    ],
  });
  [serverA, serverB] = await Promise.all([startServer(config, 'A', h.exec(1)), startServer(config, 'B', h.exec(2))]);
  [up1, up2] = await Promise.all([clusterUp(config, 'c1', 2, h.exec(1)), clusterUp(config, 'c2', 2, h.exec(2))]);
  await waitFor(async () => {
    const [a, b] = await Promise.all([serverA.get<{ agents: AgentView[] }>('/api/v1/agents'), serverB.get<{ agents: AgentView[] }>('/api/v1/agents')]);
    return a.agents.filter((x) => x.alive).length === 2 && b.agents.filter((x) => x.alive).length === 2;
  }, 30_000, 'four agents registered across the hosts');
});

afterAll(async () => {
  stopLeftoverDrivers(dir, ['c2']);
  await Promise.all([up1, up2, serverA?.process, serverB?.process].filter((p) => p !== undefined).map((p) => stopProcess(p.child, 2000)));
  hosts?.destroy();
});

describe('seed 001 claims 2-4: the servers execute at different hosts, each cluster with agents for both', () => {
  it('server A listens on host 1 and server B on host 2, and each lists the agents of both clusters registered with it', async () => {
    expect(serverA.url).toContain(hosts?.addressOf(1));
    expect(serverB.url).toContain(hosts?.addressOf(2));
    const b = await serverB.get<{ agents: AgentView[] }>('/api/v1/agents');
    expect(b.agents.map((a) => a.agentId).sort()).toEqual(['B@c1', 'B@c2']);
  });
});

describe('seed 000 claim 13 across hosts: cut a link, restore it, lose a whole host', () => {
  it('while the link is cut, pair B keeps running tasks; a change at cluster 1 reaches server B once the link is back', async () => {
    hosts?.cutLink(true);
    try {
      const task = await serverB.post<TaskRecord>('/api/v1/tasks', { cluster: 'c2', kind: 'fill', args: c2.fillArgs });
      expect(task.status).toBe(201);
      renameSync(join(dir, 'c1-d0.img'), join(dir, 'c1-d0.away'));
      await waitFor(async () => (await d0Available(serverA, 'c1')) === false, 10_000, 'server A (same host) to see c1/d0 go');
      expect(await d0Available(serverB, 'c1')).toBe(true); // B@c1 cannot reach server B
      await waitTask(serverB, task.body.id, 'succeeded', 'task in cluster 2 during the cut');
    } finally {
      hosts?.cutLink(false);
    }
    await waitFor(async () => (await d0Available(serverB, 'c1')) === false, 30_000, 'server B to catch up after the link is restored');
    renameSync(join(dir, 'c1-d0.away'), join(dir, 'c1-d0.img'));
    await waitFor(async () => (await d0Available(serverA, 'c1')) === true && (await d0Available(serverB, 'c1')) === true, 20_000, 'c1/d0 back on both servers');
  });

  it('kill every process of host 1 mid-task: the task in cluster 2 completes through pair B, once, and B sees pair A gone', async () => {
    const task = await serverA.post<TaskRecord>('/api/v1/tasks', { cluster: 'c2', kind: 'fill', args: c2.fillArgs });
    expect(task.status).toBe(201);
    expect(task.body.executor?.agentId).toBe('A@c2');
    await waitForProgress(serverA, task.body.id);
    // Host 1 dies: its server, its cluster supervisor and its agents, all at once.
    up1.child.kill('SIGKILL');
    for (const agent of startedAgents(up1)) process.kill(agent.pid, 'SIGKILL');
    serverA.process.child.kill('SIGKILL');
    const done = await waitTask(serverB, task.body.id, 'succeeded', 'task issued via the dead host to complete through B');
    expect(done.issuedVia).toBe('A');
    expect(done.result).toMatchObject({ counts: { complete: 64, failed: 0 }, outcome: { status: 'finished', byInitiator: true } });
    // Neither lost nor run twice: both of cluster 2's tasks ran one driver process and one region task each.
    const tasks = (await serverB.get<{ tasks: TaskRecord[] }>('/api/v1/tasks?cluster=c2')).tasks;
    expect(tasks).toHaveLength(2);
    expect(await ranOnceEach(tasks, c2.meta, join(dir, 'c2'))).toBeNull();
    await waitFor(async () => {
      const agents = (await serverB.get<{ agents: AgentView[] }>('/api/v1/agents')).agents;
      return agents.find((a) => a.agentId === 'B@c1')?.alive === false && agents.find((a) => a.agentId === 'B@c2')?.alive === true;
    }, 20_000, 'server B to expire the agent of the dead host');
    const servers = (await serverB.get<{ servers: { id: string; reachable: boolean | null }[] }>('/api/v1/servers')).servers;
    await waitFor(async () => (await serverB.get<{ servers: { id: string; reachable: boolean | null }[] }>('/api/v1/servers')).servers.find((s) => s.id === 'A')?.reachable === false, 20_000, 'B to see server A unreachable');
    expect(servers.map((s) => s.id)).toEqual(['A', 'B']);
  });
});
