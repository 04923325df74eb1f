/**
 * Live progress of a task while its driver process waits for it: per-partition states with the host slot
 * of the controller that last wrote each partition's chunk (its owner), counts and bytes done, read from
 * the metadata region through the task library's exports. The driver prints each reading as one JSON line
 * (`{"event":"progress",...}`) on stdout; the agent reads the newest line of the driver's output file and
 * stores it in the task record's `result`, so servers, the dashboard and `blockrig task watch` show it
 * while the task runs. The shape is the wire's `TaskProgressSchema`.
 */
import { PARTITION_STATE_NAMES, PartitionState } from '../metadata/chunk-record.js';
import type { MetadataRegion } from '../metadata/region.js';
import { countStates, findTask, flatten, readTaskChunks } from '../tasks/progress.js';
import type { TaskProgress } from '../wire/index.js';

/** A progress line as the driver prints it. */
export type ProgressLine = TaskProgress & { event: 'progress' };

/** Reads a task's partition progress from the region. */
export async function readPartitionProgress(region: MetadataRegion, taskId: number): Promise<ProgressLine> {
  const found = await findTask(region, taskId);
  const { slots, chunks } = await readTaskChunks(region, found.slot, found.task);
  const { states, bytesDone } = flatten(found.task, chunks);
  const partitionOwners = chunks.flatMap((c, i) => {
    const writer = slots[i]?.pingPong.current?.header.writerSlot ?? -1;
    return Array.from({ length: c.partitionCount }, (_, k) => {
      const state = c.states[k] ?? PartitionState.Ready;
      return state === PartitionState.Ready || writer < 0 ? null : `controller slot ${writer}`;
    });
  });
  return {
    event: 'progress',
    partitions: found.task.partitions,
    length: found.task.spec.length,
    bytesDone,
    counts: { ...countStates(states) },
    partitionStates: states.map((s) => PARTITION_STATE_NAMES[s] ?? 'READY'),
    partitionOwners,
    paused: found.task.paused === true,
  };
}

/** The newest progress line of a driver's output, or null when it has printed none (or finished). */
export function lastProgressLine(output: string): ProgressLine | null {
  const lines = output.trimEnd().split('\n');
  const last = lines[lines.length - 1];
  if (last === undefined || !last.startsWith('{"event":"progress"')) return null;
  try {
    return JSON.parse(last) as ProgressLine;
  } catch {
    return null; // a line still being written
  }
}
