/**
 * Device state from controllers' I/O, not only from probes: a device starts failing writes under a
 * running fill (an nbdkit export whose error filter fails every write while a trigger file exists; reads,
 * and so the agents' probes, keep working). The controller process running the fill publishes the errors
 * in its host record, the agents store the device unavailable with the controller's reason, and both
 * servers show it; once the writes work again the device returns on both servers.
 */
import { rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDevice } from '../../drivers/index.js';
import { formatRegion } from '../../src/metadata/format.js';
import { startProcess, waitFor } from '../support/processes.js';
import { requireCommand } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import { clusterUp, startServer, waitForSocket, writeRig, type ServerHandle } from '../cluster/rig.js';
import type { DeviceState, TaskRecord } from '../../src/wire/index.js';
import { stopLeftoverDrivers } from '../cluster/real-driver.js';

const dir = tempDir('blockrig-ioerrors-');
const errorFlag = join(dir, 'write-errors.flag');
const meta = join(dir, 'meta.img');
let target = '';
let servers: ServerHandle[] = [];

async function state(server: ServerHandle): Promise<DeviceState | undefined> {
  return (await server.cluster('c1')).devices.find((d) => d.name === 'nbd');
}

async function bothSee(test: (d: DeviceState | undefined) => boolean, what: string): Promise<DeviceState[]> {
  let seen: (DeviceState | undefined)[] = [];
  await waitFor(async () => (seen = await Promise.all(servers.map((s) => state(s)))).every(test), 20_000, what);
  return seen as DeviceState[];
}

beforeAll(async () => {
  requireCommand('nbdkit', 'nbdkit');
  const socket = join(dir, 'nbd.sock');
  // 100 ms per 1 MiB write: a fill of 32 partitions takes a few seconds, long enough to fail under.
  startProcess('nbdkit', ['-f', '-U', socket, '--exit-with-parent', '--filter=error', '--filter=delay', 'memory', '32M', 'error-pwrite-rate=1', `error-pwrite-file=${errorFlag}`, 'delay-write=100ms']);
  await waitForSocket(socket, 'nbdkit socket');
  target = `nbd+unix:///?socket=${socket}`;
  writeFileSync(meta, '');
  truncateSync(meta, 32 << 20);
  const device = await openDevice(meta);
  await formatRegion(device, { force: true, timing: { heartbeatIntervalMs: 200 } });
  await device.close();
  const config = writeRig(dir, {
    servers: [{ id: 'A' }, { id: 'B' }],
    clusters: [{ id: 'c1', meta, controllers: 1, devices: [{ name: 'nbd', uri: target }] }],
  });
  servers = await Promise.all([startServer(config, 'A'), startServer(config, 'B')]);
  await clusterUp(config, 'c1', 2);
  await bothSee((d) => d?.available === true, 'the export available on both servers');
});


afterAll(() => stopLeftoverDrivers(dir, ['c1']));

describe("device state from controllers' I/O errors", () => {
  it('a device failing writes under a running task shows unavailable on both servers with the controller as reason, and returns', async () => {
    const [a] = servers as [ServerHandle, ServerHandle];
    const issued = await a.post<TaskRecord>('/api/v1/tasks', { cluster: 'c1', kind: 'fill', args: { target, partitions: 32 } });
    expect(issued.status).toBe(201);
    // Fail the writes only once the task is under way, so the errors hit it mid-run.
    await waitFor(async () => ((await a.task(issued.body.id))?.result as { counts?: { complete: number } } | null)?.counts?.complete !== undefined, 30_000, 'the fill to report progress');
    writeFileSync(errorFlag, '');
    const down = await bothSee((d) => d?.available === false, 'the failing export unavailable on both servers');
    for (const d of down) {
      expect(d.reason).toMatch(/^I\/O errors from controller [^ ]+\/\d+: \d+ errors, last: /);
      expect(d.errors).toBeGreaterThanOrEqual(3);
      expect(Number.isNaN(Date.parse(d.since))).toBe(false);
    }
    // The agents' probes only read, and reads still work: the device stays unavailable while errors are recent.
    expect((await state(servers[1] as ServerHandle))?.available).toBe(false);
    rmSync(errorFlag);
    const up = await bothSee((d) => d?.available === true, 'the export available again on both servers');
    for (const d of up) expect(d.reason).toMatch(/I\/O succeeds again from controller|probe ok/);
    // The controller goes on with the rest; the partitions that hit the errors fail the task.
    let task: TaskRecord | undefined;
    await waitFor(async () => ['succeeded', 'failed', 'cancelled'].includes((task = await a.task(issued.body.id))?.state ?? ''), 60_000, 'the fill to end');
    expect(task?.state).toBe('failed');
    expect(task?.error).toMatch(/exited with status 14/); // BLOCKRIG_E_TASK_FAILED: partitions failed
  });
});
