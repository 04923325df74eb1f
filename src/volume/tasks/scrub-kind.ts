/**
 * `volume-scrub` and `volume-initialize` (`docs/volumes.md`, "Tasks across controllers").
 *
 * A scrub's partitions check their rows (a partition's result: mismatched 512-byte sectors). The
 * completion action, performed once, visits only the partitions that found mismatches: it locates the
 * mismatched stripes again (row, kind, member byte range, the members holding the wrong bytes) and, for a
 * repair scrub, rewrites them there, so that the result lists exactly what was rewritten. The result lists
 * the first stripes and counts the rest (one metadata block holds it); the volume table keeps a summary for
 * `volume status`.
 *
 * `volume-initialize` computes parity from the data (mirrors from the majority) in the partitions
 * themselves: on a new volume every stripe may differ, which is the partitions' work to spread.
 */
import { PartitionState } from '../../metadata/chunk-record.js';
import { hexId } from '../../metadata/task-record.js';
import type { CompletionInput, CompletionOutput, TaskKind } from '../../tasks/registry.js';
import { recordStoredScrub } from '../volume-admin.js';
import type { StripeFinding } from '../volume-table.js';
import { RESULT_STRIPES, STATUS_STRIPES, capStripes, describeStripe, stripeFinding } from './findings.js';
import { ScrubParamsSchema, StepPacer, parseVolumeParams, type ScrubParams } from './params.js';
import { partitionRows, rowsOf, stepRowsOf, type VolumeCache, type VolumeTaskEnv } from './volume-cache.js';

/** Partitions a check scrub's completion visits to locate stripes (a repair visits every one). */
const CHECK_PARTITIONS = 64;

/** Builds `volume-scrub` or `volume-initialize` over a process's volume cache. */
export function scrubKind(name: 'volume-scrub' | 'volume-initialize', env: VolumeTaskEnv, cache: VolumeCache): TaskKind {
  const initialize = name === 'volume-initialize';
  const parse = (raw: unknown): ScrubParams => {
    const p = parseVolumeParams(ScrubParamsSchema, raw, name);
    return initialize ? { ...p, repair: true } : p;
  };

  /** Locates (and with repair, rewrites) the stripes of the partitions that reported mismatches. */
  const locate = async (p: ScrubParams, input: CompletionInput, partitions: readonly number[]): Promise<{ stripes: StripeFinding[]; visited: number }> => {
    return await cache.use(p.meta, p.volume, async ({ volume }) => {
      const stripes: StripeFinding[] = [];
      let visited = 0;
      for (const i of partitions) {
        if (!p.repair && visited >= CHECK_PARTITIONS) break;
        const [first, end] = partitionRows(volume, input.task, i);
        const found = await volume.scrubRows(first, end, { repair: p.repair });
        stripes.push(...found.mismatches.map(stripeFinding));
        visited++;
      }
      if (p.repair) await volume.flush();
      return { stripes, visited };
    });
  };

  const complete = async (input: CompletionInput): Promise<CompletionOutput> => {
    const p = parse(input.task.spec.params);
    const { results, states } = input;
    const mismatchSectors = results.reduce((n, r) => n + r, 0);
    const failedPartitions = states.filter((s) => s === PartitionState.Failed).length;
    const withMismatches = results.flatMap((r, i) => (r > 0 && states[i] === PartitionState.Complete ? [i] : []));
    const base = { volume: p.volume, repair: p.repair, mismatchSectors, failedPartitions, mismatchedPartitions: withMismatches.slice(0, 20) };
    if (initialize || withMismatches.length === 0) {
      return { result: { ...base, mismatchedStripes: 0, stripes: [] }, actions: [`summed ${results.length} partitions: ${mismatchSectors} sectors ${initialize ? 'rewritten' : 'mismatched'}`] };
    }
    const { stripes, visited } = await locate(p, input, withMismatches);
    const rewritten = stripes.filter((s) => s.repaired).length;
    const unvisited = withMismatches.length - visited;
    const result = {
      ...base,
      mismatchedStripes: stripes.length,
      stripes: capStripes(stripes, RESULT_STRIPES),
      ...(p.repair ? { rewrittenStripes: rewritten } : {}),
      ...(unvisited > 0 ? { unlistedPartitions: unvisited } : {}),
    };
    await cache.withTable(p.meta, (t) =>
      recordStoredScrub(t, p.volume, { task: hexId(input.task.taskId), at: Date.now(), repair: p.repair, mismatchSectors, mismatchedStripes: stripes.length, stripes: capStripes(stripes, STATUS_STRIPES) }),
    );
    return {
      result,
      actions: [
        `${mismatchSectors} mismatched sectors in ${stripes.length} stripes${p.repair ? `, ${rewritten} rewritten` : ''}${unvisited > 0 ? ` (${unvisited} more partitions with mismatches not listed)` : ''}`,
        ...stripes.slice(0, 5).map(describeStripe),
      ],
    };
  };

  return {
    name,
    summary: initialize ? 'compute parity / copy mirrors over a new volume (params volume, meta)' : 'check volume redundancy (params volume, meta, [repair]); result: mismatched sectors and stripes',
    parseParams: (raw) => parse(raw),
    async runPartition(ctx) {
      const p = parse(ctx.params);
      return await cache.use(p.meta, p.volume, async ({ volume }) => {
        const [first, end] = rowsOf(volume, ctx.offset + ctx.resumeFrom, ctx.length - ctx.resumeFrom);
        const step = stepRowsOf(volume, p.stepRows);
        const pacer = new StepPacer(p.rateLimit, env.clock);
        // A scrub checks here; its repairs happen in the completion action, which can then list them.
        const repair = initialize;
        let sectors = ctx.resumeResult;
        for (let row = first; row < end; row += step) {
          const stop = Math.min(end, row + step);
          const result = await volume.scrubRows(row, stop, { repair, signal: ctx.signal });
          sectors += Math.ceil(result.mismatchBytes / 512);
          await pacer.step((stop - row) * volume.layout.chunkSize, ctx.signal);
          if (stop < end) await ctx.checkpoint(stop * volume.layout.chunkSize - ctx.offset, sectors);
        }
        return sectors;
      });
    },
    complete,
  };
}
