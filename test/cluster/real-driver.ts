/**
 * Clusters whose tasks run on the real driver process (`blockrig driver run`) for failover tests: a
 * formatted metadata region on a file and a task target that takes a few seconds to fill (an nbdkit
 * memory export behind its delay filter), so a test can wait for observable progress and then kill
 * something mid-task. "Neither lost nor run twice" is then checked on the region itself: every task the
 * store holds ran one driver process, which submitted exactly one task to the region, finished there.
 */
import { existsSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDevice } from '../../drivers/index.js';
import { formatRegion } from '../../src/metadata/format.js';
import { MetadataRegion } from '../../src/metadata/region.js';
import { hexId, TASK_STATE_NAMES } from '../../src/metadata/task-record.js';
import { ClusterStore } from '../../src/cluster/store.js';
import type { TaskRecord } from '../../src/wire/index.js';
import { startProcess, waitFor } from '../support/processes.js';
import { requireCommand } from '../support/requirements.js';
import { waitForSocket, type ServerHandle } from './rig.js';

/** Partitions of a test fill: 64 writes of 1 MiB at 40 ms each, a few seconds in all. */
export const SLOW_FILL_PARTITIONS = 64;

/** The parts of a real-driver cluster: its region, its slow target, and the task arguments for a fill. */
export interface RealDriverCluster {
  meta: string;
  target: string;
  fillArgs: { target: string; partitions: number };
}

/**
 * Formats a metadata region and starts the slow nbdkit target of cluster `id` in `dir`: `partitions` MiB,
 * `writeDelayMs` per 1 MiB write.
 */
export async function realDriverCluster(dir: string, id: string, writeDelayMs = 40, partitions = SLOW_FILL_PARTITIONS): Promise<RealDriverCluster> {
  requireCommand('nbdkit', 'nbdkit');
  const meta = join(dir, `${id}-meta.img`);
  writeFileSync(meta, '');
  truncateSync(meta, 32 << 20);
  const device = await openDevice(meta);
  await formatRegion(device, { force: true, timing: { heartbeatIntervalMs: 200 } });
  await device.close();
  const socket = join(dir, `${id}-target.sock`);
  startProcess('nbdkit', ['-f', '-U', socket, '--exit-with-parent', '--filter=delay', 'memory', `${partitions}M`, `delay-write=${writeDelayMs}ms`]);
  await waitForSocket(socket, `the nbdkit target of ${id}`);
  const target = `nbd+unix:///?socket=${socket}`;
  return { meta, target, fillArgs: { target, partitions } };
}

/** The driver's completion status (or its latest progress line) as stored in a task's `result`. */
export interface DriverResult {
  id?: string;
  kind?: string;
  counts?: { complete: number; failed: number };
  outcome?: { status: string; byInitiator: boolean };
}

/** Waits until a server shows the task's driver has completed at least one partition. */
export async function waitForProgress(server: ServerHandle, taskId: string): Promise<void> {
  await waitFor(async () => (((await server.task(taskId))?.result as DriverResult | null)?.counts?.complete ?? 0) > 0, 30_000, `task ${taskId} to show progress on ${server.id}`);
}

/** Runs `read` on the region of `meta`, opened read-only. */
async function withRegion<T>(meta: string, read: (region: MetadataRegion) => Promise<T>): Promise<T> {
  const device = await openDevice(meta, { readOnly: true });
  try {
    return await read(await MetadataRegion.open(device));
  } finally {
    await device.close();
  }
}

/** The region's tasks: id, state, paused, and whether the initiator (the driver) performed the completion. */
export async function regionTasks(meta: string): Promise<{ id: string; state: string; kind: string; paused: boolean; byInitiator: boolean | undefined }[]> {
  return withRegion(meta, async (region) =>
    (await region.readTasks()).flatMap((s) =>
      s.value === undefined || s.value.state === 0
        ? []
        : [{ id: hexId(s.value.taskId), state: TASK_STATE_NAMES[s.value.state] ?? 'unknown', kind: s.value.spec.kind, paused: s.value.paused === true, byInitiator: s.value.outcome?.byInitiator }],
    ),
  );
}

/** The region's occupied host slots: pid, state (2 live), heartbeat counter and the task id claimed, if any. */
export async function regionHosts(meta: string): Promise<{ slot: number; pid: number; state: number; heartbeat: number; claimedTask: string | null }[]> {
  return withRegion(meta, async (region) =>
    (await region.readHosts()).flatMap((s, slot) =>
      s.value === undefined || s.value.state === 0 ? [] : [{ slot, pid: s.value.pid, state: s.value.state, heartbeat: s.value.heartbeat, claimedTask: s.value.claim === undefined ? null : hexId(s.value.claim.taskId) }],
    ),
  );
}

/**
 * Asserts a cluster's tasks were neither lost nor run twice on the real driver: each succeeded after one
 * driver process (no second attempt's output exists), and the region holds exactly one finished task per
 * stored task, the one that task's driver reported. Returns a problem in words, or null.
 */
export async function ranOnceEach(tasks: readonly TaskRecord[], meta: string, dataDir: string): Promise<string | null> {
  const inRegion = await regionTasks(meta);
  for (const t of tasks) {
    if (t.state !== 'succeeded') return `task ${t.id} is ${t.state}: ${t.error ?? ''}`;
    if (t.attempts !== 1) return `task ${t.id} used ${t.attempts} driver processes`;
    if (existsSync(join(dataDir, 'drivers', `${t.id}.2.out`))) return `task ${t.id} started a second driver process`;
    const regionId = (t.result as DriverResult | null)?.id;
    const found = inRegion.filter((r) => r.id === regionId);
    if (found.length !== 1 || found[0]?.state !== 'finished') return `task ${t.id}: region task ${regionId ?? '-'} found ${found.length} times (${JSON.stringify(found)})`;
  }
  if (inRegion.length !== tasks.length) return `the region holds ${inRegion.length} tasks for ${tasks.length} issued: ${JSON.stringify(inRegion)}`;
  return null;
}

/**
 * Kills the driver processes still running for unfinished tasks of the clusters in `dir` (each in its own
 * process group, they outlive their agents by design): a test that ends, or fails, mid-task must not leave
 * them waiting on a region whose controllers are gone.
 */
export function stopLeftoverDrivers(dir: string, clusterIds: readonly string[]): void {
  for (const id of clusterIds) {
    if (!existsSync(join(dir, id, 'cluster.db'))) continue;
    const store = new ClusterStore(join(dir, id), id);
    try {
      for (const t of store.tasks()) {
        if (t.driverPid === null || ['succeeded', 'failed', 'cancelled'].includes(t.state)) continue;
        try {
          process.kill(-t.driverPid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    } finally {
      store.close();
    }
  }
}
