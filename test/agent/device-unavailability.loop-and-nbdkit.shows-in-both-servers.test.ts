/**
 * A device going unavailable, and coming back, shows in both servers' state within a bounded time
 * (seed 000 claims 17-18): a detached and re-attached loop device, and an nbdkit export whose error
 * filter starts and stops failing reads. Real loop devices and a real nbdkit, probed through the drivers.
 */
import { execFileSync } from 'node:child_process';
import { rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startProcess, waitFor } from '../support/processes.js';
import { requireCommand, requireRoot } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import { clusterUp, startServer, waitForSocket, writeRig, type ServerHandle } from '../cluster/rig.js';
import type { DeviceState } from '../../src/wire/index.js';

const dir = tempDir('blockrig-unavail-');
const errorFlag = join(dir, 'nbd-errors.flag');
const image = join(dir, 'loop.img');
let loopDevice = '';
let servers: ServerHandle[] = [];

async function state(server: ServerHandle, name: string): Promise<DeviceState | undefined> {
  return (await server.cluster('c1')).devices.find((d) => d.name === name);
}

async function bothSee(name: string, available: boolean, what: string): Promise<void> {
  await waitFor(async () => (await Promise.all(servers.map((s) => state(s, name)))).every((d) => d?.available === available), 15_000, what);
}

beforeAll(async () => {
  requireRoot('loop devices');
  requireCommand('losetup', 'util-linux');
  requireCommand('nbdkit', 'nbdkit');
  writeFileSync(image, '');
  truncateSync(image, 1 << 20);
  loopDevice = execFileSync('losetup', ['--find', '--show', image], { encoding: 'utf8' }).trim();
  const socket = join(dir, 'nbd.sock');
  startProcess('nbdkit', ['-f', '-U', socket, '--exit-with-parent', '--filter=error', 'memory', '1M', 'error-rate=1', `error-file=${errorFlag}`]);
  await waitForSocket(socket, 'nbdkit socket');
  const config = writeRig(dir, {
    servers: [{ id: 'A' }, { id: 'B' }],
    clusters: [{ id: 'c1', devices: [{ name: 'loop', uri: loopDevice }, { name: 'nbd', uri: `nbd+unix:///?socket=${socket}` }] }],
  });
  servers = await Promise.all([startServer(config, 'A'), startServer(config, 'B')]);
  await clusterUp(config, 'c1', 2);
  await bothSee('loop', true, 'loop device available on both servers');
  await bothSee('nbd', true, 'nbd export available on both servers');
});

afterAll(() => {
  if (loopDevice !== '') {
    try {
      execFileSync('losetup', ['-d', loopDevice]);
    } catch {
      // already detached
    }
  }
});

describe('device unavailability reaches both servers, and so does its return', () => {
  it('a detached loop device becomes unavailable on both servers, and available again when re-attached', async () => {
    execFileSync('losetup', ['-d', loopDevice]);
    await bothSee('loop', false, 'detached loop device unavailable on both servers');
    const down = await state(servers[1] as ServerHandle, 'loop');
    expect(down?.reason).toMatch(/probe failed/);
    execFileSync('losetup', [loopDevice, image]);
    await bothSee('loop', true, 're-attached loop device available on both servers');
  });

  it('an nbdkit export failing reads (error filter) becomes unavailable on both servers, and available when it stops', async () => {
    writeFileSync(errorFlag, '');
    await bothSee('nbd', false, 'failing export unavailable on both servers');
    const down = await state(servers[0] as ServerHandle, 'nbd');
    expect(down?.reason).toMatch(/probe failed/);
    expect(down?.errors).toBeGreaterThan(0);
    rmSync(errorFlag);
    await bothSee('nbd', true, 'export available again on both servers');
  });
});
