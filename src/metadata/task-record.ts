/**
 * Task records, the task coordination object (docs/on-disk-format.md, section 6): what operation, on
 * which data set, split how, started by whom, and how it ended. Written only by the holder of the claim
 * on the task slot's record (claim index -1): the submitter when creating it, `task cancel`, and the one
 * host that performs the completion actions.
 *
 * Payload, little-endian:
 *    0 u32 task id (random, non-zero)      16 u32 chunks
 *    4 u32 state: 0 empty, 1 active, 2 finished, 3 failed, 4 cancelled
 *    8 u32 partitions                      20 u32 spec JSON length (S)
 *   12 u32 partitions per chunk            24 u32 outcome JSON length (O), 0 while active
 *   28 u32 flags: bit 0 paused (0 in records written before it existed)
 *   32 spec JSON (UTF-8), then the outcome JSON
 * Both JSON documents are validated with the zod schemas below when read; a record that fails is corrupt.
 */
import { z } from 'zod';
import { MAX_PAYLOAD } from './record.js';

/** States of a task. */
export const TaskState = { Empty: 0, Active: 1, Finished: 2, Failed: 3, Cancelled: 4 } as const;
/** A task state number. */
export type TaskState = (typeof TaskState)[keyof typeof TaskState];
/** Printed names of task states. */
export const TASK_STATE_NAMES = ['empty', 'active', 'finished', 'failed', 'cancelled'] as const;

/** What the task does and to which data: the operation and the data set (seed claim 002/33). */
export const taskSpecSchema = z.object({
  kind: z.string().min(1).max(32),
  /** Device URI of the data set. */
  target: z.string().min(1).max(1024),
  /** First byte of the data set on the target. */
  offset: z.number().int().min(0),
  /** Bytes of the data set. */
  length: z.number().int().min(1),
  /** Bytes per partition; the last partition may be shorter. */
  partitionSize: z.number().int().min(1),
  /** Parameters of the task kind (validated by the kind). */
  params: z.record(z.string(), z.unknown()),
  /** The initiator that will perform the completion actions, or null for "any controller". */
  initiator: z.object({ slot: z.number().int().min(0), incarnation: z.number().int().min(0) }).nullable(),
  /** Wall time of submission, for display only. */
  submittedAt: z.number(),
});
/** The spec of a task. */
export type TaskSpec = z.infer<typeof taskSpecSchema>;

/** How a task ended and what its completion actions recorded. */
export const taskOutcomeSchema = z.object({
  status: z.enum(['finished', 'failed', 'cancelled']),
  /** Host slot that performed the completion actions (or cancelled). */
  by: z.number().int(),
  byIncarnation: z.number().int(),
  /** Whether that host was the task's initiator. */
  byInitiator: z.boolean(),
  /** Wall time, for display only. */
  at: z.number(),
  /** The task kind's summary (mismatch count, checksum, ...). */
  result: z.record(z.string(), z.unknown()),
  /** Completion actions performed, in order, in words. */
  actions: z.array(z.string()),
  failedPartitions: z.number().int().min(0),
});
/** The outcome of a task. */
export type TaskOutcome = z.infer<typeof taskOutcomeSchema>;

/** A decoded task record. */
export interface TaskRecord {
  taskId: number;
  state: TaskState;
  partitions: number;
  chunkPartitions: number;
  chunks: number;
  spec: TaskSpec;
  outcome: TaskOutcome | undefined;
  /** Paused by an operator: controllers claim none of its chunks and stop after their current partition. */
  paused?: boolean;
}

/** Bit of the flags word (offset 28) that says the task is paused. */
const FLAG_PAUSED = 1;

/** Encodes a task record payload; throws `RangeError` when the JSON does not fit in one block. */
export function encodeTaskRecord(t: TaskRecord): Buffer {
  const spec = Buffer.from(JSON.stringify(t.spec), 'utf8');
  const outcome = t.outcome ? Buffer.from(JSON.stringify(t.outcome), 'utf8') : Buffer.alloc(0);
  if (32 + spec.length + outcome.length > MAX_PAYLOAD) {
    throw new RangeError(`task record of ${32 + spec.length + outcome.length} bytes does not fit in ${MAX_PAYLOAD}: shorten the target URI or parameters`);
  }
  const p = Buffer.alloc(32 + spec.length + outcome.length);
  p.writeUInt32LE(t.taskId >>> 0, 0);
  p.writeUInt32LE(t.state, 4);
  p.writeUInt32LE(t.partitions, 8);
  p.writeUInt32LE(t.chunkPartitions, 12);
  p.writeUInt32LE(t.chunks, 16);
  p.writeUInt32LE(spec.length, 20);
  p.writeUInt32LE(outcome.length, 24);
  p.writeUInt32LE(t.paused === true ? FLAG_PAUSED : 0, 28);
  spec.copy(p, 32);
  outcome.copy(p, 32 + spec.length);
  return p;
}

/** Decodes a task record payload; returns a problem string when it does not validate. */
export function decodeTaskRecord(p: Buffer): TaskRecord | string {
  if (p.length < 32) return `task record payload is ${p.length} bytes, expected at least 32`;
  const state = p.readUInt32LE(4);
  if (state > 4) return `task state ${state} is not 0-4`;
  const specLength = p.readUInt32LE(20);
  const outcomeLength = p.readUInt32LE(24);
  if (32 + specLength + outcomeLength > p.length) return 'task record JSON lengths run past the payload';
  try {
    const spec = taskSpecSchema.parse(JSON.parse(p.toString('utf8', 32, 32 + specLength)));
    const outcome = outcomeLength === 0 ? undefined : taskOutcomeSchema.parse(JSON.parse(p.toString('utf8', 32 + specLength, 32 + specLength + outcomeLength)));
    const record: TaskRecord = {
      taskId: p.readUInt32LE(0),
      state: state as TaskState,
      partitions: p.readUInt32LE(8),
      chunkPartitions: p.readUInt32LE(12),
      chunks: p.readUInt32LE(16),
      spec,
      outcome,
      ...((p.readUInt32LE(28) & FLAG_PAUSED) !== 0 ? { paused: true } : {}),
    };
    if (record.chunkPartitions === 0 || record.chunks !== Math.ceil(record.partitions / record.chunkPartitions)) {
      return `task ${hexId(record.taskId)}: ${record.partitions} partitions in chunks of ${record.chunkPartitions} do not make ${record.chunks} chunks`;
    }
    return record;
  } catch (err) {
    return `task record JSON does not validate: ${err instanceof Error ? err.message.slice(0, 200) : String(err)}`;
  }
}

/** The printed form of a task id: 8 hex digits. */
export function hexId(taskId: number): string {
  return (taskId >>> 0).toString(16).padStart(8, '0');
}

/** True for the states in which a task no longer runs. */
export function isTerminal(state: TaskState): boolean {
  return state === TaskState.Finished || state === TaskState.Failed || state === TaskState.Cancelled;
}
