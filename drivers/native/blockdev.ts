/**
 * What the kernel knows about a block device, or about the disk under a regular file: size and sector
 * sizes from ioctls, rotational and discard support from sysfs (`/sys/dev/block/MAJ:MIN`, which needs no
 * device name and so works for `/dev/loopN` nodes we created ourselves).
 */
import { readFileSync } from 'node:fs';
import { BLKGETSIZE64, BLKPBSZGET, BLKSSZGET } from './ioctls.js';
import { ioctlReadInt, ioctlReadU64 } from './libc.js';

/** Geometry of an open block device. */
export interface BlockDeviceGeometry {
  size: number;
  logicalBlockSize: number;
  physicalBlockSize: number;
}

/** Reads size (BLKGETSIZE64) and logical/physical block size (BLKSSZGET/BLKPBSZGET) of an open fd. */
export function blockDeviceGeometry(fd: number): BlockDeviceGeometry {
  const size = ioctlReadU64(fd, BLKGETSIZE64, 'ioctl(BLKGETSIZE64)');
  const logicalBlockSize = ioctlReadInt(fd, BLKSSZGET, 'ioctl(BLKSSZGET)');
  const physicalBlockSize = ioctlReadInt(fd, BLKPBSZGET, 'ioctl(BLKPBSZGET)');
  return { size, logicalBlockSize, physicalBlockSize: Math.max(logicalBlockSize, physicalBlockSize) };
}

/** Splits a `dev_t` (from `stat().rdev` or `.dev`) into major and minor, as glibc's `major()/minor()`. */
export function splitDeviceNumber(dev: number): { major: number; minor: number } {
  const d = BigInt(dev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return { major, minor };
}

/**
 * Reads `queue/<attribute>` of a block device by number; a partition has no queue of its own, so its
 * parent's is used. Undefined when sysfs does not say (no sysfs, a virtual filesystem's device number).
 */
export function queueAttribute(dev: number, attribute: string): string | undefined {
  const { major, minor } = splitDeviceNumber(dev);
  for (const dir of [`/sys/dev/block/${major}:${minor}/queue`, `/sys/dev/block/${major}:${minor}/../queue`]) {
    try {
      return readFileSync(`${dir}/${attribute}`, 'utf8').trim();
    } catch {
      // try the parent, then give up
    }
  }
  return undefined;
}

/** True when the kernel says the device spins (`queue/rotational` is 1). */
export function isRotational(dev: number): boolean {
  return queueAttribute(dev, 'rotational') === '1';
}

/** True when the device accepts discards (`queue/discard_max_bytes` above 0). */
export function supportsDiscard(dev: number): boolean {
  return Number(queueAttribute(dev, 'discard_max_bytes') ?? '0') > 0;
}
