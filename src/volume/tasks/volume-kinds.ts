/**
 * Volume task kinds on the controllers' partitioned task mechanism (`src/tasks/registry.ts`):
 * `volume-rebuild`, `volume-scrub` and `volume-initialize` (`docs/volumes.md`, "Tasks").
 *
 * The data set of a volume task is the members' row area: offset 0, length `rows * chunkSize` on the
 * target, which for a rebuild is the new member itself (so the task's partitions are ranges of the device
 * being rebuilt), and for a scrub any member. A partition covers whole rows; each controller assembles the
 * volume from the volume table on the metadata device named in the parameters, works its rows a step at a
 * time under the volume's row lock, and checkpoints after each step, so a controller killed mid-partition
 * costs one step. Partition work is idempotent: a redone step recomputes the same bytes.
 *
 * A rebuild runs with `verify` (see "Rebuild while other controllers write"), after the process serving the
 * volume has applied the replacement (its state record's generation reaches the replacement's), so that
 * server writes every new block to the new member too. Its completion action asks, through the intent
 * record, for the member to be marked in sync; the serving process applies that.
 */
import type { BlockDevice } from '../../../drivers/types.js';
import type { Clock } from '../../clock.js';
import { ConflictError, InvalidArgumentError, TimeoutError } from '../../errors.js';
import { PartitionState } from '../../metadata/chunk-record.js';
import type { TaskKind } from '../../tasks/registry.js';
import { MemberState } from '../member.js';
import type { Volume } from '../volume.js';
import { assembleStoredVolume, markStoredMemberInSync } from '../volume-admin.js';
import { VolumeTable } from '../volume-table.js';
import { RebuildParamsSchema, ScrubParamsSchema, StepPacer, parseVolumeParams } from './params.js';

/** What the kinds need from their process. */
export interface VolumeTaskEnv {
  readonly open: (uri: string) => Promise<BlockDevice>;
  readonly clock: Clock;
  /** Longest wait for the serving process to apply a replacement (default 60 s). */
  readonly serverWaitMs?: number;
}

const rebuildSchema = RebuildParamsSchema;
const scrubSchema = ScrubParamsSchema;
const parse = parseVolumeParams;

/** One assembled volume per (metadata device, volume, intent generation) in this process. */
class VolumeCache {
  readonly #open: VolumeTaskEnv['open'];
  readonly #entries = new Map<string, Promise<{ volume: Volume; table: VolumeTable }>>();

  constructor(open: VolumeTaskEnv['open']) {
    this.#open = open;
  }

  async get(meta: string, name: string): Promise<{ volume: Volume; table: VolumeTable }> {
    const metaDevice = await this.#open(meta);
    const table = new VolumeTable(metaDevice);
    const stored = await table.get(name);
    const key = `${meta}\n${name}\n${stored.intent.generation}`;
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      entry = assembleStoredVolume(table, name, this.#open).then(({ volume }) => ({ volume, table }));
      this.#entries.set(key, entry);
    } else {
      await metaDevice.close();
    }
    return entry;
  }
}

