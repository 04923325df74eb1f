/**
 * Allocation maps for NBD block status (`base:allocation`). The `BlockDevice` contract has no allocation
 * query, so a device that knows its allocation (the NBD client driver, passing through its server's map)
 * implements `AllocationMapper` as well; for any other device the server derives a map by reading the range
 * and marking all-zero blocks `NBD_STATE_ZERO` (never `NBD_STATE_HOLE`, since that would claim the block
 * is unallocated, which reading cannot tell). Either answer is correct by the spec; the second lets clients
 * such as `qemu-img convert` and `nbdcopy` skip zero ranges.
 */
import type { BlockDevice } from '../../drivers/types.js';
import { AllocationFlag } from './protocol.js';

/** One run of blocks with the same allocation state. */
export interface AllocationExtent {
  readonly length: number;
  /** `AllocationFlag` bits. */
  readonly flags: number;
}

/** A device that can report its allocation. */
export interface AllocationMapper {
  /** Extents covering a prefix (at least one block) of `[offset, offset + length)`, in order. */
  mapAllocation(offset: number, length: number): Promise<AllocationExtent[]>;
}

/** True when `device` implements `AllocationMapper`. */
export function hasAllocationMap(device: BlockDevice): device is BlockDevice & AllocationMapper {
  return typeof (device as Partial<AllocationMapper>).mapAllocation === 'function';
}

/** Largest range one derived map reads, so a block status request costs bounded I/O. */
const MAX_SCAN = 4 * 1024 * 1024;
/** Granularity of the derived map. */
const SCAN_GRAIN = 64 * 1024;

/** The allocation of a range: the device's own map when it has one, else zero detection by reading. */
export async function mapAllocation(device: BlockDevice, offset: number, length: number): Promise<AllocationExtent[]> {
  if (hasAllocationMap(device)) return device.mapAllocation(offset, length);
  const span = Math.min(length, MAX_SCAN);
  const data = await device.read(offset, span);
  const grain = Math.max(SCAN_GRAIN, device.logicalBlockSize);
  const extents: { length: number; flags: number }[] = [];
  for (let at = 0; at < span; ) {
    // The first grain is cut short so later grains start aligned on the device.
    const end = Math.min(span, at + grain - ((offset + at) % grain));
    const flags = isZero(data, at, end) ? AllocationFlag.Zero : 0;
    const last = extents[extents.length - 1];
    if (last !== undefined && last.flags === flags) last.length += end - at;
    else extents.push({ length: end - at, flags });
    at = end;
  }
  return extents;
}

let zeroes = Buffer.alloc(SCAN_GRAIN);

function isZero(data: Buffer, start: number, end: number): boolean {
  if (zeroes.length < end - start) zeroes = Buffer.alloc(end - start);
  return data.subarray(start, end).equals(zeroes.subarray(0, end - start));
}
