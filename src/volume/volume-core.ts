/**
 * The core every volume level shares: a `BlockDevice` over member devices with member states, error
 * accounting, spares, the row lock and suspended ranges, and the status `mdadm --detail` would show.
 * Levels (`raid1.ts`, `parity-volume.ts`) implement the data path and the maintenance calls.
 *
 * Error policy (md's): a member write error fails the member at once, since its data is now stale; read
 * errors are counted, the data is reconstructed from the others and written back to the member, and past
 * `errorThreshold` read errors the member is failed. A member is never failed when that would lose more
 * members than the level tolerates; the I/O that needed it rejects with `VolumeFailedError` instead.
 */
import { BlockDeviceBase, NO_CAPABILITIES, readInto } from '../../drivers/base.js';
import type { BlockDevice } from '../../drivers/types.js';
import type { Clock } from '../clock.js';
import type { BlockrigError } from '../errors.js';
import { ConflictError, ErrorCode, InvalidArgumentError, VolumeFailedError } from '../errors.js';
import { VolumeLayout, type VolumeLevel } from './layout.js';
import { isMemberFailure, MemberState, VolumeMember, type MemberSnapshot } from './member.js';
import { RowLock, type ReleaseRows } from './row-lock.js';
import { describeVolume, type VolumeEvent, type VolumeState, type VolumeStatus } from './status.js';

/** How to build a volume over opened devices. */
export interface VolumeOptions {
  readonly name: string;
  readonly level: VolumeLevel;
  /** Bytes per chunk (raid1: bytes per row, the lock and rebuild unit). */
  readonly chunkSize: number;
  /** One device per member slot; undefined for a slot whose device is missing. */
  readonly members: readonly (BlockDevice | undefined)[];
  /** Devices that replace a failed member automatically. */
  readonly spares?: readonly BlockDevice[];
  /** Member states to start from (from the metadata region); default every member in sync. */
  readonly memberStates?: readonly (MemberSnapshot | undefined)[];
  /** Read errors a member may return before it is failed (md's `max_corr_read_errors`, 20). */
  readonly errorThreshold?: number;
  /** Close member and spare devices when the volume closes (default true). */
  readonly ownsMembers?: boolean;
  /** Refuse writes (capabilities.readOnly). */
  readonly readOnly?: boolean;
  /** URI to report (default `volume://NAME`). */
  readonly uri?: string;
  readonly clock?: Clock;
}

/** Member states, error accounting, spares and locks of every volume; see the module comment. */
export abstract class VolumeCore extends BlockDeviceBase {
  readonly name: string;
  readonly layout: VolumeLayout;
  readonly members: VolumeMember[];
  readonly spares: BlockDevice[];
  readonly errorThreshold: number;
  protected readonly lock = new RowLock();
  protected readonly ownsMembers: boolean;
  #listeners = new Set<(event: VolumeEvent) => void>();
  #unsubscribe: (() => void)[] = [];

  protected constructor(options: VolumeOptions) {
    const devices = options.members.filter((d): d is BlockDevice => d !== undefined);
    if (devices.length === 0) throw new InvalidArgumentError('a volume needs at least one member device', { details: { field: 'members' } });
    const blockSize = Math.max(...devices.map((d) => d.logicalBlockSize));
    if (options.chunkSize % blockSize !== 0) {
      throw new InvalidArgumentError(`chunk size ${options.chunkSize} is not a multiple of the members' ${blockSize}-byte blocks`, { details: { field: 'chunk' } });
    }
    const layout = new VolumeLayout(options.level, options.members.length, options.chunkSize, Math.min(...devices.map((d) => d.size)));
    super({
      uri: options.uri ?? `volume://${options.name}`,
      driver: 'volume',
      size: layout.size,
      logicalBlockSize: blockSize,
      physicalBlockSize: Math.max(blockSize, ...devices.map((d) => d.physicalBlockSize)),
      capabilities: { ...NO_CAPABILITIES, flush: true, readOnly: options.readOnly === true },
      ...(options.clock === undefined ? {} : { clock: options.clock }),
    });
    this.name = options.name;
    this.layout = layout;
    this.members = options.members.map((d, i) => new VolumeMember(i, d, options.memberStates?.[i]));
    this.spares = [...(options.spares ?? [])];
    this.errorThreshold = options.errorThreshold ?? 20;
    this.ownsMembers = options.ownsMembers ?? true;
    for (const m of this.members) this.watch(m);
    if (this.volumeState === 'failed') this.setAvailable(false, 'more members failed than the level tolerates');
  }

  // ---- state -----------------------------------------------------------------------------------

  /** clean, degraded (a member failed), rebuilding (a member being reconstructed), or failed. */
  get volumeState(): VolumeState {
    const notInSync = this.members.filter((m) => m.state !== MemberState.InSync).length;
    if (notInSync > this.layout.tolerance) return 'failed';
    if (this.members.some((m) => m.state === MemberState.Rebuilding)) return 'rebuilding';
    return notInSync > 0 ? 'degraded' : 'clean';
  }

