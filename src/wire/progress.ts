/**
 * A task's partition progress as the dashboard and the CLI show it, read out of what the cluster
 * reported: the driver process's status JSON (`blockrig task submit --wait --json` prints the region's
 * task status: partitions, counts, bytes done, per-partition states). The record's `result` is opaque to
 * the server, so this schema is lenient and every field is optional; missing means "not reported".
 * Also the rate and ETA arithmetic, from samples on the reader's own clock. Runtime-neutral.
 */
import { z } from 'zod';
import type { TaskRecord } from './task.js';

/** Partition states in the region, as `task show` names them. */
export const PARTITION_STATE_LABELS = ['READY', 'IN PROGRESS', 'COMPLETE', 'FAILED'] as const;
/** A partition state label. */
export type PartitionLabel = (typeof PARTITION_STATE_LABELS)[number];

/** The progress fields a driver status may carry. */
export const TaskProgressSchema = z.looseObject({
  partitions: z.number().int().nonnegative().optional(),
  length: z.number().nonnegative().optional(),
  bytesDone: z.number().nonnegative().optional(),
  counts: z
    .looseObject({ ready: z.number().int(), inProgress: z.number().int(), complete: z.number().int(), failed: z.number().int() })
    .optional(),
  partitionStates: z.array(z.enum(PARTITION_STATE_LABELS)).optional(),
  /** Controller (host slot or id) owning each partition's chunk, when reported. */
  partitionOwners: z.array(z.union([z.string(), z.number(), z.null()])).optional(),
  /** True while the task is paused in the metadata region (its controllers claim nothing of it). */
  paused: z.boolean().optional(),
});
/** Progress fields of a task. */
export type TaskProgress = z.infer<typeof TaskProgressSchema>;

/** One partition cell. */
export interface PartitionCell {
  index: number;
  state: PartitionLabel;
  owner: string | null;
}

/** The progress reported for a task, or null when its record carries none. */
export function taskProgress(task: Pick<TaskRecord, 'result'>): TaskProgress | null {
  const parsed = TaskProgressSchema.safeParse(task.result);
  return parsed.success ? parsed.data : null;
}

/** Per-partition cells from reported states (or from counts alone, in state order), else none. */
export function partitionCells(progress: TaskProgress | null): PartitionCell[] {
  if (progress === null) return [];
  const owners = progress.partitionOwners ?? [];
  const owner = (i: number): string | null => {
    const o = owners[i];
    return o === undefined || o === null ? null : String(o);
  };
  if (progress.partitionStates) return progress.partitionStates.map((state, index) => ({ index, state, owner: owner(index) }));
  const c = progress.counts;
  if (!c) return [];
  const states: PartitionLabel[] = [
    ...Array<PartitionLabel>(c.complete).fill('COMPLETE'),
    ...Array<PartitionLabel>(c.failed).fill('FAILED'),
    ...Array<PartitionLabel>(c.inProgress).fill('IN PROGRESS'),
    ...Array<PartitionLabel>(c.ready).fill('READY'),
  ];
  return states.map((state, index) => ({ index, state, owner: owner(index) }));
}

/** A sample of bytes done at a time on the reader's monotonic clock. */
export interface ProgressSample {
  atMs: number;
  bytesDone: number;
}

/** Rate (bytes/s) and ETA (s) from the first and last samples; null where there is no estimate yet. */
export function rateAndEta(samples: readonly ProgressSample[], totalBytes: number | undefined): { rate: number | null; etaSeconds: number | null } {
  const first = samples[0];
  const last = samples[samples.length - 1];
  if (!first || !last || last.atMs <= first.atMs || last.bytesDone <= first.bytesDone) return { rate: null, etaSeconds: null };
  const rate = ((last.bytesDone - first.bytesDone) * 1000) / (last.atMs - first.atMs);
  const etaSeconds = totalBytes === undefined ? null : Math.max(0, (totalBytes - last.bytesDone) / rate);
  return { rate, etaSeconds };
}
