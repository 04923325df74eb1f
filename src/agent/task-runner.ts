/**
 * How an agent invokes a driver process for a task (claims 000/20-21): a separate OS process that runs
 * the task through the controller library and the metadata region, by default
 * `blockrig driver run KIND --meta URI --json ...args`, which prints progress lines while it runs.
 *
 * The driver runs under a small `sh` wrapper that is the leader of its own process group and writes the
 * driver's stdout, stderr and exit status to files in the cluster's data folder. So the driver outlives a
 * kill -9 of the agent that started it, and any agent of the cluster can later adopt it: wait for the
 * group leader to exit and read the completion status from the files. Cancel sends SIGTERM to the whole
 * group. Pause and resume go to the region: the runner writes the wanted state to the task's control file
 * (`driver-pause.ts`, named to the driver in `BLOCKRIG_CONTROL_FILE`), and the driver sets the task's
 * paused flag, which controllers honour. A custom driver command (no region) is stopped and continued
 * with SIGSTOP and SIGCONT of its group instead. A default driver started again after its predecessor
 * was killed attaches to the region task that one submitted (`driver-attach.ts`).
 */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../clock.js';
import type { TaskRecord } from '../wire/index.js';
import { announcedRegionTask } from './driver-attach.js';
import { CONTROL_FILE_ENV, requestPause } from './driver-pause.js';
import { lastProgressLine, type ProgressLine } from './driver-progress.js';

/** Bytes read from the end of a driver's output for its newest progress line (1 MiB partitions of state). */
const PROGRESS_TAIL_BYTES = 256 * 1024;

/** A driver process's completion status as received by the agent. */
export interface DriverOutcome {
  ok: boolean;
  /** The exit status, or null when the driver was killed before writing it. */
  exitCode: number | null;
  /** The driver's final JSON output (its completion status), when it printed one. */
  status: unknown;
  /** Why it failed, in words, or null. */
  error: string | null;
}

/** A started driver process. */
export interface StartedDriver {
  pid: number;
  done: Promise<DriverOutcome>;
}

/** What the agent needs from a driver-process launcher; a fake in tests, `ProcessTaskRunner` for real. */
export interface TaskRunner {
  /** Starts the driver process for attempt `attempt` of `task`. */
  start(task: TaskRecord, attempt: number): StartedDriver;
  /** Waits for a driver process this agent did not start (after a takeover or a restart). */
  adopt(task: TaskRecord, attempt: number, pid: number): Promise<DriverOutcome>;
  /**
   * Sends an operator request to a task's driver: cancel stops the running driver (`task.driverPid`);
   * pause and resume also reach a driver not started yet (it reads the request when it starts).
   */
  control(task: TaskRecord, control: 'cancel' | 'pause' | 'resume'): void;
  /** The newest progress line a running driver printed for attempt `attempt`, or null (optional). */
  progress?(task: TaskRecord, attempt: number): ProgressLine | null;
}

/** True while a process with this pid exists on this host. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Options of the real runner. */
export interface ProcessTaskRunnerOptions {
  /** Folder for driver output files (in the cluster's data folder). */
  outputDir: string;
  /** Command template; `{kind}`, `{meta}`, `{task}`, `{cli}` are replaced, args appended as `--name value`. */
  command: readonly string[];
  /** The blockrig CLI path, for `{cli}`. */
  cliPath: string;
  meta: string | undefined;
  clock: Clock;
  /**
   * True for the default driver (`blockrig driver run` on the region): pause through the region, and a
   * driver started again attaches to its predecessor's region task. False for a custom driver command:
   * SIGSTOP/SIGCONT, and a restart runs the command again.
   */
  regionDriver: boolean;
}

/** Runs driver processes as real OS processes. */
export class ProcessTaskRunner implements TaskRunner {
  readonly #options: ProcessTaskRunnerOptions;

  constructor(options: ProcessTaskRunnerOptions) {
    this.#options = options;
    mkdirSync(options.outputDir, { recursive: true });
  }

  #files(task: TaskRecord, attempt: number): { out: string; err: string; exit: string } {
    const base = join(this.#options.outputDir, `${task.id}.${attempt}`);
    return { out: `${base}.out`, err: `${base}.err`, exit: `${base}.exit` };
  }

