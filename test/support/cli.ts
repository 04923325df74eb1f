/** Runs the built CLI (`dist/cli.js`, built by `npm test` before vitest) as a real process. */
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startProcess } from './processes.js';

/** Path of the built CLI. */
export const CLI_PATH = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'dist', 'cli.js');

/** The result of one CLI run. */
export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs `blockrig ...args` to completion, synchronously: for commands that end in seconds. The test
 * worker's event loop stands still meanwhile, and vitest fails a run whose worker leaves its RPC
 * unanswered for 60 s ("Timeout calling onTaskUpdate"), so long runs go through `runCliAsync`.
 */
export function runCli(args: readonly string[], options: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): CliResult {
  const result = spawnSync(process.execPath, [CLI_PATH, ...args], {
    input: options.input,
    env: { ...process.env, ...options.env },
    encoding: 'utf8',
    timeout: options.timeoutMs ?? 60_000,
  });
  return { status: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** Runs `blockrig ...args` to completion without blocking the test worker (long runs: scenarios, tasks). */
export async function runCliAsync(args: readonly string[], options: { env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Promise<CliResult> {
  const run = startProcess(process.execPath, [CLI_PATH, ...args], { env: { ...process.env, ...options.env } });
  // 'close' comes after 'exit' once the output pipes are drained, so the output is whole.
  const closed = once(run.child, 'close');
  const timer = setTimeout(() => run.child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
  try {
    const status = await run.exited;
    await closed;
    return { status: typeof status === 'number' ? status : -1, stdout: run.stdout(), stderr: run.stderr() };
  } finally {
    clearTimeout(timer);
  }
}
