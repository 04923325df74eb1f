/**
 * `Volume`, the base of raid1, raid5 and raid6 volumes: the core (`volume-core.ts`: member states, error
 * accounting, spares, the row lock) plus proactive replacement, and the per-row-range maintenance calls
 * each level implements (`docs/volumes.md`, "Maintenance per row range").
 */
import type { BlockDevice } from '../../drivers/types.js';
import { CancelledError, ConflictError, InvalidArgumentError, TaskFailedError } from '../errors.js';
import type { RebuildOptions, RebuildResult, ScrubOptions, ScrubResult } from './maintenance.js';
import { MemberState, type VolumeMember } from './member.js';
import { RowSet } from './row-set.js';
import { VolumeCore, type VolumeOptions } from './volume-core.js';

export type { VolumeOptions } from './volume-core.js';
export { isMemberFailure } from './member.js';

/** The base of raid1, raid5 and raid6 volumes. */
export abstract class Volume extends VolumeCore {
  protected constructor(options: VolumeOptions) {
    super(options);
  }

  // ---- proactive replacement (the copy task) -----------------------------------------------------

  /** Starts copying in-sync member `index` to `device`; the member serves on and every write reaches both. */
  startReplacement(index: number, device: BlockDevice): void {
    const m = this.member(index);
    if (m.state !== MemberState.InSync || m.replacement !== undefined) throw new ConflictError(`member ${index} of volume ${this.name} is ${m.replacement === undefined ? m.state : 'already being replaced'}: only an in-sync member can be copied to a replacement`);
    if (device.size < this.layout.rows * this.layout.chunkSize || this.logicalBlockSize % device.logicalBlockSize !== 0) {
      throw new InvalidArgumentError(`${device.uri} (${device.size} bytes) cannot replace a member of ${this.layout.rows * this.layout.chunkSize} bytes`, { details: { field: 'with' } });
    }
    m.replacement = { device, copied: new RowSet() };
  }

  /**
   * Copies rows [start, end) of member `index` to its replacement: from the member itself, or reconstructed
   * from the others where it cannot be read. With `verify`, re-reads the source after writing and copies
   * again while it changed (writers on other controllers). When every row is copied the replacement takes
   * the slot in sync and the old device leaves (closed when the volume owns its members).
   */
  async copyRows(index: number, start: number, end: number, options: RebuildOptions = {}): Promise<{ rowsCopied: number }> {
    this.checkRows(start, end);
    const m = this.member(index);
    const chunk = this.layout.chunkSize;
    const batch = Math.max(1, Math.floor((1024 * 1024) / chunk));
    const targetDevice = m.replacement?.device;
    for (let b = start; b < end; b += batch) {
      // Another call copying other rows may have finished the copy: the target now serves the slot.
      if (targetDevice !== undefined && m.replacement === undefined && m.device === targetDevice) break;
      if (options.signal?.aborted === true) throw new CancelledError(`copy of member ${index} of volume ${this.name} cancelled at row ${b}`);
      const e = Math.min(end, b + batch);
      await this.lock.with(b, e, async () => {
        if (m.replacement === undefined) {
          if (targetDevice !== undefined && m.device === targetDevice) return;
          throw new ConflictError(`member ${index} of volume ${this.name} has no replacement being copied`);
        }
        const source = async (): Promise<Buffer> => (await this.memberRead(index, b * chunk, (e - b) * chunk)) ?? this.reconstructRows(index, b, e);
        let data = await source();
        for (let attempt = 0; ; attempt++) {
          await this.replacementWrite(m, b * chunk, data);
          if (options.verify !== true) break;
          const again = await source();
          if (again.equals(data)) break;
          if (attempt >= 16) throw new TaskFailedError(`copy of member ${index} of volume ${this.name}: rows ${b}-${e} kept changing`);
          data = again;
        }
        m.replacement?.copied.add(b, e);
      });
      if (m.replacement === undefined && m.device !== targetDevice) throw new TaskFailedError(`copy of member ${index} of volume ${this.name} stopped at row ${b}: the replacement failed or took over`);
    }
    if (m.replacement?.copied.covers(0, this.layout.rows) === true) this.#finishReplacement(m);
    return { rowsCopied: end - start };
  }

  /**
   * Records rows [start, end) of member `index`'s replacement as copied (by this process or by controllers
   * running a copy task); when every row is, the replacement takes the slot as `copyRows` would.
   */
  markCopied(index: number, start: number, end: number): void {
    this.checkRows(start, end);
    const m = this.member(index);
    if (m.replacement === undefined) throw new ConflictError(`member ${index} of volume ${this.name} has no replacement being copied`);
    m.replacement.copied.add(start, end);
    if (m.replacement.copied.covers(0, this.layout.rows)) this.#finishReplacement(m);
  }

  /** The bytes member `index` should hold in rows [start, end), rebuilt from the other members. */
  protected abstract reconstructRows(index: number, start: number, end: number): Promise<Buffer>;

  #finishReplacement(m: VolumeMember): void {
    const r = m.replacement;
    if (r === undefined) return;
    m.replacement = undefined;
    const old = m.device;
    m.device = r.device;
    m.readErrors = 0;
    m.writeErrors = 0;
    m.badBlocks = [];
    this.watch(m);
    this.emit({ type: 'member-state', volume: this.name, member: m.index, from: MemberState.InSync, to: MemberState.InSync, reason: `replaced by ${r.device.uri} (copy complete)`, uri: r.device.uri });
    if (this.ownsMembers) void old?.close().catch(() => undefined);
  }

  // ---- maintenance, per level ------------------------------------------------------------------

  /** Reconstructs rebuilding member `index` over rows [start, end) and marks them rebuilt. */
  abstract rebuildRows(index: number, start: number, end: number, options?: RebuildOptions): Promise<RebuildResult>;
  /** Checks (and with `repair` fixes) redundancy over rows [start, end). */
  abstract scrubRows(start: number, end: number, options?: ScrubOptions): Promise<ScrubResult>;
}
