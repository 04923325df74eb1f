/**
 * The driver process's work (`blockrig driver run KIND --meta URI ...`, claims 000/20-21): a separate OS
 * process that runs one task through the controller library and the metadata region. It joins the region
 * as a client host, submits the task as its initiator, waits until every partition is COMPLETE (performing
 * the completion actions), and prints the final status as JSON: the completion status the agent receives.
 * With `runPartitions` it also runs a controller in-process, for clusters without separate controller
 * processes. SIGTERM (the agent's cancel) cancels the task in the region before exiting. A volume task
 * (`volume` given) takes its data set from the cluster's volume table (`driver-volume-task.ts`).
 */
import { hostname } from 'node:os';
import { openDevice } from '../../drivers/index.js';
import type { BlockDevice } from '../../drivers/types.js';
import { systemClock } from '../clock.js';
import { CancelledError, TaskFailedError } from '../errors.js';
import { Controller } from '../controller/controller.js';
import { HostSession } from '../controller/host-session.js';
import { HostRole } from '../metadata/host-record.js';
import { MetadataRegion } from '../metadata/region.js';
import { defaultTaskKinds } from '../tasks/kinds.js';
import { cancelTask, submitTask, waitForTask, type Completion } from '../tasks/lifecycle.js';
import { attachTask } from './driver-attach.js';
import { followPauseRequests } from './driver-pause.js';
import { readPartitionProgress, type ProgressLine } from './driver-progress.js';
import { mismatchLocations, planVolumeTask, type MismatchLocation, type VolumeTaskRequest } from './driver-volume-task.js';

/** What to run. */
export interface DriverTask {
  kind: string;
  meta: string;
  target?: string;
  offset?: number;
  length?: number;
  partitions?: number;
  partitionSize?: number;
  params: Record<string, unknown>;
  /** A volume task: the volume and its arguments; the data set and parameters come from the volume table. */
  volume?: Omit<VolumeTaskRequest, 'kind'>;
  /** Also run a controller in this process. */
  runPartitions: boolean;
  /** Aborted by SIGTERM: cancel the task and stop. */
  signal: AbortSignal;
  /** Called with the task's partition progress every `progressMs` while it runs. */
  onProgress?: (progress: ProgressLine) => void;
  /** Interval of progress readings (default 500 ms). */
  progressMs?: number;
  /** The agent's pause/resume requests for this task (`driver-pause.ts`), applied in the region. */
  controlFile?: string;
  /** Wait for this region task (submitted by a killed predecessor) instead of submitting one (`driver-attach.ts`). */
  attach?: number;
  /** Called with the region task's id once it is submitted (or attached). */
  onSubmitted?: (id: string) => void;
}

/**
 * The final status: the library's completion, with the partition cells when progress was reported, and
 * for a volume scrub the member byte ranges of the partitions that had mismatches.
 */
export type DriverCompletion = Completion & Partial<Pick<ProgressLine, 'partitionStates' | 'partitionOwners'>> & { mismatchLocations?: MismatchLocation[] };

/** Reads and reports progress every `intervalMs` until `signal` aborts; a failed reading is skipped. */
async function reportProgress(region: MetadataRegion, taskId: number, onProgress: (p: ProgressLine) => void, intervalMs: number, signal: AbortSignal): Promise<void> {
  while (!signal.aborted) {
    try {
      onProgress(await readPartitionProgress(region, taskId));
    } catch {
      // Transient read trouble or the task slot being rewritten: the next reading will do.
    }
    await systemClock.sleep(intervalMs, signal).catch(() => undefined);
  }
}