  /** Everything `volume status` prints. */
  status(): VolumeStatus {
    return describeVolume(this.name, this.layout, this.volumeState, this.size, this.members, this.spares);
  }

  /** Registers a listener for member and volume state changes; returns its removal. */
  onEvent(listener: (event: VolumeEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Takes member `index` out of the volume; a spare, when there is one, takes its slot and needs a rebuild. */
  failMember(index: number, reason = 'failed by operator'): void {
    const m = this.member(index);
    if (m.state === MemberState.Failed) return;
    if (!this.canFail(index)) {
      throw new ConflictError(`member ${index} of volume ${this.name} cannot fail: the ${this.layout.level} volume would lose data`, { details: { member: index } });
    }
    const before = this.volumeState;
    this.setState(m, MemberState.Failed, reason);
    const replacement = m.replacement;
    if (replacement !== undefined) {
      // md's behaviour: a replacement being copied takes the failed member's place, keeping what it has.
      m.replacement = undefined;
      const old = this.replaceMember(index, replacement.device);
      for (const r of replacement.copied.ranges) m.rebuilt.add(r.start, r.end);
      if (this.ownsMembers) void old?.close().catch(() => undefined);
      this.volumeStateChanged(before);
      return;
    }
    const spare = this.spares.shift();
    if (spare !== undefined) {
      const old = this.replaceMember(index, spare);
      // The failed device leaves the volume here, so nobody else would close it (a loop device stays attached).
      if (this.ownsMembers) void old?.close().catch(() => undefined);
    }
    this.volumeStateChanged(before);
  }

  /** True when member `index` may fail without the volume losing data. */
  canFail(index: number): boolean {
    const m = this.member(index);
    if (m.state !== MemberState.InSync) return true;
    return this.members.filter((x) => x.state !== MemberState.InSync).length + 1 <= this.layout.tolerance;
  }

  /**
   * Puts `device` in the slot of failed member `index` as a rebuilding member with nothing rebuilt yet;
   * returns the device it replaced (the caller closes it). Rebuild it with `rebuildRows`.
   */
  replaceMember(index: number, device: BlockDevice): BlockDevice | undefined {
    const m = this.member(index);
    if (m.state !== MemberState.Failed) throw new ConflictError(`member ${index} of volume ${this.name} is ${m.state}: fail it before replacing it`);
    if (device.size < this.layout.rows * this.layout.chunkSize || this.logicalBlockSize % device.logicalBlockSize !== 0) {
      throw new InvalidArgumentError(`${device.uri} (${device.size} bytes, ${device.logicalBlockSize}-byte blocks) cannot replace a member of ${this.layout.rows * this.layout.chunkSize} bytes`, { details: { field: 'with' } });
    }
    const before = this.volumeState;
    const old = m.device;
    m.device = device;
    m.rebuilt.clear();
    m.badBlocks = [];
    m.readErrors = 0;
    m.writeErrors = 0;
    this.watch(m);
    this.setState(m, MemberState.Rebuilding, `replaced by ${device.uri}`);
    this.volumeStateChanged(before);
    return old;
  }

  /** Adds a spare device. */
  addSpare(device: BlockDevice): void {
    this.spares.push(device);
  }

  /** Records rows of a rebuilding member as holding good data (rebuilt here or by another controller). */
  markRebuilt(index: number, start: number, end: number): void {
    const m = this.member(index);
    if (m.state !== MemberState.Rebuilding) return;
    m.rebuilt.add(start, end);
    if (m.rebuilt.covers(0, this.layout.rows)) {
      const before = this.volumeState;
      m.rebuilt.clear();
      this.setState(m, MemberState.InSync, 'rebuild complete');
      this.volumeStateChanged(before);
    }
  }

  /**
   * Suspends rows [start, end): writes and reconstructing reads of them wait until the returned release is
   * called. A controller holds this while another controller rebuilds or repairs those rows, so a write
   * never races the reconstruction (md-cluster's suspend_range).
   */
  suspend(start: number, end: number): Promise<ReleaseRows> {
    return this.lock.acquire(start, end);
  }

  /** The slot, or InvalidArgumentError. */
  member(index: number): VolumeMember {
    const m = this.members[index];
    if (m === undefined) throw new InvalidArgumentError(`volume ${this.name} has no member ${index} (it has ${this.members.length})`, { details: { field: 'member' } });
    return m;
  }

  /** Writes to member `m`'s replacement being copied, if any; a failing replacement is dropped. */
  protected async replacementWrite(m: VolumeMember, offset: number, data: Uint8Array): Promise<void> {
    const r = m.replacement;
    if (r === undefined) return;
    try {
      await r.device.write(offset, data);
    } catch (err) {
      if (!isMemberFailure(err)) throw err;
      // A failing replacement is dropped; the member it was to replace serves on.
      if (m.replacement === r) m.replacement = undefined;
      if (this.ownsMembers) void r.device.close().catch(() => undefined);
    }
  }

  // ---- member I/O with error accounting --------------------------------------------------------

  /** Reads from a member; on a member failure counts it and resolves undefined (the caller reconstructs). */
  protected async memberRead(index: number, offset: number, length: number, into?: Buffer): Promise<Buffer | undefined> {
    const m = this.member(index);
    if (m.device === undefined || m.state === MemberState.Failed) return undefined;
    try {
      if (into === undefined) return await m.device.read(offset, length);
      // Into the caller's (reused) buffer: no allocation per read.
      const target = into.subarray(0, length);
      await readInto(m.device, offset, target);
      return target;
    } catch (err) {
      if (!isMemberFailure(err)) throw err;
      m.readErrors++;
      const gone = (err as BlockrigError).code !== ErrorCode.Io && (err as BlockrigError).code !== ErrorCode.ShortRead;
      if ((gone || m.readErrors > this.errorThreshold) && this.canFail(index)) {
        this.failMember(index, `${m.readErrors} read errors; last: ${(err as Error).message}`);
      }
      return undefined;
    }
  }

  /** Writes to a writable member; on failure fails it, or rejects when the volume cannot lose it. */
  protected async memberWrite(index: number, offset: number, data: Uint8Array): Promise<void> {
    const m = this.member(index);
    if (!m.writable || m.device === undefined) return;
    try {
      await m.device.write(offset, data);
      if (m.badBlocks.length > 0) m.clearBadBlocks(offset, data.length);
      // After the member's own write: a copy that re-reads the member then sees it, or this lands after.
      if (m.replacement !== undefined) await this.replacementWrite(m, offset, data);
    } catch (err) {
      if (!isMemberFailure(err)) throw err;
      m.writeErrors++;
      if (m.state === MemberState.Failed) return;
      if (!this.canFail(index)) {
        throw new VolumeFailedError(`volume ${this.name}: write to member ${index} failed and the volume cannot lose another member`, { cause: err, details: { member: index, offset } });
      }
      this.failMember(index, `write error: ${(err as Error).message}`);
    }
  }

  /**
   * Runs `write` for every member of `indexes`: in-sync members first, then rebuilding ones once those
   * landed. A rebuild on another controller relies on that order (see `rebuildRows` with `verify`).
   */
  protected async writeInOrder(indexes: readonly number[], write: (index: number) => Promise<void>): Promise<void> {
    const inSync = indexes.filter((i) => this.member(i).state === MemberState.InSync);
    const others = indexes.filter((i) => this.member(i).state !== MemberState.InSync);
    await Promise.all(inSync.map(write));
    await Promise.all(others.map(write));
  }

  /** Rejects a row range outside the volume. */
  protected checkRows(start: number, end: number): void {
    if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end > this.layout.rows || start > end) {
      throw new InvalidArgumentError(`rows [${start}, ${end}) are outside volume ${this.name} of ${this.layout.rows} rows`, { details: { field: 'rows', start, end } });
    }
  }

  /** Throws VolumeFailedError for a row that lacks the members to serve a request. */
  protected unrecoverable(row: number, what: string): VolumeFailedError {
    return new VolumeFailedError(`volume ${this.name}: row ${row} cannot be ${what}: more members are unreadable than ${this.layout.level} tolerates`, {
      details: { volume: this.name, row, state: this.volumeState },
    });
  }

  // ---- BlockDevice plumbing --------------------------------------------------------------------

  protected async doFlush(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        if (!m.writable || m.device === undefined) return;
        try {
          await m.device.flush();
        } catch (err) {
          if (!isMemberFailure(err)) throw err;
          m.writeErrors++;
          if (!this.canFail(m.index)) throw new VolumeFailedError(`volume ${this.name}: flush of member ${m.index} failed`, { cause: err });
          this.failMember(m.index, `flush error: ${(err as Error).message}`);
        }
      }),
    );
  }

  protected async doClose(): Promise<void> {
    for (const off of this.#unsubscribe) off();
    if (!this.ownsMembers) return;
    const devices = [...this.members.map((m) => m.device), ...this.spares].filter((d): d is BlockDevice => d !== undefined);
    await Promise.allSettled(devices.map((d) => d.close()));
  }

  protected watch(m: VolumeMember): void {
    const device = m.device;
    if (device === undefined) return;
    this.#unsubscribe.push(
      device.onAvailabilityChange((change) => {
        if (!change.available && m.device === device && m.state !== MemberState.Failed && this.canFail(m.index)) {
          this.failMember(m.index, `device unavailable: ${change.reason}`);
        }
      }),
    );
  }

  protected setState(m: VolumeMember, to: MemberState, reason: string): void {
    const from = m.state;
    m.state = to;
    m.reason = to === MemberState.InSync ? undefined : reason;
    this.emit({ type: 'member-state', volume: this.name, member: m.index, from, to, reason, uri: m.device?.uri ?? null });
  }

  protected volumeStateChanged(before: VolumeState): void {
    const after = this.volumeState;
    if (after === before) return;
    this.emit({ type: 'volume-state', volume: this.name, from: before, to: after });
    if (after === 'failed') this.setAvailable(false, 'more members failed than the level tolerates');
    else this.setAvailable(true, `volume ${after}`);
  }

  protected emit(event: VolumeEvent): void {
    for (const listener of [...this.#listeners]) listener(event);
  }
}
