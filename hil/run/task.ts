/**
 * Turns the scenario's task into the step work the controllers run: a rebuild fails the named member,
 * puts the replacement device in its slot and rebuilds rows onto it; a scrub checks (and repairs) rows.
 * Both are idempotent per row range, as reclaimed partitions need.
 */
import type { Clock } from '../../src/clock.js';
import type { Scenario } from '../scenario/schema.js';
import type { StepWork } from './controllers.js';
import type { Rig } from './rig.js';

/** A task ready to run. */
export interface PreparedTask {
  readonly work: StepWork;
  /** One line for the run log. */
  readonly describe: string;
  /** Mismatching 512-byte sectors found so far (scrub); 0 for a rebuild. */
  mismatchSectors(): number;
}

/**
 * A rate limit shared by every controller: each step reserves its bytes on one schedule and waits for its
 * slot, so the task runs at `rate` bytes per second however many controllers there are.
 */
function throttle(rate: number | undefined, rowBytes: number, clock: Clock): (rows: number, signal: AbortSignal) => Promise<void> {
  let next = clock.now();
  return async (rows, signal) => {
    if (rate === undefined) return;
    const now = clock.now();
    next = Math.max(next, now) + (rows * rowBytes * 1000) / rate;
    await clock.sleep(next - now, signal);
  };
}

/** Sets the volume up for the task and returns its step work. */
export function prepareTask(s: Scenario, rig: Rig, clock: Clock): PreparedTask {
  const volume = rig.volume;
  const task = s.task;
  if (task.kind === 'region') throw new Error('a region task is run by controller processes (region.ts), not as step work');
  const wait = throttle(task.rate, volume.layout.chunkSize, clock);
  if (task.kind === 'rebuild') {
    const replacement = rig.devices.get(task.with);
    if (replacement === undefined) throw new Error(`no device ${task.with}`);
    volume.failMember(task.member, 'failed by the scenario for a rebuild');
    // A spare may already have taken the slot; otherwise the scenario's replacement does.
    if (volume.member(task.member).state === 'failed') volume.replaceMember(task.member, replacement.device);
    return {
      describe: `member ${task.member} (${s.volume.members[task.member] ?? '?'}) failed, rebuilding onto ${volume.member(task.member).device?.uri ?? '?'}`,
      work: async (start, end, signal) => {
        // A redone step may find the member already complete (the killed owner's last I/O landed and
        // finished the rebuild): that is the idempotent outcome, not a conflict.
        const slot = volume.member(task.member);
        if (slot.state === 'in-sync' && slot.device === replacement.device) return;
        await volume.rebuildRows(task.member, start, end, { signal });
        await wait(end - start, signal);
      },
      mismatchSectors: () => 0,
    };
  }
  // A reclaimed step is redone; a repairing redo finds nothing left, so keep the largest count per step.
  const found = new Map<number, number>();
  return {
    describe: `${task.repair ? 'check and repair' : 'check'} of ${volume.layout.rows} rows`,
    work: async (start, end, signal) => {
      const result = await volume.scrubRows(start, end, { repair: task.repair, signal });
      found.set(start, Math.max(found.get(start) ?? 0, result.mismatchBytes / 512));
      await wait(end - start, signal);
    },
    mismatchSectors: () => [...found.values()].reduce((a, b) => a + b, 0),
  };
}
