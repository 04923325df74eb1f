/**
 * Seed 000 claims 14-18 (seed 001 claims 5, 9, 10, 14-18, 23-27): configuration (how many devices) and
 * state (each device available or not) stored as persistent data at the cluster; each agent retrieves it
 * and transmits it to its server; a change is stored, broadcast and transmitted by each agent to its own
 * server; a change stored but not yet transmitted when its agent is killed -9 reaches both servers after
 * the restart.
 */
import { renameSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { CLI_PATH, runCli } from '../support/cli.js';
import { startProcess, stopProcess, waitFor, type TestProcess } from '../support/processes.js';
import { tempDir } from '../support/temp.js';
import type { ClusterSnapshot, DeviceState, ServerEvent } from '../../src/wire/index.js';
import { startServer, writeRig, type ServerHandle } from './rig.js';
import { writeFileSync, truncateSync } from 'node:fs';

const dir = tempDir('blockrig-state-');
let config: string;
let serverA: ServerHandle;
let serverB: ServerHandle;

function image(name: string): string {
  const path = join(dir, name);
  writeFileSync(path, '');
  truncateSync(path, 1 << 20);
  return path;
}

function storedStatus(): ClusterSnapshot & { transmitted: Record<string, number> } {
  const res = runCli(['cluster', 'status', '--config', config, '--cluster', 'c1', '--json']);
  expect(res.status, res.stderr).toBe(0);
  return JSON.parse(res.stdout) as ClusterSnapshot & { transmitted: Record<string, number> };
}

function startAgent(server: string, extra: string[] = []): TestProcess {
  const proc = startProcess(process.execPath, [CLI_PATH, 'agent', '--config', config, '--cluster', 'c1', '--server', server, ...extra]);
  return proc;
}

/** A device's state without its error counter (counted at every failed probe, sent with the next change). */
async function deviceOn(server: ServerHandle, name: string): Promise<Omit<DeviceState, 'errors'> | undefined> {
  const found = (await server.cluster('c1')).devices.find((d) => d.name === name);
  return found && withoutErrors(found);
}

function withoutErrors(d: DeviceState): Omit<DeviceState, 'errors'> {
  const { errors: _errors, ...rest } = d;
  return rest;
}

beforeAll(async () => {
  config = writeRig(dir, {
    servers: [{ id: 'A' }, { id: 'B' }],
    clusters: [{ id: 'c1', devices: [{ name: 'd0', uri: image('d0.img') }, { name: 'd1', uri: image('d1.img') }] }],
  });
  [serverA, serverB] = await Promise.all([startServer(config, 'A'), startServer(config, 'B')]);
});

describe('seed 000 claims 14-16, seed 001 claims 5, 9, 14-16, 23-25: stored configuration and state, retrieved and transmitted on registration', () => {
  it('stores the device count and each device availability at the cluster, and each agent transmits them to its server', async () => {
    const a = startAgent('A');
    const b = startAgent('B');
    await waitFor(async () => (await serverA.cluster('c1')).availableCount === 2 && (await serverB.cluster('c1')).availableCount === 2, 20_000, 'both servers to hold the state');
    const stored = storedStatus();
    expect(stored.config.deviceCount).toBe(2);
    expect(stored.devices.map((d) => [d.name, d.available])).toEqual([
      ['d0', true],
      ['d1', true],
    ]);
    for (const server of [serverA, serverB]) {
      const view = await server.cluster('c1');
      expect(view.config?.deviceCount).toBe(2);
      expect(view.devices).toEqual(stored.devices);
    }
    await Promise.all([stopProcess(a.child), stopProcess(b.child)]);
  });

  it('keeps configuration and state across kill -9 of every agent (read back from the persistent data)', async () => {
    const a = startAgent('A');
    await waitFor(() => a.stdout().includes('"started"'), 10_000, 'agent start');
    a.child.kill('SIGKILL');
    await a.exited;
    const stored = storedStatus();
    expect(stored.config.deviceCount).toBe(2);
    expect(stored.devices.every((d) => d.available)).toBe(true);
  });
});

describe('seed 000 claims 17-18, seed 001 claims 10, 17-18, 26-27: a changed state is stored, broadcast and transmitted by each agent to its server', () => {
  it('a device going unavailable and coming back shows in both servers, as one stored change each way', async () => {
    const a = startAgent('A');
    const b = startAgent('B');
    try {
      await changeAndReturn(b);
    } finally {
      await Promise.all([stopProcess(a.child), stopProcess(b.child)]);
    }
  });

  async function changeAndReturn(b: TestProcess): Promise<void> {
    await waitFor(async () => (await serverB.cluster('c1')).agents.some((x) => x.alive && x.pid === b.child.pid), 20_000, 'B@c1 registered');
    const events: ServerEvent[] = [];
    const sse = await fetch(`${serverB.url}/api/v1/events`, { headers: { authorization: `Bearer ${serverB.token}` } });
    const reader = sse.body?.getReader();
    const decoder = new TextDecoder();
    let buffered = '';
    const pump = (async (): Promise<void> => {
      for (;;) {
        const chunk: { done: boolean; value?: Uint8Array } | undefined = await reader?.read().catch(() => undefined);
        if (!chunk || chunk.done) return;
        buffered += decoder.decode(chunk.value);
        const blocks = buffered.split('\n\n');
        buffered = blocks.pop() ?? '';
        for (const block of blocks) {
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (data) events.push(JSON.parse(data.slice(6)) as ServerEvent);
        }
      }
    })();

    renameSync(join(dir, 'd1.img'), join(dir, 'd1.away'));
    await waitFor(async () => (await deviceOn(serverA, 'd1'))?.available === false && (await deviceOn(serverB, 'd1'))?.available === false, 10_000, 'd1 unavailable on both servers');
    const downA = await deviceOn(serverA, 'd1');
    expect(downA).toEqual(await deviceOn(serverB, 'd1'));
    expect(downA?.reason).toMatch(/probe failed/);
    const storedD1 = storedStatus().devices.find((d) => d.name === 'd1');
    expect(storedD1 && withoutErrors(storedD1)).toEqual(downA);

    renameSync(join(dir, 'd1.away'), join(dir, 'd1.img'));
    await waitFor(async () => (await deviceOn(serverA, 'd1'))?.available === true && (await deviceOn(serverB, 'd1'))?.available === true, 10_000, 'd1 back on both servers');
    expect(await deviceOn(serverA, 'd1')).toEqual(await deviceOn(serverB, 'd1'));
    await waitFor(() => events.filter((e) => e.type === 'device.changed' && e.device.name === 'd1').length >= 2, 5000, 'SSE device events on B');
    const d1Events = events.filter((e): e is Extract<ServerEvent, { type: 'device.changed' }> => e.type === 'device.changed' && e.device.name === 'd1');
    expect(d1Events.map((e) => e.device.available).slice(-2)).toEqual([false, true]);
    await reader?.cancel();
    await pump.catch(() => undefined);
  }

  it('kill -9 between storing and transmitting: the change reaches both servers after restart', async () => {
    // Agent A holds every stored change for a minute before broadcasting or transmitting it.
    const held = startAgent('A', ['--hold-after-store', '60000']);
    await waitFor(async () => (await serverA.cluster('c1')).agents.some((x) => x.alive && x.pid === held.child.pid), 20_000, 'held agent registered');
    renameSync(join(dir, 'd0.img'), join(dir, 'd0.away'));
    await waitFor(() => storedStatus().devices.find((d) => d.name === 'd0')?.available === false, 10_000, 'the change to be stored');
    const before = storedStatus();
    expect(before.transmitted.A).toBeLessThan(before.seq);
    expect((await deviceOn(serverA, 'd0'))?.available).toBe(true);
    held.child.kill('SIGKILL');
    await held.exited;
    expect((await deviceOn(serverA, 'd0'))?.available).toBe(true);

    const a = startAgent('A');
    const b = startAgent('B');
    await waitFor(async () => (await deviceOn(serverA, 'd0'))?.available === false && (await deviceOn(serverB, 'd0'))?.available === false, 20_000, 'd0 unavailable on both servers');
    const storedD0 = before.devices.find((d) => d.name === 'd0');
    expect(await deviceOn(serverA, 'd0')).toEqual(storedD0 && withoutErrors(storedD0));
    expect(await deviceOn(serverB, 'd0')).toEqual(storedD0 && withoutErrors(storedD0));
    renameSync(join(dir, 'd0.away'), join(dir, 'd0.img'));
    await Promise.all([stopProcess(a.child), stopProcess(b.child)]);
  });
});
