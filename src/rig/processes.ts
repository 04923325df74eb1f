/**
 * The processes an embedded rig starts: each a child of this process, its output kept (and its stderr
 * copied to a log file), stopped by its own pid: SIGTERM, then SIGKILL after a grace period. Nothing is
 * ever stopped by name.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { TimeoutError } from '../errors.js';

/** One started process. */
export interface RigProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Resolves when the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts and stops a set of processes. */
export class ProcessSet {
  readonly #processes: RigProcess[] = [];
  readonly #logs: WriteStream[] = [];

  /** Every process started, in order. */
  get all(): readonly RigProcess[] {
    return this.#processes;
  }

  /** Starts `argv` with its stderr appended to `logFile`. */
  start(name: string, argv: readonly string[], logFile: string, env: NodeJS.ProcessEnv = process.env): RigProcess {
    const [command, ...args] = argv;
    if (command === undefined) throw new Error('empty command line');
    const log = createWriteStream(logFile, { flags: 'a' });
    this.#logs.push(log);
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      log.write(chunk);
    });
    child.stderr?.pipe(log, { end: false });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', () => resolve({ code: null, signal: null }));
    });
    const p: RigProcess = { name, child, pid: child.pid ?? -1, stdout: () => out, exited };
    this.#processes.push(p);
    return p;
  }

  /** Waits until `pattern` accepts `p`'s stdout; fails when it exits first or after `timeoutMs`. */
  async waitForOutput(p: RigProcess, pattern: { test(text: string): boolean }, timeoutMs: number, logFile: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void p.exited.then(() => (exited = true));
    for (;;) {
      if (pattern.test(p.stdout())) return;
      if (exited) throw new TimeoutError(`${p.name} exited before it was ready: see ${logFile}`, { details: { process: p.name } });
      if (Date.now() > deadline) throw new TimeoutError(`${p.name} was not ready after ${timeoutMs} ms: see ${logFile}`, { details: { process: p.name } });
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * Waits for a JSON object with `key` on `p`'s stdout: one line of JSON, or the whole output when the
   * process pretty-prints its one answer.
   */
  async waitForJson(p: RigProcess, key: string, timeoutMs: number, logFile: string): Promise<Record<string, unknown>> {
    let found: Record<string, unknown> | null = null;
    const tryParse = (text: string): void => {
      if (found !== null || !text.trim().startsWith('{')) return;
      try {
        const value: unknown = JSON.parse(text);
        if (typeof value === 'object' && value !== null && key in value) found = value as Record<string, unknown>;
      } catch {
        // Not (yet) a whole JSON document.
      }
    };
    await this.waitForOutput(p, { test: (out: string) => (tryParse(out), out.split('\n').forEach(tryParse), found !== null) }, timeoutMs, logFile);
    return found ?? {};
  }

  /** Stops every process still running, newest first, each by its pid; resolves when all have exited. */
  async stopAll(graceMs = 5000): Promise<void> {
    for (const p of [...this.#processes].reverse()) await stopOne(p, graceMs);
    await Promise.all(this.#logs.map((l) => new Promise<void>((resolve) => l.end(() => resolve()))));
  }
}

async function stopOne(p: RigProcess, graceMs: number): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  p.child.kill('SIGTERM');
  const timer = setTimeout(() => p.child.kill('SIGKILL'), graceMs);
  await p.exited;
  clearTimeout(timer);
}
