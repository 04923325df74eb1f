/**
 * The harness's controllers share a partitioned task through heartbeats: a killed controller's partition
 * is reclaimed once its heartbeat stops; a controller paused past two leases finds its partition taken
 * when it wakes and drops its result (self-fencing); a work error fails the task; killing every
 * controller leaves the task unfinished. In every finished case each row was worked at least once.
 */
import { describe, expect, it } from 'vitest';
import { PartitionedTask, PartitionState } from '../../hil/run/controllers.js';
import { systemClock } from '../../src/clock.js';
import { CancelledError } from '../../src/errors.js';

/** Work that takes `ms` per step and counts how often each row was worked. */
function countingWork(rows: number, ms: number) {
  const worked = new Array<number>(rows).fill(0);
  return {
    worked,
    work: async (start: number, end: number, signal: AbortSignal) => {
      await systemClock.sleep(ms, signal);
      for (let r = start; r < end; r++) worked[r] = (worked[r] ?? 0) + 1;
    },
  };
}

describe('PartitionedTask', () => {
  it('completes every partition with several controllers, each row once', async () => {
    const { worked, work } = countingWork(64, 1);
    const task = new PartitionedTask({ rows: 64, partitions: 8, controllers: 3, leaseMs: 100, clock: systemClock, work });
    await task.run(new AbortController().signal);
    expect(task.partitions.every((p) => p.state === PartitionState.Complete)).toBe(true);
    expect(worked.every((n) => n === 1)).toBe(true);
    expect(task.reclaimed).toBe(0);
    expect(task.progress).toBe(1);
  });

  it('reclaims the partition of a killed controller', async () => {
    const { worked, work } = countingWork(64, 5);
    const task = new PartitionedTask({ rows: 64, partitions: 8, controllers: 2, leaseMs: 40, clock: systemClock, work, stepRows: 2 });
    const off = task.onProgress(() => {
      off();
      task.kill(1);
    });
    await task.run(new AbortController().signal);
    expect(task.controllerStates[1]).toBe('killed');
    expect(task.reclaimed).toBeGreaterThanOrEqual(1);
    expect(task.events.some((e) => e.what === 'reclaim' && e.controller === 0 && e.detail === 'from controller 1')).toBe(true);
    expect(task.partitions.every((p) => p.state === PartitionState.Complete)).toBe(true);
    expect(worked.every((n) => n >= 1)).toBe(true);
  });

  it('fences a controller paused past two leases: its partition goes to a peer and it drops its result', async () => {
    const { worked, work } = countingWork(32, 5);
    const task = new PartitionedTask({ rows: 32, partitions: 8, controllers: 2, leaseMs: 30, clock: systemClock, work, stepRows: 1 });
    let paused = false;
    task.onProgress(() => {
      // Pause a controller that holds a partition right now (the one that just completed holds none).
      const holder = task.partitions.find((p) => p.state === PartitionState.InProgress)?.owner;
      if (paused || holder === undefined) return;
      paused = true;
      task.pause(holder, 400);
    });
    await task.run(new AbortController().signal);
    expect(task.events.some((e) => e.what === 'paused')).toBe(true);
    expect(task.events.some((e) => e.what === 'reclaim')).toBe(true);
    expect(task.events.some((e) => e.what === 'fenced')).toBe(true);
    expect(worked.every((n) => n >= 1)).toBe(true);
  });

  it('fails with the first work error', async () => {
    const task = new PartitionedTask({
      rows: 16,
      partitions: 4,
      controllers: 2,
      leaseMs: 50,
      clock: systemClock,
      work: (start) => (start >= 8 ? Promise.reject(new Error(`row ${start} unreadable`)) : Promise.resolve()),
    });
    await expect(task.run(new AbortController().signal)).rejects.toThrow(/row \d+ unreadable/);
    expect(task.events.some((e) => e.what === 'error')).toBe(true);
  });

  it('is left unfinished when every controller is killed', async () => {
    const { work } = countingWork(32, 5);
    const task = new PartitionedTask({ rows: 32, partitions: 4, controllers: 1, leaseMs: 30, clock: systemClock, work, stepRows: 1 });
    task.onProgress(() => task.kill(0));
    await expect(task.run(new AbortController().signal)).rejects.toBeInstanceOf(CancelledError);
    expect(task.partitions.filter((p) => p.state === PartitionState.InProgress).map((p) => p.owner)).toEqual([0]);
  });
});