/** Builds the volume task kinds for one process. */
export function createVolumeTaskKinds(env: VolumeTaskEnv): TaskKind[] {
  const cache = new VolumeCache(env.open);

  const rowsOf = (volume: Volume, offset: number, length: number): [number, number] => {
    const chunk = volume.layout.chunkSize;
    if (offset % chunk !== 0 || (offset + length) % chunk !== 0) throw new InvalidArgumentError(`partition [${offset}, ${offset + length}) does not cover whole ${chunk}-byte rows: use a partition size that is a multiple of the chunk size`);
    return [offset / chunk, (offset + length) / chunk];
  };

  const rebuild: TaskKind = {
    name: 'volume-rebuild',
    summary: 'reconstruct a replaced volume member (--target: the new member; params volume, meta, member)',
    parseParams: (raw) => parse(rebuildSchema, raw, 'volume-rebuild'),
    async runPartition(ctx) {
      const p = rebuildSchema.parse(ctx.params);
      const { volume, table } = await cache.get(p.meta, p.volume);
      const state = volume.member(p.member).state;
      // In sync here: this process already rebuilt every row (a redone partition has nothing left to do).
      if (state === MemberState.InSync) return ctx.resumeResult;
      if (state !== MemberState.Rebuilding) throw new ConflictError(`member ${p.member} of volume ${p.volume} is ${state}, not being rebuilt`);
      if (p.served) await waitForServer(table, p.volume, p.member, env, ctx.signal);
      const [first, end] = rowsOf(volume, ctx.offset + ctx.resumeFrom, ctx.length - ctx.resumeFrom);
      const step = p.stepRows ?? 16;
      let unreadable = ctx.resumeResult;
      const pacer = new StepPacer(p.rateLimit, env.clock);
      for (let row = first; row < end; row += step) {
        const stop = Math.min(end, row + step);
        const result = await volume.rebuildRows(p.member, row, stop, { verify: true, signal: ctx.signal });
        unreadable += result.unreadable.length;
        await pacer.step((stop - row) * volume.layout.chunkSize, ctx.signal);
        if (stop < end) await ctx.checkpoint(stop * volume.layout.chunkSize - ctx.offset, unreadable);
      }
      return unreadable;
    },
    async complete({ task, results, states }) {
      const p = rebuildSchema.parse(task.spec.params);
      const failed = states.filter((s) => s === PartitionState.Failed).length;
      const unreadable = results.reduce((n, r) => n + r, 0);
      if (failed > 0) {
        return { result: { volume: p.volume, member: p.member, failedPartitions: failed, unreadableRanges: unreadable }, actions: [`${failed} partitions failed: member ${p.member} stays rebuilding; submit the rebuild again`] };
      }
      const metaDevice = await env.open(p.meta);
      try {
        await markStoredMemberInSync(new VolumeTable(metaDevice), p.volume, p.member);
      } finally {
        await metaDevice.close();
      }
      return {
        result: { volume: p.volume, member: p.member, failedPartitions: 0, unreadableRanges: unreadable },
        actions: [`asked for member ${p.member} of volume ${p.volume} to be marked in sync (${unreadable} unreadable ranges recorded as bad blocks)`],
      };
    },
  };

  const scrubKind = (name: 'volume-scrub' | 'volume-initialize'): TaskKind => ({
    name,
    summary: name === 'volume-scrub' ? 'check volume redundancy (params volume, meta, repair); result: mismatched 512-byte sectors' : 'compute parity / copy mirrors over a new volume (params volume, meta)',
    parseParams: (raw) => {
      const p = parse(scrubSchema, raw, name);
      return name === 'volume-initialize' ? { ...p, repair: true } : p;
    },
    async runPartition(ctx) {
      const p = scrubSchema.parse(ctx.params);
      const { volume } = await cache.get(p.meta, p.volume);
      const [first, end] = rowsOf(volume, ctx.offset + ctx.resumeFrom, ctx.length - ctx.resumeFrom);
      const step = p.stepRows ?? 16;
      let sectors = ctx.resumeResult;
      const pacer = new StepPacer(p.rateLimit, env.clock);
      for (let row = first; row < end; row += step) {
        const stop = Math.min(end, row + step);
        const result = await volume.scrubRows(row, stop, { repair: p.repair, signal: ctx.signal });
        sectors += Math.ceil(result.mismatchBytes / 512);
        await pacer.step((stop - row) * volume.layout.chunkSize, ctx.signal);
        if (stop < end) await ctx.checkpoint(stop * volume.layout.chunkSize - ctx.offset, sectors);
      }
      return sectors;
    },
    complete({ task, results, states }) {
      const p = scrubSchema.parse(task.spec.params);
      const mismatchSectors = results.reduce((n, r) => n + r, 0);
      const mismatchedPartitions = results.flatMap((r, i) => (r > 0 ? [i] : [])).slice(0, 20);
      return Promise.resolve({
        result: { volume: p.volume, repair: p.repair, mismatchSectors, mismatchedPartitions, failedPartitions: states.filter((s) => s === PartitionState.Failed).length },
        actions: [`summed ${results.length} partitions: ${mismatchSectors} mismatched sectors${p.repair ? ' (repaired)' : ''}`],
      });
    },
  });

  return [rebuild, scrubKind('volume-scrub'), scrubKind('volume-initialize')];
}

/** Waits until the serving process has applied the replacement of `member` (its state record says so). */
async function waitForServer(table: VolumeTable, name: string, member: number, env: VolumeTaskEnv, signal: AbortSignal): Promise<void> {
  const started = env.clock.now();
  for (;;) {
    const stored = await table.get(name);
    const asked = stored.intent.members[member]?.generation ?? 0;
    if (stored.state !== undefined && stored.state.generation >= asked && stored.state.members[member]?.state === MemberState.Rebuilding) return;
    if (env.clock.now() - started > (env.serverWaitMs ?? 60_000)) {
      throw new TimeoutError(`the process serving volume ${name} has not taken member ${member}'s replacement: start blockrig volume serve, or submit with served=false when nothing serves it`);
    }
    await env.clock.sleep(100, signal);
  }
}
