/**
 * Helpers of the volume suites that drive real `blockrig` processes: member images, CLI runs that must
 * succeed, nbdcopy through an export, the serving process catching up with the volume table, and a task's
 * outcome read with `task show`.
 */
import { spawnSync } from 'node:child_process';
import { truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import { openDevice } from '../../drivers/index.js';
import { VolumeTable, type StoredVolume } from '../../src/volume/volume-table.js';
import { runCli } from '../support/cli.js';
import { waitFor } from '../support/processes.js';

/** Short leases, so a killed controller's chunk is reclaimed within seconds (as the kill -9 suites use). */
export const FAST_TIMING = ['--heartbeat-ms', '200', '--io-timeout-ms', '1000', '--renew-timeout-ms', '2500', '--host-dead-ms', '5000'];

/** A sparse image file of `size` bytes in `dir`. */
export function image(dir: string, name: string, size: number): string {
  const path = join(dir, name);
  writeFileSync(path, '');
  truncateSync(path, size);
  return path;
}

/** Runs `blockrig ...args`, expecting exit 0; returns stdout. */
export function cli(args: string[], timeoutMs = 90_000): string {
  const r = runCli(args, { timeoutMs });
  expect(r.status, `blockrig ${args.join(' ')}: ${r.stderr}`).toBe(0);
  return r.stdout;
}

/** Copies with nbdcopy (files, NBD URIs), expecting success. */
export function nbdcopy(from: string, to: string): void {
  const r = spawnSync('nbdcopy', [from, to], { encoding: 'utf8', timeout: 120_000 });
  expect(r.status, `nbdcopy ${from} ${to}: ${r.stderr}`).toBe(0);
}

/** The stored volume, read the way any process would. */
export async function storedVolume(meta: string, name = 'v'): Promise<StoredVolume> {
  const device = await openDevice(meta, { readOnly: true });
  try {
    return await new VolumeTable(device).get(name);
  } finally {
    await device.close();
  }
}

/** Waits until the serving process has applied every operator change (its state's generation caught up). */
export async function servedCaughtUp(meta: string, name = 'v'): Promise<void> {
  await waitFor(async () => {
    const s = await storedVolume(meta, name);
    return s.state !== undefined && s.state.generation >= s.intent.generation;
  }, 20_000, 'volume serve to apply the volume table');
}

/** A task's completion status, once `task show` has one. */
export interface TaskOutcome {
  status: string;
  result: Record<string, unknown>;
}

/** Polls `task show` until the task has an outcome. */
export async function taskOutcome(meta: string, id: string): Promise<TaskOutcome> {
  let outcome: TaskOutcome | null | undefined;
  await waitFor(() => {
    outcome = (JSON.parse(cli(['task', 'show', id, '--meta', meta, '--json'])) as { outcome?: TaskOutcome | null }).outcome;
    return outcome !== undefined && outcome !== null;
  }, 90_000, `task ${id} to end`, 500);
  return outcome as TaskOutcome;
}
