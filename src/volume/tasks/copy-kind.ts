/**
 * `volume-copy`: copies an in-sync member to a new device for a proactive replacement (md's
 * want_replacement), its partitions spread over the controllers (`docs/volumes.md`, "Copy").
 *
 * `volume copy` (or `startStoredCopy`) first records the copy in the volume table, so that the serving
 * process and every process assembling the volume write both the member and the copy. A partition waits
 * until the serving process has taken the copy (unless `served` is false), then copies its rows from the
 * member, or reconstructs them where the member cannot be read, with `verify` against concurrent writers,
 * a step at a time with checkpoints. The task's target is the copy. The completion action asks, through the
 * intent record, for the copy to take the slot in sync; the old device leaves the volume.
 */
import { ConflictError } from '../../errors.js';
import { PartitionState } from '../../metadata/chunk-record.js';
import type { TaskKind } from '../../tasks/registry.js';
import { MemberState } from '../member.js';
import { finishStoredCopy } from '../volume-admin.js';
import { CopyParamsSchema, StepPacer, parseVolumeParams, type CopyParams } from './params.js';
import { rowsOf, stepRowsOf, type VolumeCache, type VolumeTaskEnv, waitForServer } from './volume-cache.js';

/** Builds the copy kind over a process's volume cache. */
export function copyKind(env: VolumeTaskEnv, cache: VolumeCache): TaskKind {
  const parse = (raw: unknown): CopyParams => parseVolumeParams(CopyParamsSchema, raw, 'volume-copy');
  return {
    name: 'volume-copy',
    summary: 'copy an in-sync volume member to a new device that then takes its slot (--target: the new device; params volume, meta, member; start it with blockrig volume copy)',
    parseParams: (raw) => parse(raw),
    async runPartition(ctx) {
      const p = parse(ctx.params);
      return await cache.use(p.meta, p.volume, async ({ volume, table }) => {
        const member = volume.member(p.member);
        const target = member.replacement?.device;
        if (target === undefined) {
          // This process finished the copy of every row already (a redone partition has nothing to do).
          if (member.state === MemberState.InSync && member.device?.uri === (await table.get(p.volume)).entry.members[p.member]?.copyTo) return 0;
          throw new ConflictError(`member ${p.member} of volume ${p.volume} is not being copied: start the copy with blockrig volume copy`);
        }
        if (p.served) await waitForServer(table, p.volume, p.member, MemberState.InSync, env, ctx.signal);
        const [first, end] = rowsOf(volume, ctx.offset + ctx.resumeFrom, ctx.length - ctx.resumeFrom);
        const step = stepRowsOf(volume, p.stepRows);
        const pacer = new StepPacer(p.rateLimit, env.clock);
        for (let row = first; row < end; row += step) {
          const stop = Math.min(end, row + step);
          await volume.copyRows(p.member, row, stop, { verify: true, signal: ctx.signal });
          await pacer.step((stop - row) * volume.layout.chunkSize, ctx.signal);
          if (stop < end) await ctx.checkpoint(stop * volume.layout.chunkSize - ctx.offset, 0);
        }
        return 0;
      });
    },
    async complete({ task, states }) {
      const p = parse(task.spec.params);
      const to = task.spec.target;
      const failed = states.filter((s) => s === PartitionState.Failed).length;
      const base = { volume: p.volume, member: p.member, to };
      if (failed > 0) {
        return {
          result: { ...base, status: 'failed', failedPartitions: failed, reason: `${failed} partitions failed (see the controllers' logs)` },
          actions: [`${failed} partitions failed: member ${p.member} stays in service and keeps being copied; submit the copy again`],
        };
      }
      try {
        await cache.withTable(p.meta, (t) => finishStoredCopy(t, p.volume, p.member, to));
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
        return { result: { ...base, status: 'failed', failedPartitions: 0, reason: err.message }, actions: [err.message] };
      }
      return { result: { ...base, status: 'finished', failedPartitions: 0 }, actions: [`asked for ${to} to take the slot of member ${p.member} of volume ${p.volume} in sync`] };
    },
  };
}