  /** The driver's argv for a task. */
  commandFor(task: TaskRecord): string[] {
    const fill = (s: string): string =>
      s.replaceAll('{kind}', task.kind).replaceAll('{meta}', this.#options.meta ?? '').replaceAll('{task}', task.id).replaceAll('{cli}', this.#options.cliPath);
    const argv = this.#options.command.map(fill);
    for (const [name, value] of Object.entries(task.args)) {
      if (value === false) continue;
      argv.push(`--${name}`);
      if (value !== true) argv.push(String(value));
    }
    return argv;
  }

  /** The region task a killed earlier attempt of `task` submitted, newest attempt first, or null. */
  #predecessorRegionTask(task: TaskRecord, attempt: number): string | null {
    for (let a = attempt - 1; a >= 1; a--) {
      const id = announcedRegionTask(this.#files(task, a).out);
      if (id !== null) return id;
    }
    return null;
  }

  start(task: TaskRecord, attempt: number): StartedDriver {
    const files = this.#files(task, attempt);
    const attach = this.#options.regionDriver ? this.#predecessorRegionTask(task, attempt) : null;
    const script = '"$@" >"$BLOCKRIG_OUT" 2>"$BLOCKRIG_ERR"; echo $? >"$BLOCKRIG_EXIT.tmp"; mv "$BLOCKRIG_EXIT.tmp" "$BLOCKRIG_EXIT"';
    const child = spawn('/bin/sh', ['-c', script, 'blockrig-driver', ...this.commandFor(task), ...(attach === null ? [] : ['--attach', attach])], {
      detached: true,
      stdio: 'ignore',
      env: { ...process.env, BLOCKRIG_OUT: files.out, BLOCKRIG_ERR: files.err, BLOCKRIG_EXIT: files.exit, BLOCKRIG_TASK_ID: task.id, [CONTROL_FILE_ENV]: this.#controlFile(task) },
    });
    const pid = child.pid ?? -1;
    const done = new Promise<DriverOutcome>((resolve) => {
      child.once('error', (err) => resolve({ ok: false, exitCode: null, status: null, error: `cannot start the driver process: ${err.message}` }));
      child.once('exit', () => resolve(this.#outcome(files)));
    });
    child.unref();
    return { pid, done };
  }

  async adopt(task: TaskRecord, attempt: number, pid: number): Promise<DriverOutcome> {
    const files = this.#files(task, attempt);
    while (processAlive(pid) && !existsSync(files.exit)) await this.#options.clock.sleep(100);
    return this.#outcome(files);
  }

  /** The task's control file: per task, not per attempt, so a restarted driver finds the last request. */
  #controlFile(task: TaskRecord): string {
    return join(this.#options.outputDir, `${task.id}.control`);
  }

  control(task: TaskRecord, control: 'cancel' | 'pause' | 'resume'): void {
    if (control !== 'cancel' && this.#options.regionDriver) {
      requestPause(this.#controlFile(task), control === 'pause');
      return;
    }
    if (task.driverPid === null) return;
    const sig = control === 'cancel' ? 'SIGTERM' : control === 'pause' ? 'SIGSTOP' : 'SIGCONT';
    try {
      process.kill(-task.driverPid, sig);
      // A driver stopped by SIGSTOP must run to act on SIGTERM.
      if (control === 'cancel') process.kill(-task.driverPid, 'SIGCONT');
    } catch {
      // Already gone: the outcome says how it ended.
    }
  }

  progress(task: TaskRecord, attempt: number): ProgressLine | null {
    let fd: number | undefined;
    try {
      fd = openSync(this.#files(task, attempt).out, 'r');
      // Only the tail: the output grows by a line per reading, the newest one is all that matters.
      const size = fstatSync(fd).size;
      const length = Math.min(size, PROGRESS_TAIL_BYTES);
      const tail = Buffer.alloc(length);
      readSync(fd, tail, 0, length, size - length);
      return lastProgressLine(tail.toString('utf8'));
    } catch {
      return null;
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
  }

  #outcome(files: { out: string; err: string; exit: string }): DriverOutcome {
    const read = (p: string): string => {
      try {
        return readFileSync(p, 'utf8');
      } catch {
        return '';
      }
    };
    const exitText = read(files.exit).trim();
    const exitCode = exitText === '' ? null : Number(exitText);
    const status = lastJson(read(files.out));
    const stderr = read(files.err).trim().split('\n').slice(-3).join(' | ');
    if (exitCode === 0) return { ok: true, exitCode, status, error: null };
    const error = exitCode === null ? 'the driver process was killed before it finished' : `the driver process exited with status ${exitCode}${stderr === '' ? '' : `: ${stderr}`}`;
    return { ok: false, exitCode, status, error };
  }
}

/** The last complete JSON value printed (the whole output, else the last line that parses). */
export function lastJson(text: string): unknown {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  try {
    return JSON.parse(trimmed) as unknown;
  } catch {
    const lines = trimmed.split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      try {
        return JSON.parse(lines[i] ?? '') as unknown;
      } catch {
        // keep looking
      }
    }
    return null;
  }
}
