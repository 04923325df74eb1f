/**
 * What a volume reports about itself: its status (the shape `blockrig volume status --json` prints) and the
 * events it emits when a member or the volume changes state (the controller persists these to the
 * metadata region).
 */
import type { BlockDevice } from '../../drivers/types.js';
import type { VolumeLayout, VolumeLevel } from './layout.js';
import { MemberState, type BadBlock, type VolumeMember } from './member.js';

/** The state of a whole volume, as `mdadm --detail` names it. */
export type VolumeState = 'clean' | 'degraded' | 'rebuilding' | 'failed';

/** One member's line of the status. */
export interface MemberStatus {
  readonly index: number;
  /** The member device's URI, or null when the slot has no device. */
  readonly uri: string | null;
  readonly state: MemberState;
  readonly readErrors: number;
  readonly writeErrors: number;
  /** Rows holding good data: all of them in sync, none failed, the rebuilt ones while rebuilding. */
  readonly rebuiltRows: number;
  readonly badBlocks: readonly BadBlock[];
  /** Why the member is not in sync. */
  readonly reason: string | null;
}

/** A volume's status. */
export interface VolumeStatus {
  readonly name: string;
  readonly level: VolumeLevel;
  readonly state: VolumeState;
  readonly size: number;
  readonly chunkSize: number;
  readonly rows: number;
  readonly members: readonly MemberStatus[];
  /** URIs of spare devices. */
  readonly spares: readonly string[];
}

/** A member changed state. */
export interface MemberStateEvent {
  readonly type: 'member-state';
  readonly volume: string;
  readonly member: number;
  readonly from: MemberState;
  readonly to: MemberState;
  readonly reason: string;
  readonly uri: string | null;
}

/** The volume changed state. */
export interface VolumeStateEvent {
  readonly type: 'volume-state';
  readonly volume: string;
  readonly from: VolumeState;
  readonly to: VolumeState;
}

/** Anything a volume tells its listeners. */
export type VolumeEvent = MemberStateEvent | VolumeStateEvent;

/** Builds the status of a volume from its parts. */
export function describeVolume(name: string, layout: VolumeLayout, state: VolumeState, size: number, members: readonly VolumeMember[], spares: readonly BlockDevice[]): VolumeStatus {
  return {
    name,
    level: layout.level,
    state,
    size,
    chunkSize: layout.chunkSize,
    rows: layout.rows,
    members: members.map((m) => ({
      index: m.index,
      uri: m.device?.uri ?? null,
      state: m.state,
      readErrors: m.readErrors,
      writeErrors: m.writeErrors,
      rebuiltRows: m.state === MemberState.Rebuilding ? m.rebuilt.count : m.state === MemberState.InSync ? layout.rows : 0,
      badBlocks: [...m.badBlocks],
      reason: m.reason ?? null,
    })),
    spares: spares.map((d) => d.uri),
  };
}
