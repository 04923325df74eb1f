/**
 * The processes a rig starts (nbdkit, qemu-nbd, socat, fio): each is spawned with its output captured for
 * the report, known by the pid it was given, and stopped only by that pid. This is the product's own
 * version of the test helpers' idea (`test/support/processes.ts`), since a scenario run is not a test.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MissingDependencyError, TimeoutError } from '../../src/errors.js';
import type { Clock } from '../../src/clock.js';

/** Output kept per process; the oldest is dropped past this so a chatty process cannot eat memory. */
const LOG_LIMIT = 256 * 1024;

/** One process the rig started. */
export interface RigProcess {
  readonly name: string;
  readonly command: string;
  readonly pid: number;
  /** stdout and stderr, interleaved, as received. */
  log(): string;
  /** Exit code or signal once it ended. */
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly exited: boolean;
}

/** Finds a program on PATH (and /usr/sbin, /sbin), or throws MissingDependencyError naming the package. */
export function findProgram(command: string, debianPackage: string): string {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/sbin']);
  for (const dir of dirs) if (dir !== '' && existsSync(join(dir, command))) return join(dir, command);
  throw new MissingDependencyError(`the program "${command}"`, debianPackage);
}

/** Starts and stops the rig's processes; `stopAll` is part of every teardown. */
export class ProcessSupervisor {
  readonly #children = new Map<number, { child: ChildProcess; process: RigProcess }>();
  readonly #all: RigProcess[] = [];

  /** Every process started, alive or not, for the report. */
  get processes(): readonly RigProcess[] {
    return this.#all;
  }

  /** Spawns `command args` (in `cwd`, default ours) with its output captured; rejects when it cannot be started. */
  async start(name: string, command: string, args: readonly string[], cwd?: string): Promise<RigProcess> {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(cwd === undefined ? {} : { cwd }) });
    let text = `$ ${command} ${args.join(' ')}\n`;
    const append = (chunk: Buffer): void => {
      text += chunk.toString('utf8');
      if (text.length > LOG_LIMIT) text = text.slice(-LOG_LIMIT);
    };
    child.stdout?.on('data', append);
    child.stderr?.on('data', append);
    let exited = false;
    const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.on('exit', (code, signal) => {
        exited = true;
        text += `\n[exited: ${signal ?? `code ${code}`}]\n`;
        resolve({ code, signal });
      });
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    const pid = child.pid ?? -1;
    const proc: RigProcess = {
      name,
      command,
      pid,
      log: () => text,
      exit,
      get exited() {
        return exited;
      },
    };
    this.#children.set(pid, { child, process: proc });
    this.#all.push(proc);
    return proc;
  }

  /** Sends `signal` to the process with this pid, if the rig started it and it still runs. */
  signal(pid: number, signal: NodeJS.Signals): void {
    const entry = this.#children.get(pid);
    if (entry !== undefined && !entry.process.exited) entry.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  async stop(pid: number, clock: Clock, graceMs = 2000): Promise<void> {
    const entry = this.#children.get(pid);
    if (entry === undefined || entry.process.exited) return;
    entry.child.kill('SIGTERM');
    const killed = await Promise.race([entry.process.exit.then(() => true), clock.sleep(graceMs).then(() => false)]);
    if (!killed) {
      entry.child.kill('SIGKILL');
      await entry.process.exit;
    }
  }

  /** Stops every process still running, newest first. */
  async stopAll(clock: Clock): Promise<void> {
    for (const pid of [...this.#children.keys()].reverse()) await this.stop(pid, clock);
  }
}

/**
 * Polls `ready` every 20 ms (calling `onPoll` first, to start asynchronous checks whose results `ready`
 * reads) until it is true; TimeoutError naming `what` after `timeoutMs`.
 */
export async function waitUntil(ready: () => boolean, timeoutMs: number, what: string, clock: Clock, onPoll?: () => void): Promise<void> {
  const deadline = clock.now() + timeoutMs;
  for (;;) {
    onPoll?.();
    if (ready()) return;
    if (clock.now() > deadline) throw new TimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await clock.sleep(onPoll === undefined ? 20 : 100);
  }
}
