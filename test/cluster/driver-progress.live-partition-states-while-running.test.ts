/**
 * Live per-partition progress while a task runs: the driver process (`blockrig driver run --json`) prints
 * a progress line every 500 ms (partition states with owners, bytes done), the executing agent stores the
 * newest in the task record, and both the server's record and `blockrig task watch` show partitions
 * completing before the task ends. The final record keeps the cells. The region's host slots (controllers,
 * live or not, and what each runs) reach the server the same way. The data set is an nbdkit memory
 * export behind its delay filter (150 ms per write), so the fill takes seconds without costing CPU or disk.
 */
import { existsSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { openDevice } from '../../drivers/index.js';
import { formatRegion } from '../../src/metadata/format.js';
import { taskProgress, type ControllerView, type TaskRecord } from '../../src/wire/index.js';
import { CLI_PATH } from '../support/cli.js';
import { startProcess, waitFor } from '../support/processes.js';
import { requireCommand } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import { clusterUp, startServer, TEST_PASSWORD, writeRig, type ServerHandle } from './rig.js';

const dir = tempDir('blockrig-progress-');
const meta = join(dir, 'meta.img');
const socket = join(dir, 'nbd.sock');
const data = `nbd+unix:///?socket=${socket}`;
const PARTITIONS = 32;
let server: ServerHandle;

beforeAll(async () => {
  requireCommand('nbdkit', 'nbdkit');
  writeFileSync(meta, '');
  truncateSync(meta, 32 << 20);
  startProcess('nbdkit', ['-f', '-U', socket, '--exit-with-parent', '--filter=delay', 'memory', '16M', 'wdelay=150ms']);
  await waitFor(() => existsSync(socket), 10_000, 'nbdkit socket');
  const device = await openDevice(meta);
  await formatRegion(device, { force: true, timing: { heartbeatIntervalMs: 200 } });
  await device.close();
  const config = writeRig(dir, { servers: [{ id: 'A' }], clusters: [{ id: 'c1', meta, devices: [{ name: 'meta', uri: meta }] }] });
  server = await startServer(config, 'A');
  await clusterUp(config, 'c1', 1);
  await waitFor(async () => (await server.cluster('c1')).agents.some((a) => a.alive), 20_000, 'agent registered');
});

describe('live partition progress of a running task', () => {
  it('reaches the server and task watch while the task runs, with owners and the live controllers running it; the final record keeps the cells', async () => {
    const issued = await server.post<TaskRecord>('/api/v1/tasks', { cluster: 'c1', kind: 'fill', args: { target: data, partitions: PARTITIONS } });
    expect(issued.status).toBe(201);
    const id = issued.body.id;
    const watch = startProcess(process.execPath, [CLI_PATH, 'task', 'watch', id, '--server', server.url], { env: { ...process.env, BLOCKRIG_PASSWORD: TEST_PASSWORD } });
    const whileRunning: TaskRecord[] = [];
    const controllersSeen: ControllerView[] = [];
    let task: TaskRecord | undefined;
    await waitFor(
      async () => {
        controllersSeen.push(...(await server.cluster('c1')).controllers);
        task = await server.task(id);
        if (task?.state === 'running' && taskProgress(task)?.partitionStates !== undefined) whileRunning.push(task);
        return task?.state === 'succeeded' || task?.state === 'failed';
      },
      45_000,
      'the fill to end',
      100,
    );
    expect(task?.state, task?.error ?? '').toBe('succeeded');
    // Partitions seen completing before the end: some COMPLETE, not all; the owner of a claimed partition is named.
    const partial = whileRunning.map((t) => taskProgress(t)).find((p) => {
      const done = p?.partitionStates?.filter((s) => s === 'COMPLETE').length ?? 0;
      return done > 0 && done < PARTITIONS;
    });
    expect(partial, `records while running: ${JSON.stringify(whileRunning.map((t) => taskProgress(t)?.counts))} ${JSON.stringify(whileRunning.map((t) => taskProgress(t)?.bytesDone))}`).toBeDefined();
    expect(partial?.partitionStates).toHaveLength(PARTITIONS);
    expect(partial?.bytesDone).toBeGreaterThan(0);
    expect(partial?.length).toBe(16 << 20);
    const owned = partial?.partitionStates?.findIndex((s) => s !== 'READY') ?? -1;
    expect(partial?.partitionOwners?.[owned]).toMatch(/^controller slot \d+$/);
    const final = taskProgress(task ?? { result: null });
    expect(final?.partitionStates?.every((s) => s === 'COMPLETE')).toBe(true);
    expect(final?.partitionStates).toHaveLength(PARTITIONS);
    // The region's host slots reached the server too: the driver's in-process controller, live, running a
    // chunk of this task, and the driver itself as a client; both leave their slots at the end.
    const taskHex = (task?.result as { id?: string } | null)?.id;
    expect(controllersSeen.some((c) => c.role === 'controller' && c.live && c.running !== null && c.running.taskId === taskHex && c.running.chunk !== null), JSON.stringify(controllersSeen.slice(-4))).toBe(true);
    expect(controllersSeen.some((c) => c.role === 'client' && c.live)).toBe(true);
    await waitFor(async () => (await server.cluster('c1')).controllers.length === 0, 10_000, 'host slots released');
    expect(await watch.exited).toBe(0);
    const lines = watch.stderr().split('\n');
    expect(lines.some((l) => /: running ([1-9]|[12]\d|3[01])\/32 partitions/.test(l)), watch.stderr()).toBe(true);
    expect(lines.some((l) => /: succeeded 32\/32 partitions/.test(l))).toBe(true);
  }, 60_000);
});
