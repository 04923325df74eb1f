/**
 * `task watch ID` and `task submit --wait` over a server: follows the task by live events (failing over to
 * the other server when this one dies), draws a progress bar with partitions, rate and ETA on a terminal
 * (a line per change otherwise), and returns the final record. Exit statuses: succeeded 0, failed 14
 * (TASK_FAILED), cancelled 130 (CANCELLED).
 */
import { SingleBar } from 'cli-progress';
import { z } from 'zod';
import { BlockrigError, ErrorCode } from '../../errors.js';
import { formatRate } from '../../units.js';
import { FINAL_TASK_STATES, rateAndEta, taskProgress, TaskRecordSchema, type ProgressSample, type TaskRecord } from '../../wire/index.js';
import type { ApiClient } from './api-client.js';
import { followEvents } from './event-stream.js';

/** Exit status for a finished task's state. */
export function exitStatusOf(task: TaskRecord): number {
  if (task.state === 'succeeded') return 0;
  return task.state === 'cancelled' ? 130 : 14;
}

/** The error a finished, unsuccessful task is reported as (`--json` prints it with the record). */
export function taskError(task: TaskRecord): BlockrigError | null {
  if (task.state === 'succeeded') return null;
  const code = task.state === 'cancelled' ? ErrorCode.Cancelled : ErrorCode.TaskFailed;
  return new BlockrigError(code, `task ${task.id} ${task.state}${task.error === null ? '' : `: ${task.error}`}`, { details: { task: task.id, state: task.state } });
}

/** What the bar shows for a record. */
function barValues(task: TaskRecord): { total: number; value: number; unit: string } {
  const p = taskProgress(task);
  const partitions = p?.partitions ?? (typeof task.args.partitions === 'number' ? task.args.partitions : undefined);
  if (partitions !== undefined && partitions > 0) {
    const complete = p?.counts?.complete ?? p?.partitionStates?.filter((s) => s === 'COMPLETE').length ?? (task.state === 'succeeded' ? partitions : 0);
    return { total: partitions, value: complete, unit: 'partitions' };
  }
  return { total: 1, value: task.state === 'succeeded' ? 1 : 0, unit: 'task' };
}

/** Follows task `id` until it is final; `quiet` draws nothing (for `--json`). */
export async function watchTask(client: ApiClient, id: string, options: { quiet: boolean; stream?: NodeJS.WriteStream } = { quiet: false }): Promise<TaskRecord> {
  const out = options.stream ?? process.stderr;
  const path = `/api/v1/tasks/${encodeURIComponent(id)}`;
  let task = await client.get(TaskRecordSchema, path);
  const samples: ProgressSample[] = [];
  const tty = out.isTTY && !options.quiet;
  const bar = tty ? new SingleBar({ format: `${id.slice(0, 12)} {bar} {value}/{total} {unit} | {state} | {rate} | ETA {eta_text}`, hideCursor: true, stream: out, etaBuffer: 20 }) : null;
  const draw = (t: TaskRecord): void => {
    const bytes = taskProgress(t)?.bytesDone;
    if (bytes !== undefined && samples[samples.length - 1]?.bytesDone !== bytes) samples.push({ atMs: performance.now(), bytesDone: bytes });
    const { rate, etaSeconds } = rateAndEta(samples, taskProgress(t)?.length);
    const v = barValues(t);
    const payload = { unit: v.unit, state: t.state, rate: rate === null ? 'no estimate' : formatRate(rate), eta_text: etaSeconds === null ? 'no estimate' : `${Math.round(etaSeconds)}s` };
    if (bar) {
      bar.setTotal(v.total);
      bar.update(v.value, { ...payload });
    } else if (!options.quiet) out.write(`task ${t.id}: ${t.state} ${v.value}/${v.total} ${v.unit}, rate ${payload.rate}, ETA ${payload.eta_text}\n`);
  };
  if (bar) bar.start(barValues(task).total, barValues(task).value, { unit: '', state: task.state, rate: 'no estimate', eta_text: 'no estimate' });
  draw(task);
  const stop = new AbortController();
  const accept = (next: TaskRecord): boolean => {
    if (next.id !== id || next.updatedAt < task.updatedAt) return false;
    const changed = next.state !== task.state || next.updatedAt !== task.updatedAt;
    task = next;
    if (changed) draw(task);
    return FINAL_TASK_STATES.includes(task.state);
  };
  if (!FINAL_TASK_STATES.includes(task.state)) {
    await followEvents(
      client,
      (e) => e.type === 'task.changed' && accept(e.task),
      stop.signal,
      // After (re)connecting, read the record: a change may have happened while no stream was open.
      async () => {
        const fresh = await client.get(TaskRecordSchema.or(z.null()), path).catch(() => null);
        if (fresh && accept(fresh)) stop.abort();
      },
    );
  }
  bar?.stop();
  return task;
}
