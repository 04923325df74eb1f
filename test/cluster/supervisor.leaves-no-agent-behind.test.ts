/**
 * `blockrig cluster up` leaves no agent behind: not one it was restarting when it got SIGTERM, and not
 * one still stopping when it was killed outright (as a harness does once its grace runs out). Server A
 * of the rig is a black hole (accepts connections, never answers), so agent A@c1 always has a request
 * hanging: the case where an agent used to take long to stop.
 */
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import { clusterUp, startedAgents, startServer, writeRig } from './rig.js';

const dir = tempDir('blockrig-supervisor-');
let config = '';
let blackHole: Server;
const sockets: Socket[] = [];

/** True while `pid` runs (a zombie waiting to be reaped has stopped running). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Every agent pid a `cluster up` process reported starting. */
function allAgentPids(stdout: string): number[] {
  return stdout
    .split('\n')
    .filter((l) => l.includes('"event":"started","role":"agent"'))
    .map((l) => (JSON.parse(l) as { pid: number }).pid);
}

beforeAll(async () => {
  blackHole = createServer((socket) => sockets.push(socket));
  await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
  const address = blackHole.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  writeFileSync(join(dir, 'A.addr'), `http://127.0.0.1:${address.port}\n`);
  writeFileSync(join(dir, 'd0.img'), '');
  truncateSync(join(dir, 'd0.img'), 1 << 20);
  config = writeRig(dir, { servers: [{ id: 'A' }, { id: 'B' }], clusters: [{ id: 'c1', devices: [{ name: 'd0', uri: join(dir, 'd0.img') }] }] });
  // writeRig points A at A.addr in `dir`; keep the black hole's address there.
  writeFileSync(join(dir, 'A.addr'), `http://127.0.0.1:${address.port}\n`);
});

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => blackHole.close(() => resolve()));
});

describe('cluster up leaves no agent behind', () => {
  it('on SIGTERM right after restarting a killed agent, every agent it started has stopped (by SIGTERM, not SIGKILL) when it exits', async () => {
    const up = await clusterUp(config, 'c1', 2);
    const first = startedAgents(up).find((a) => a.name === 'A@c1');
    if (first === undefined) throw new Error('A@c1 did not start');
    await waitFor(() => sockets.length > 0, 10_000, 'agent A@c1 to hang on its server');
    process.kill(first.pid, 'SIGKILL');
    const hanging = sockets.length;
    await waitFor(() => allAgentPids(up.stdout()).length >= 3, 10_000, 'cluster up to restart A@c1');
    // The restarted agent is stuck on a request to its server when cluster up is told to stop.
    await waitFor(() => sockets.length > hanging, 10_000, 'the restarted A@c1 to hang on its server');
    up.child.kill('SIGTERM');
    expect(await up.exited).toBe(0);
    for (const pid of allAgentPids(up.stdout())) expect(running(pid), `agent pid ${pid}`).toBe(false);
    const exits = up.stdout().split('\n').filter((l) => l.includes('"event":"exited"')).map((l) => JSON.parse(l) as { name: string; signal: string | null; code: number | null });
    // The first A@c1 died by our SIGKILL; every other exit was a clean stop on SIGTERM.
    expect(exits.slice(1).every((e) => e.signal !== 'SIGKILL')).toBe(true);
    expect(exits.slice(1).map((e) => e.name).sort()).toEqual(['A@c1', 'B@c1']);
  });

  it('killed with SIGKILL, its agents stop by themselves', async () => {
    // Real servers this time: registered agents work quietly, so nothing but their parent's death stops them.
    const quiet = join(dir, 'quiet');
    mkdirSync(quiet);
    const quietConfig = writeRig(quiet, { servers: [{ id: 'A' }, { id: 'B' }], clusters: [{ id: 'c1', devices: [{ name: 'd0', uri: join(dir, 'd0.img') }] }] });
    const servers = await Promise.all([startServer(quietConfig, 'A'), startServer(quietConfig, 'B')]);
    const up = await clusterUp(quietConfig, 'c1', 2);
    await waitFor(async () => (await Promise.all(servers.map((s) => s.cluster('c1')))).every((c) => c.agents.some((a) => a.alive)), 20_000, 'both agents registered');
    const pids = allAgentPids(up.stdout());
    expect(pids).toHaveLength(2);
    up.child.kill('SIGKILL');
    await up.exited;
    await waitFor(() => pids.every((pid) => !running(pid)), 15_000, 'the orphaned agents to stop');
  });
});
