/**
 * `formatRegion`: writes a fresh metadata region at the start of a device (docs/on-disk-format.md,
 * section 1). It refuses, unless forced, a device that already holds a region (tasks would be lost) or any
 * other non-zero data in the range it would overwrite (someone else's data).
 */
import type { BlockDevice } from '../../drivers/types.js';
import { ConflictError, ForeignDataError, InvalidArgumentError, UnsupportedError, isBlockrigError, ErrorCode } from '../errors.js';
import { DEFAULT_GEOMETRY, DEFAULT_TIMING, META_BLOCK, RegionLayout, type RegionGeometry, type TimingParameters } from './layout.js';
import { MetadataRegion } from './region.js';
import { encodeSuperblock, newSuperblock, readSuperblock, type Superblock } from './superblock.js';

/** Options of `formatRegion`. */
export interface FormatOptions {
  geometry?: Partial<RegionGeometry>;
  timing?: Partial<TimingParameters>;
  label?: string;
  /** Overwrite an existing region or foreign data. */
  force?: boolean;
  /** Wall time to stamp (display only). */
  wallTime?: number;
}

const SCAN_CHUNK = 1024 * 1024;

/** Formats the region and returns its superblock. */
export async function formatRegion(device: BlockDevice, options: FormatOptions = {}): Promise<Superblock> {
  const geometry: RegionGeometry = { ...DEFAULT_GEOMETRY, ...options.geometry };
  const timing: TimingParameters = { ...DEFAULT_TIMING, ...options.timing };
  const sb = newSuperblock(geometry, timing, options.label ?? '', options.wallTime ?? Date.now());
  const layout = new RegionLayout(geometry);
  if (META_BLOCK % device.logicalBlockSize !== 0) {
    throw new UnsupportedError(`device ${device.uri} has ${device.logicalBlockSize}-byte blocks; the metadata region needs a block size dividing 4096`);
  }
  if (layout.regionBytes > device.size) {
    throw new InvalidArgumentError(
      `device ${device.uri} has ${device.size} bytes but a region with ${geometry.hostSlots} host slots, ${geometry.taskSlots} task slots and ${geometry.maxChunksPerTask} chunks per task needs ${layout.regionBytes}: use a larger device or fewer slots`,
      { details: { field: 'device', size: device.size, needed: layout.regionBytes } },
    );
  }
  if (options.force !== true) await refuseExistingData(device, layout.regionBytes);
  // Zero everything but the superblock first, then write both superblock copies: a crash part-way leaves
  // a device without a valid superblock (no region) rather than a region with stale records.
  await device.writeZeroes(2 * META_BLOCK, layout.regionBytes - 2 * META_BLOCK, { noUnmap: false });
  await device.flush();
  await device.write(0, encodeSuperblock(sb, 0), { fua: true });
  await device.write(META_BLOCK, encodeSuperblock(sb, 1), { fua: true });
  return sb;
}

async function refuseExistingData(device: BlockDevice, regionBytes: number): Promise<void> {
  const head = await device.read(0, 2 * META_BLOCK);
  try {
    readSuperblock(device.uri, head);
    throw new ConflictError(`${device.uri} already holds a blockrig metadata region; formatting would lose its tasks: pass --force to reformat it`, {
      details: { uri: device.uri },
    });
  } catch (err) {
    if (isBlockrigError(err, ErrorCode.Conflict)) throw err;
    if (isBlockrigError(err, ErrorCode.MetaCorrupt) || isBlockrigError(err, ErrorCode.MetaVersion)) {
      throw new ConflictError(`${device.uri} holds a damaged or newer blockrig metadata region (${err.message}); pass --force to reformat it`, { cause: err });
    }
  }
  for (let at = 0; at < regionBytes; at += SCAN_CHUNK) {
    const n = Math.min(SCAN_CHUNK, regionBytes - at);
    const buf = await device.read(at, n);
    const nonZero = firstNonZero(buf);
    if (nonZero !== -1) throw new ForeignDataError(device.uri, `non-zero data at byte ${at + nonZero} inside the ${regionBytes}-byte range the region would use`);
  }
}

function firstNonZero(buf: Buffer): number {
  for (let i = 0; i < buf.length; i += 8) {
    if (buf.readBigUInt64LE(i) !== 0n) {
      for (let j = i; j < i + 8; j++) if (buf[j] !== 0) return j;
    }
  }
  return -1;
}

/** Opens the region of a device; re-exported here so callers of format find open beside it. */
export const openRegion = (device: BlockDevice): Promise<MetadataRegion> => MetadataRegion.open(device);
