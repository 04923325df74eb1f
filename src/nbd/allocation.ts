/**
 * Allocation maps for NBD block status (`base:allocation`). The `BlockDevice` contract has no allocation
 * query, so a device that knows its allocation (the NBD client driver, passing through its server's map)
 * implements `AllocationMapper` as well; for any other device the server derives a map by reading the range
 * and marking all-zero blocks `NBD_STATE_ZERO` (never `NBD_STATE_HOLE`, since that would claim the block
 * is unallocated, which reading cannot tell). A range whose first MiB holds no zero block is reported as
 * data for 8 MiB without reading on, so block status never doubles the reads of a full copy. Either answer is correct by the spec; the second lets clients
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
/** What is read first; a probe with no zero grain stops the scan. */
const PROBE = 1024 * 1024;
/**
 * How far a data-only probe is extended without reading. Reporting data is always correct (only a ZERO
 * claim must be verified), and it keeps a copy of a full device from reading everything twice: the extra
 * reads are PROBE / DATA_STRIDE (1/8) of the device instead of all of it.
 */
const DATA_STRIDE = 8 * 1024 * 1024;
/** Granularity of the derived map. */
const SCAN_GRAIN = 64 * 1024;

/** The allocation of a range: the device's own map when it has one, else zero detection by reading. */
export async function mapAllocation(device: BlockDevice, offset: number, length: number): Promise<AllocationExtent[]> {
  if (hasAllocationMap(device)) return device.mapAllocation(offset, length);
  const grain = Math.max(SCAN_GRAIN, device.logicalBlockSize);
  const probe = Math.min(length, PROBE);
  const probed = scan(await device.read(offset, probe), offset, grain);
  if (probed.length === 1 && probed[0]?.flags === 0) return [{ length: Math.min(length, DATA_STRIDE), flags: 0 }];
  const span = Math.min(length, MAX_SCAN);
  return span === probe ? probed : scan(await device.read(offset, span), offset, grain);
}

/** Runs of all-zero and data grains in `data`, which starts at device offset `offset`. */
function scan(data: Buffer, offset: number, grain: number): { length: number; flags: number }[] {
  const extents: { length: number; flags: number }[] = [];
  for (let at = 0; at < data.length; ) {
    // The first grain is cut short so later grains start aligned on the device.
    const end = Math.min(data.length, at + grain - ((offset + at) % grain));
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
