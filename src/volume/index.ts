/**
 * The volume layer's front door: the volume configuration (validated with zod, as stored in the metadata
 * region and given to `blockrig volume create`), `createVolume` over opened devices and `openVolume` over
 * member URIs.
 */
import { openDevice } from '../../drivers/index.js';
import type { BlockDevice } from '../../drivers/types.js';
import { VolumeFailedError } from '../errors.js';
import type { VolumeConfig } from './config.js';
import type { MemberSnapshot } from './member.js';
import { ParityVolume } from './parity-volume.js';
import { Raid1Volume } from './raid1.js';
import type { Volume, VolumeOptions } from './volume.js';

/** Builds the volume of `options.level` over devices already open. */
export function createVolume(options: VolumeOptions): Volume {
  return options.level === 'raid1' ? new Raid1Volume(options) : new ParityVolume(options);
}

/** Options of `openVolume`. */
export interface OpenVolumeOptions {
  /** Member states from the metadata region. */
  readonly memberStates?: readonly (MemberSnapshot | undefined)[];
  /** Opens a member URI (default: the driver registry's `openDevice`). */
  readonly open?: (uri: string) => Promise<BlockDevice>;
}

/**
 * Opens every member and spare of a configuration and assembles the volume. A member that cannot be opened
 * leaves its slot failed ("device missing"), as md assembles an array degraded; when more are missing than
 * the level tolerates, the opened devices are closed again and VolumeFailedError says which.
 */
export async function openVolume(config: VolumeConfig, options: OpenVolumeOptions = {}): Promise<Volume> {
  const open = options.open ?? ((uri: string) => openDevice(uri));
  const opened = await Promise.allSettled(config.members.map((uri) => open(uri)));
  const members = opened.map((r) => (r.status === 'fulfilled' ? r.value : undefined));
  const spareResults = await Promise.allSettled(config.spares.map((uri) => open(uri)));
  const spares = spareResults.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const tolerance = config.level === 'raid1' ? config.members.length - 1 : config.level === 'raid5' ? 1 : 2;
  const missing = opened.flatMap((r, i) => (r.status === 'rejected' ? [`${config.members[i]}: ${(r.reason as Error).message}`] : []));
  if (missing.length > tolerance) {
    await closeAll([...members, ...spares]);
    throw new VolumeFailedError(`volume ${config.name} cannot be assembled: ${missing.length} members cannot be opened (${missing.join('; ')})`, {
      details: { volume: config.name, missing },
    });
  }
  try {
    return createVolume({
      name: config.name,
      level: config.level,
      chunkSize: config.chunkSize,
      members,
      spares,
      errorThreshold: config.errorThreshold,
      ...(options.memberStates === undefined ? {} : { memberStates: options.memberStates }),
    });
  } catch (err) {
    await closeAll([...members, ...spares]);
    throw err;
  }
}

/** Closes whatever devices were opened, ignoring their errors (we are already failing). */
async function closeAll(devices: readonly (BlockDevice | undefined)[]): Promise<void> {
  await Promise.allSettled(devices.filter((d): d is BlockDevice => d !== undefined).map((d) => d.close()));
}

export { VolumeConfigSchema, parseVolumeConfig, type VolumeConfig, type VolumeConfigInput } from './config.js';
export { Volume, type VolumeOptions } from './volume.js';
export { Raid1Volume } from './raid1.js';
export { ParityVolume } from './parity-volume.js';
export { VolumeLayout, type VolumeLevel, type RowMap } from './layout.js';
export { MemberState, type MemberSnapshot, type BadBlock } from './member.js';
export type { VolumeStatus, VolumeEvent, VolumeState, MemberStatus } from './status.js';
export type { Mismatch, MismatchKind, ScrubResult, RebuildResult, ScrubOptions, RebuildOptions } from './maintenance.js';
export { mergeScrubResults } from './maintenance.js';
