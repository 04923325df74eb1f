/** The simulator's checkers: safety (no overlapping owners), liveness (all COMPLETE) and exactly-once completion. */
import { createMemoryDevice } from '../../../drivers/memory.js';
import { PartitionState } from '../../../src/metadata/chunk-record.js';
import { META_BLOCK, RecordType } from '../../../src/metadata/layout.js';
import { decodeRecord } from '../../../src/metadata/record.js';
import { MetadataRegion } from '../../../src/metadata/region.js';
import { TaskState, decodeTaskRecord } from '../../../src/metadata/task-record.js';
import { patternAt } from '../../../src/tasks/pattern.js';
import { findTask, flatten, readTaskChunks } from '../../../src/tasks/progress.js';
import type { ScenarioResult } from './scenario.js';

/** An interval during which one controller incarnation acted for one chunk. */
export interface Ownership {
  proc: number;
  chunk: string;
  start: number;
  end: number;
}

/**
 * Ownership intervals: from the moment a controller decided it won a chunk to the landing of the last
 * chunk or data write it issued while holding it (host-record writes excluded: they are its own block).
 */
export function ownerships(r: ScenarioResult): Ownership[] {
  const out: Ownership[] = [];
  const byProc = new Map<number, { chunk: string; start: number; releasedAt: number }[]>();
  for (const e of r.events) {
    const list = byProc.get(e.proc) ?? [];
    byProc.set(e.proc, list);
    if (e.event.type === 'claimed') list.push({ chunk: `${e.event.taskSlot}/${e.event.chunk}`, start: e.event.at, releasedAt: Infinity });
    if (e.event.type === 'released') {
      const last = list[list.length - 1];
      if (last) last.releasedAt = e.event.at;
    }
  }
  for (const [proc, list] of byProc) {
    for (const o of list) {
      let end = -Infinity;
      for (const w of r.medium.writes) {
        if (w.proc !== proc || w.issuedAt < o.start || w.issuedAt > o.releasedAt) continue;
        if (w.offset >= r.hostArea.from && w.offset < r.hostArea.to) continue;
        end = Math.max(end, w.landedAt);
      }
      if (end >= o.start) out.push({ proc, chunk: o.chunk, start: o.start, end });
    }
  }
  return out;
}

/** Pairs of different processes whose ownership of the same chunk overlapped in world time. */
export function overlappingOwners(r: ScenarioResult): [Ownership, Ownership][] {
  const bad: [Ownership, Ownership][] = [];
  const all = ownerships(r);
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i] as Ownership;
      const b = all[j] as Ownership;
      if (a.chunk === b.chunk && a.proc !== b.proc && a.start <= b.end && b.start <= a.end) bad.push([a, b]);
    }
  }
  return bad;
}

/** How many landed, whole writes put the task record into a terminal state: the completion actions recorded. */
export function completionWrites(r: ScenarioResult): number {
  let n = 0;
  for (const w of r.medium.writes) {
    if (w.data === undefined || w.torn) continue;
    const slot = Math.floor((w.offset - r.regionTaskArea.from) / (2 * META_BLOCK));
    const copy = (((w.offset - r.regionTaskArea.from) / META_BLOCK) % 2) as 0 | 1;
    const c = decodeRecord(w.data, { type: RecordType.Task, index: slot, copy });
    if (c.kind !== 'valid') continue;
    const t = decodeTaskRecord(c.record.payload);
    if (typeof t !== 'string' && t.taskId === r.taskId && (t.state === TaskState.Finished || t.state === TaskState.Failed)) n++;
  }
  return n;
}

/** The final state: task state, partitions not COMPLETE, and 4096-byte blocks whose data is wrong. */
export async function finalState(r: ScenarioResult): Promise<{ state: number; notComplete: number; badBlocks: number }> {
  if (r.taskId === undefined) return { state: -1, notComplete: -1, badBlocks: -1 };
  const dev = createMemoryDevice({ size: r.medium.store.size, store: r.medium.store });
  const region = await MetadataRegion.open(dev);
  const found = await findTask(region, r.taskId);
  const { chunks } = await readTaskChunks(region, found.slot, found.task);
  const flat = flatten(found.task, chunks);
  const notComplete = flat.states.filter((s) => s !== PartitionState.Complete).length;
  const want = patternAt(Number(found.task.spec.params.seed), found.task.spec.offset, found.task.spec.length);
  const got = r.medium.store.read(found.task.spec.offset, found.task.spec.length);
  let badBlocks = 0;
  for (let b = 0; b < want.length; b += 4096) if (want.compare(got, b, b + 4096, b, b + 4096) !== 0) badBlocks++;
  return { state: found.task.state, notComplete, badBlocks };
}
