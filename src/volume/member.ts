/**
 * One member slot of a volume: its device, its state, its error counters, which rows of it hold good data
 * while it is rebuilt, and the member ranges a rebuild could not reconstruct (md's bad-block log).
 */
import type { BlockDevice } from '../../drivers/types.js';
import { BlockrigError, ErrorCode } from '../errors.js';
import { RowSet, type RowRange } from './row-set.js';

/** The life of a member, as `mdadm --detail` shows it. */
export const MemberState = {
  /** Holds current data for every row. */
  InSync: 'in-sync',
  /** Out of the volume: not read, not written. Its slot waits for a replacement. */
  Failed: 'failed',
  /** A replacement being reconstructed: written always, read only in rows already rebuilt. */
  Rebuilding: 'rebuilding',
} as const;
/** A member state. */
export type MemberState = (typeof MemberState)[keyof typeof MemberState];

/** A member byte range a rebuild could not reconstruct (every source was unreadable there). */
export interface BadBlock {
  readonly offset: number;
  readonly length: number;
}

/** What is known of a member, to persist (metadata region) or to restore when a volume is assembled. */
export interface MemberSnapshot {
  readonly state: MemberState;
  /** Rows of a rebuilding member that already hold good data. */
  readonly rebuilt?: readonly RowRange[];
  readonly readErrors?: number;
  readonly writeErrors?: number;
  readonly badBlocks?: readonly BadBlock[];
  /** Why it failed, for an operator. */
  readonly reason?: string;
}

/** A member slot. The volume core changes it; everything else reads it. */
export class VolumeMember {
  readonly index: number;
  /** The device, or undefined for a slot whose device is missing (assembled degraded). */
  device: BlockDevice | undefined;
  state: MemberState;
  readErrors: number;
  writeErrors: number;
  readonly rebuilt: RowSet;
  badBlocks: BadBlock[];
  reason: string | undefined;
  /** A proactive replacement being copied while this member stays in service (md's want_replacement). */
  replacement: { device: BlockDevice; copied: RowSet } | undefined;

  constructor(index: number, device: BlockDevice | undefined, snapshot?: MemberSnapshot) {
    this.index = index;
    this.device = device;
    this.state = device === undefined ? MemberState.Failed : (snapshot?.state ?? MemberState.InSync);
    this.readErrors = snapshot?.readErrors ?? 0;
    this.writeErrors = snapshot?.writeErrors ?? 0;
    this.rebuilt = new RowSet(snapshot?.rebuilt ?? []);
    this.badBlocks = [...(snapshot?.badBlocks ?? [])];
    this.reason = device === undefined ? 'device missing' : snapshot?.reason;
    this.replacement = undefined;
  }

  /** True when reads of `row` may use this member. */
  readableAt(row: number): boolean {
    return this.state === MemberState.InSync || (this.state === MemberState.Rebuilding && this.rebuilt.has(row));
  }

  /** True when writes go to this member (a rebuilding member takes every write, md's behaviour). */
  get writable(): boolean {
    return this.device !== undefined && this.state !== MemberState.Failed;
  }

  /** Rows of the member that hold good data: all of them when in sync, the rebuilt ones while rebuilding. */
  get watermark(): number {
    return this.rebuilt.watermark;
  }

  /** Records a member range a rebuild could not reconstruct, merging with a touching one. */
  addBadBlock(offset: number, length: number): void {
    const last = this.badBlocks[this.badBlocks.length - 1];
    if (last !== undefined && last.offset + last.length === offset) {
      this.badBlocks[this.badBlocks.length - 1] = { offset: last.offset, length: last.length + length };
    } else {
      this.badBlocks.push({ offset, length });
    }
  }

  /** True when [offset, offset+length) overlaps a recorded bad block. */
  hasBadBlock(offset: number, length: number): boolean {
    return this.badBlocks.some((b) => b.offset < offset + length && offset < b.offset + b.length);
  }

  /** Forgets bad blocks inside a range that was just written successfully (md clears them the same way). */
  clearBadBlocks(offset: number, length: number): void {
    const end = offset + length;
    this.badBlocks = this.badBlocks.flatMap((b) => {
      const bEnd = b.offset + b.length;
      if (bEnd <= offset || b.offset >= end) return [b];
      const kept: BadBlock[] = [];
      if (b.offset < offset) kept.push({ offset: b.offset, length: offset - b.offset });
      if (bEnd > end) kept.push({ offset: end, length: bEnd - end });
      return kept;
    });
  }

  /** The persistable view. */
  snapshot(): MemberSnapshot {
    return {
      state: this.state,
      rebuilt: this.state === MemberState.Rebuilding ? [...this.rebuilt.ranges] : [],
      readErrors: this.readErrors,
      writeErrors: this.writeErrors,
      badBlocks: [...this.badBlocks],
      ...(this.reason === undefined ? {} : { reason: this.reason }),
    };
  }
}

/** Codes of errors that mean the member's medium or link failed, as opposed to a bug or a cancel. */
const MEMBER_FAILURE_CODES: ReadonlySet<string> = new Set([ErrorCode.Io, ErrorCode.ShortRead, ErrorCode.DeviceUnavailable, ErrorCode.DeviceClosed, ErrorCode.Disconnected, ErrorCode.Timeout]);

/** True for errors that mean a member device failed (I/O error, gone, timed out). */
export function isMemberFailure(err: unknown): boolean {
  return err instanceof BlockrigError && MEMBER_FAILURE_CODES.has(err.code);
}
