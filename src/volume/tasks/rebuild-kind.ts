/**
 * `volume-rebuild`: reconstructs a replaced member, its partitions spread over the controllers
 * (`docs/volumes.md`, "Tasks across controllers").
 *
 * A partition rebuilds its rows a step at a time with `verify` (see "Rebuild while other controllers
 * write"), after the serving process has applied the replacement, and checkpoints after each step. A block
 * no survivor can supply is recorded by the volume as a bad block of the new member and the rebuild goes
 * on; the partition's result counts such ranges. A survivor gone altogether (more failures than the level
 * tolerates) fails the partition, and the task ends failed with the reason.
 *
 * The completion action, performed once, gathers the unreadable ranges (the partitions that reported any
 * are rebuilt again in the completing process, which is idempotent and yields the exact ranges) and asks,
 * in one intent write, for the member to be marked in sync with those ranges as its bad blocks, so that
 * the serving process never reads them from the new member.
 */
import { ConflictError, ErrorCode, isBlockrigError } from '../../errors.js';
import { PartitionState } from '../../metadata/chunk-record.js';
import type { TaskRecord } from '../../metadata/task-record.js';
import type { TaskKind } from '../../tasks/registry.js';
import { MemberState, type BadBlock } from '../member.js';
import { markStoredMemberInSync } from '../volume-admin.js';
import { mergeRanges } from './findings.js';
import { RebuildParamsSchema, StepPacer, parseVolumeParams, type RebuildParams } from './params.js';
import { partitionRows, rowsOf, stepRowsOf, type VolumeCache, type VolumeTaskEnv, waitForServer } from './volume-cache.js';

/** Ranges listed in the task result (all of them go to the volume table). */
const RESULT_RANGES = 16;

/** Builds the rebuild kind over a process's volume cache. */
export function rebuildKind(env: VolumeTaskEnv, cache: VolumeCache): TaskKind {
  const parse = (raw: unknown): RebuildParams => parseVolumeParams(RebuildParamsSchema, raw, 'volume-rebuild');

  /** The exact unreadable ranges: rebuilds again (here) the partitions that reported any. */
  const unreadableRanges = async (p: RebuildParams, task: TaskRecord, results: readonly number[]): Promise<BadBlock[]> => {
    return await cache.use(p.meta, p.volume, async ({ volume }) => {
      const member = volume.member(p.member);
      for (const [i, count] of results.entries()) {
        if (count === 0) continue;
        const [first, end] = partitionRows(volume, task, i);
        if (member.state === MemberState.Rebuilding && !member.rebuilt.covers(first, end)) await volume.rebuildRows(p.member, first, end, { verify: true });
      }
      return mergeRanges(volume.member(p.member).badBlocks);
    });
  };

  /** Why partitions failed: the first failed partition's first row, tried again here. */
  const failureReason = async (p: RebuildParams, task: TaskRecord, partition: number): Promise<string> => {
    try {
      return await cache.use(p.meta, p.volume, async ({ volume }) => {
        const [first, end] = partitionRows(volume, task, partition);
        await volume.rebuildRows(p.member, first, Math.min(end, first + 1), { verify: true });
        return `partition ${partition} failed on its controller; its first row rebuilds now (a transient error: submit the rebuild again)`;
      });
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  };

  return {
    name: 'volume-rebuild',
    summary: 'reconstruct a replaced volume member (--target: the new member; params volume, meta, member, [stepRows, rateLimit, served])',
    parseParams: (raw) => parse(raw),
    async runPartition(ctx) {
      const p = parse(ctx.params);
      return await cache.use(p.meta, p.volume, async ({ volume, table }) => {
        const state = volume.member(p.member).state;
        // In sync here: this process already rebuilt every row (a redone partition has nothing left to do).
        if (state === MemberState.InSync) return ctx.resumeResult;
        if (state !== MemberState.Rebuilding) throw new ConflictError(`member ${p.member} of volume ${p.volume} is ${state}, not being rebuilt`);
        if (p.served) await waitForServer(table, p.volume, p.member, MemberState.Rebuilding, env, ctx.signal);
        const [first, end] = rowsOf(volume, ctx.offset + ctx.resumeFrom, ctx.length - ctx.resumeFrom);
        const step = stepRowsOf(volume, p.stepRows);
        const pacer = new StepPacer(p.rateLimit, env.clock);
        let unreadable = ctx.resumeResult;
        for (let row = first; row < end; row += step) {
          const stop = Math.min(end, row + step);
          const result = await volume.rebuildRows(p.member, row, stop, { verify: true, signal: ctx.signal });
          unreadable += result.unreadable.length;
          await pacer.step((stop - row) * volume.layout.chunkSize, ctx.signal);
          if (stop < end) await ctx.checkpoint(stop * volume.layout.chunkSize - ctx.offset, unreadable);
        }
        return unreadable;
      });
    },
    async complete({ task, results, states }) {
      const p = parse(task.spec.params);
      const failed = states.flatMap((s, i) => (s === PartitionState.Failed ? [i] : []));
      const base = { volume: p.volume, member: p.member };
      if (failed.length > 0) {
        const reason = await failureReason(p, task, failed[0] ?? 0);
        return {
          result: { ...base, status: 'failed', failedPartitions: failed.length, unreadableRanges: results.reduce((n, r) => n + r, 0), reason },
          actions: [`${failed.length} partitions failed (${reason}): member ${p.member} stays rebuilding and keeps what was rebuilt; fix or replace the failing member, then submit the rebuild again`],
        };
      }
      const ranges = results.some((r) => r > 0) ? await unreadableRanges(p, task, results) : [];
      try {
        await cache.withTable(p.meta, (t) => markStoredMemberInSync(t, p.volume, p.member, ranges));
      } catch (err) {
        if (!isBlockrigError(err, ErrorCode.MetaFull)) throw err;
        const reason = `${ranges.length} unreadable ranges do not fit in the volume table (${err.message})`;
        return { result: { ...base, status: 'failed', failedPartitions: 0, unreadableRanges: ranges.length, reason }, actions: [`${reason}: member ${p.member} stays rebuilding; rebuild it offline with blockrig volume rebuild`] };
      }
      return {
        result: { ...base, status: 'finished', failedPartitions: 0, unreadableRanges: ranges.length, badBlocks: ranges.slice(0, RESULT_RANGES) },
        actions: [`asked for member ${p.member} of volume ${p.volume} to be marked in sync${ranges.length === 0 ? '' : ` with ${ranges.length} unreadable ranges recorded as its bad blocks`}`],
      };
    },
  };
}
