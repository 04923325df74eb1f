/** Reading a task's state from the region: per-partition states, counts and bytes done. */
import { PARTITION_STATE_NAMES, PartitionState, type ChunkRecord } from '../metadata/chunk-record.js';
import { chunkForTask, type MetadataRegion, type Slot } from '../metadata/region.js';
import { TASK_STATE_NAMES, hexId, type TaskOutcome, type TaskRecord } from '../metadata/task-record.js';
import { NotFoundError } from '../errors.js';

/** A task found in a task slot. */
export interface FoundTask {
  slot: number;
  sequence: number;
  task: TaskRecord;
}

/** Counts of partitions per state. */
export interface PartitionCounts {
  ready: number;
  inProgress: number;
  complete: number;
  failed: number;
}

/** The status of a task as `task show`, `task submit --wait --json` and `waitForTask` report it. */
export interface TaskStatus {
  /** Task id, 8 hex digits. */
  id: string;
  slot: number;
  kind: string;
  state: (typeof TASK_STATE_NAMES)[number];
  target: string;
  offset: number;
  length: number;
  partitions: number;
  partitionSize: number;
  chunks: number;
  counts: PartitionCounts;
  /** Bytes of COMPLETE partitions plus checkpointed progress of IN PROGRESS ones. */
  bytesDone: number;
  /** Initiator host slot, or null for "any controller". */
  initiator: number | null;
  outcome: TaskOutcome | null;
}

/** Parses a task id as printed (hex, optionally 0x-prefixed). */
export function parseTaskId(text: string): number {
  if (!/^(0x)?[0-9a-f]{1,8}$/i.test(text)) throw new NotFoundError(`"${text}" is not a task id: task ids are 8 hex digits, as blockrig task list prints them`, { details: { field: 'id', value: text } });
  return parseInt(text.replace(/^0x/i, ''), 16) >>> 0;
}

/** Finds a task by id in the slots; throws `NotFoundError` naming the id. */
export async function findTask(region: MetadataRegion, taskId: number): Promise<FoundTask> {
  const slots = await region.readTasks();
  for (const [slot, s] of slots.entries()) {
    if (s.value !== undefined && s.value.taskId === taskId && s.value.state !== 0) return { slot, sequence: s.pingPong.sequence, task: s.value };
  }
  throw new NotFoundError(`no task ${hexId(taskId)} in the metadata region on ${region.device.uri}: list tasks with blockrig task list`, { details: { id: hexId(taskId) } });
}

/** Reads the chunk records of a task, as the task sees them. */
export async function readTaskChunks(region: MetadataRegion, slot: number, task: TaskRecord): Promise<{ slots: Slot<ChunkRecord>[]; chunks: ChunkRecord[] }> {
  const slots = await region.readChunks(slot, 0, task.chunks);
  return { slots, chunks: slots.map((s, c) => chunkForTask(s, task, c)) };
}

/** Per-partition states and results of a task, flattened. */
export function flatten(task: TaskRecord, chunks: readonly ChunkRecord[]): { states: PartitionState[]; results: number[]; bytesDone: number } {
  const states: PartitionState[] = [];
  const results: number[] = [];
  let bytesDone = 0;
  for (const c of chunks) {
    for (let i = 0; i < c.partitionCount; i++) {
      const p = c.firstPartition + i;
      const st = c.states[i] ?? PartitionState.Ready;
      states.push(st);
      results.push(c.results[i] ?? 0);
      const size = Math.min(task.spec.partitionSize, task.spec.length - p * task.spec.partitionSize);
      if (st === PartitionState.Complete || st === PartitionState.Failed) bytesDone += size;
      else if (st === PartitionState.InProgress && c.checkpoint?.partition === p) bytesDone += Math.min(size, c.checkpoint.bytesDone);
    }
  }
  return { states, results, bytesDone };
}

/** Counts partitions per state. */
export function countStates(states: readonly PartitionState[]): PartitionCounts {
  const counts: PartitionCounts = { ready: 0, inProgress: 0, complete: 0, failed: 0 };
  for (const s of states) {
    if (s === PartitionState.Ready) counts.ready++;
    else if (s === PartitionState.InProgress) counts.inProgress++;
    else if (s === PartitionState.Complete) counts.complete++;
    else counts.failed++;
  }
  return counts;
}

/** True when no partition is READY or IN PROGRESS. */
export function allDone(counts: PartitionCounts): boolean {
  return counts.ready === 0 && counts.inProgress === 0;
}

/** Builds the status of a found task. */
export async function taskStatus(region: MetadataRegion, found: FoundTask): Promise<TaskStatus & { partitionStates: string[] }> {
  const { task, slot } = found;
  const { chunks } = await readTaskChunks(region, slot, task);
  const flat = flatten(task, chunks);
  const counts = countStates(flat.states);
  return {
    id: hexId(task.taskId),
    slot,
    kind: task.spec.kind,
    state: TASK_STATE_NAMES[task.state],
    target: task.spec.target,
    offset: task.spec.offset,
    length: task.spec.length,
    partitions: task.partitions,
    partitionSize: task.spec.partitionSize,
    chunks: task.chunks,
    counts,
    bytesDone: flat.bytesDone,
    initiator: task.spec.initiator?.slot ?? null,
    outcome: task.outcome ?? null,
    partitionStates: flat.states.map((s) => PARTITION_STATE_NAMES[s]),
  };
}
