/**
 * Pause and resume of a task run by a driver process, in the metadata region (docs/agents-and-servers.md,
 * "Tasks"): the executing agent writes the wanted state (`pause` or `resume`) to the task's control file
 * in the cluster's data folder; the driver reads it at every progress interval and, when it differs from
 * what it last applied, sets or clears the task's paused flag in the region (`pauseTask`), which the
 * controllers honour. A file rather than a signal: it outlives the agent that wrote it (another agent
 * adopting the driver sees the same request), and the driver keeps running, heartbeating and waiting.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { HostSession } from '../controller/host-session.js';
import { systemClock } from '../clock.js';
import { hexId } from '../metadata/task-record.js';
import { pauseTask } from '../tasks/lifecycle.js';

/** Environment variable naming the control file of the task a driver runs. */
export const CONTROL_FILE_ENV = 'BLOCKRIG_CONTROL_FILE';

/** Writes the wanted pause state of a task for its driver (atomically: a reader never sees half a word). */
export function requestPause(controlFile: string, paused: boolean): void {
  writeFileSync(`${controlFile}.tmp`, paused ? 'pause\n' : 'resume\n');
  renameSync(`${controlFile}.tmp`, controlFile);
}

/** The wanted pause state written to a control file, or null when there is none. */
export function pauseRequested(controlFile: string): boolean | null {
  try {
    const word = readFileSync(controlFile, 'utf8').trim();
    return word === 'pause' ? true : word === 'resume' ? false : null;
  } catch {
    return null;
  }
}

/**
 * Until `signal` aborts, applies the control file's wanted state to task `taskId` in the region every
 * `intervalMs`; a failed write is tried again at the next interval. `log` hears each change applied.
 */
export async function followPauseRequests(session: HostSession, taskId: number, controlFile: string, intervalMs: number, signal: AbortSignal, log: (line: string) => void): Promise<void> {
  let applied = false;
  while (!signal.aborted) {
    const wanted = pauseRequested(controlFile);
    if (wanted !== null && wanted !== applied) {
      try {
        await pauseTask(session, taskId, wanted);
        applied = wanted;
        log(`task ${hexId(taskId)} ${wanted ? 'paused' : 'resumed'} in the metadata region`);
      } catch (err) {
        if (signal.aborted) return;
        log(`could not ${wanted ? 'pause' : 'resume'} the task yet: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    await systemClock.sleep(intervalMs, signal).catch(() => undefined);
  }
}