/** Runs one task to its end; resolves with the final status (throws the library's error when it failed). */
export async function runDriverTask(task: DriverTask): Promise<DriverCompletion> {
  const devices: BlockDevice[] = [];
  const open = async (uri: string): Promise<BlockDevice> => {
    const device = await openDevice(uri);
    devices.push(device);
    return device;
  };
  const kinds = defaultTaskKinds();
  const stopController = new AbortController();
  let controllerRun: Promise<void> | undefined;
  let client: HostSession | undefined;
  try {
    if (task.runPartitions) {
      const controller = await Controller.start({ region: await MetadataRegion.open(await open(task.meta)), clock: systemClock, kinds, hostname: `${hostname()}-driver`, pid: process.pid, openTarget: open });
      controllerRun = controller.run(stopController.signal);
    }
    client = await HostSession.join({ region: await MetadataRegion.open(await open(task.meta)), clock: systemClock, role: HostRole.Client, hostname: hostname(), pid: process.pid });
    const session = client;
    // A driver attaching to its predecessor's region task takes that task as it is (a volume task's plan was made then).
    const plan = task.volume === undefined || task.attach !== undefined ? undefined : await planVolumeTask({ kind: task.kind as VolumeTaskRequest['kind'], ...task.volume }, open);
    const spec = plan ?? task;
    // The data set defaults to the whole target device: its size comes from the driver layer.
    const targetSize = spec.target !== undefined && spec.length === undefined ? (await open(spec.target)).size : undefined;
    const submitted = task.attach !== undefined ? await attachTask(session.region, task.attach, task.kind) : await submitTask(session, kinds, {
      ...(targetSize === undefined ? {} : { targetSize }),
      kind: task.kind,
      ...(spec.target === undefined ? {} : { target: spec.target }),
      ...(spec.offset === undefined ? {} : { offset: spec.offset }),
      ...(spec.length === undefined ? {} : { length: spec.length }),
      ...(plan === undefined && task.partitions !== undefined ? { partitions: task.partitions } : {}),
      ...(spec.partitionSize === undefined ? {} : { partitionSize: spec.partitionSize }),
      params: spec.params,
      initiator: true,
    });
    task.onSubmitted?.(submitted.id);
    const reporting = new AbortController();
    const report = task.onProgress === undefined ? undefined : reportProgress(session.region, submitted.taskId, task.onProgress, task.progressMs ?? 500, reporting.signal);
    const pausing = task.controlFile === undefined ? undefined : followPauseRequests(session, submitted.taskId, task.controlFile, task.progressMs ?? 500, reporting.signal, (line) => process.stderr.write(`driver: ${line}\n`));
    try {
      const completion = await waitForTask(session, kinds, submitted.taskId, { signal: task.signal });
      // Every partition of a copy may complete and the copy still not take the slot (the member failed mid-copy).
      const result = completion.outcome?.result as { status?: unknown; reason?: unknown } | undefined;
      if (task.kind === 'volume-copy' && result?.status === 'failed') {
        throw new TaskFailedError(`copy task ${submitted.id}: ${String(result.reason)}`, { details: { status: completion } });
      }
      // The final cells (with owners) go with the completion status, so a finished task still shows them.
      const cells = task.onProgress === undefined ? null : await readPartitionProgress(session.region, submitted.taskId).catch(() => null);
      const withCells: DriverCompletion = cells === null ? completion : { ...completion, partitionStates: cells.partitionStates, partitionOwners: cells.partitionOwners };
      return task.volume !== undefined && task.kind === 'volume-scrub' ? { ...withCells, mismatchLocations: mismatchLocations(completion, completion.outcome?.result) } : withCells;
    } catch (err) {
      if (!task.signal.aborted) throw err;
      await cancelTask(session, submitted.taskId).catch(() => undefined);
      throw new CancelledError(`task ${submitted.id} cancelled in the metadata region`, { details: { task: submitted.id } });
    } finally {
      reporting.abort();
      await report;
      await pausing;
    }
  } finally {
    stopController.abort();
    await controllerRun?.catch(() => undefined);
    await client?.leave().catch(() => undefined);
    await kinds.close();
    await Promise.all(devices.map((d) => d.close().catch(() => undefined)));
  }
}
