/**
 * A driver process started again for the same task attaches to the region task its killed predecessor
 * submitted, instead of submitting a second one (docs/agents-and-servers.md, "Takeover"): the work in the
 * region is done once, whatever happens to the processes waiting for it. The predecessor announces its
 * region task with a `{"event":"submitted","id":...}` line on stdout; the agent finds that line in the
 * earlier attempts' output and starts the new driver with `--attach ID`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { ConflictError } from '../errors.js';
import type { MetadataRegion } from '../metadata/region.js';
import { hexId } from '../metadata/task-record.js';
import type { Submitted } from '../tasks/lifecycle.js';
import { findTask } from '../tasks/progress.js';

/** The line a driver prints once its task is in the region. */
export function submittedLine(id: string): string {
  return JSON.stringify({ event: 'submitted', id });
}

/** The region task id announced in a driver's output, or null when it announced none. */
export function announcedRegionTask(outputFile: string): string | null {
  if (!existsSync(outputFile)) return null;
  for (const line of readFileSync(outputFile, 'utf8').split('\n')) {
    if (!line.startsWith('{"event":"submitted"')) continue;
    try {
      const id = (JSON.parse(line) as { id?: unknown }).id;
      if (typeof id === 'string' && /^[0-9a-f]{8}$/.test(id)) return id;
    } catch {
      // a line cut short by the kill
    }
  }
  return null;
}

/** Finds region task `taskId` of kind `kind` to wait for it as a submitted one. */
export async function attachTask(region: MetadataRegion, taskId: number, kind: string): Promise<Submitted> {
  const found = await findTask(region, taskId);
  if (found.task.spec.kind !== kind) {
    throw new ConflictError(`region task ${hexId(taskId)} is a ${found.task.spec.kind} task, not ${kind}: it is not this driver's task`, { details: { field: 'attach' } });
  }
  return { taskId, id: hexId(taskId), slot: found.slot, task: found.task };
}
