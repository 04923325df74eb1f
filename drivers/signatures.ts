/**
 * Safety: recognising data blockrig did not write. Before a write-capable open of an existing file or
 * block device, the file driver looks for the signatures below; when one is found the device opens
 * read-only and every write-class request is refused with `ForeignDataError` naming the signature,
 * unless the caller passed `force: true` (CLI `--force`). We refuse writes rather than the open so that
 * probing, reading and verifying a disk that holds a filesystem still work, and so that the refusal
 * names the exact request that would have destroyed data. blockrig's own metadata magic, ASCII
 * `BLKRIG01` at offset 0, marks a device as ours and writable.
 *
 * Where each signature lives is documented in `docs/drivers.md` ("Signatures").
 */
import type { BlockDevice } from './types.js';

/** A recognised on-disk signature. */
export interface Signature {
  /** Short id: `ext4`, `xfs`, `gpt`, `md-1.2`, `blockrig`... */
  readonly id: string;
  /** Words for a message: "an ext4 filesystem". */
  readonly description: string;
  /** Byte offset of the magic on the device. */
  readonly offset: number;
  /** True for blockrig's own metadata: such a device is writable without force. */
  readonly ours: boolean;
}

/** Reads `length` bytes at `offset`; both are multiples of the block size passed to `detectSignature`. */
export type RangeReader = (offset: number, length: number) => Promise<Buffer>;

/** blockrig's metadata magic at offset 0. */
export const BLOCKRIG_MAGIC = 'BLKRIG01';

/** How much of the start of a device is examined: the btrfs superblock at 64 KiB is the deepest. */
const HEAD_BYTES = 72 * 1024;
/** How much of the end is examined: md 0.90 sits in the last 64-128 KiB. */
const TAIL_BYTES = 128 * 1024;
const MD_MAGIC = 0xa92b4efc;

type HeadCheck = (head: Buffer) => Omit<Signature, 'ours'> | undefined;

function ascii(buf: Buffer, offset: number, text: string): boolean {
  return buf.length >= offset + text.length && buf.toString('latin1', offset, offset + text.length) === text;
}

function u32le(buf: Buffer, offset: number): number | undefined {
  return buf.length >= offset + 4 ? buf.readUInt32LE(offset) : undefined;
}

/** ext2/3/4: superblock at 1024, magic 0xEF53 at +56; features tell the generations apart. */
const ext: HeadCheck = (head) => {
  if (head.length < 1024 + 104 || head.readUInt16LE(1024 + 56) !== 0xef53) return undefined;
  const compat = head.readUInt32LE(1024 + 92);
  const incompat = head.readUInt32LE(1024 + 96);
  const roCompat = head.readUInt32LE(1024 + 100);
  // extents, 64bit, flex_bg / huge_file, gdt_csum, dir_nlink, extra_isize, metadata_csum are ext4-only.
  const ext4 = (incompat & (0x40 | 0x80 | 0x200)) !== 0 || (roCompat & (0x8 | 0x10 | 0x20 | 0x40 | 0x400)) !== 0;
  const id = ext4 ? 'ext4' : (compat & 0x4) !== 0 ? 'ext3' : 'ext2';
  return { id, description: `an ${id} filesystem`, offset: 1080 };
};

const HEAD_CHECKS: readonly HeadCheck[] = [
  (h) => (ascii(h, 0, 'LUKS\xba\xbe') ? { id: 'luks', description: 'a LUKS encrypted volume', offset: 0 } : undefined),
  (h) => (ascii(h, 0, 'XFSB') ? { id: 'xfs', description: 'an XFS filesystem', offset: 0 } : undefined),
  (h) => (ascii(h, 0x10040, '_BHRfS_M') ? { id: 'btrfs', description: 'a btrfs filesystem', offset: 0x10040 } : undefined),
  ext,
  (h) => (ascii(h, 3, 'NTFS    ') ? { id: 'ntfs', description: 'an NTFS filesystem', offset: 3 } : undefined),
  (h) => (ascii(h, 3, 'EXFAT   ') ? { id: 'exfat', description: 'an exFAT filesystem', offset: 3 } : undefined),
  (h) => {
    for (const [offset, kind] of [[54, 'FAT12   '], [54, 'FAT16   '], [82, 'FAT32   ']] as const) {
      if (ascii(h, offset, kind) && h[510] === 0x55 && h[511] === 0xaa) {
        return { id: 'fat', description: `a ${kind.trim()} filesystem`, offset };
      }
    }
    return undefined;
  },
  (h) => {
    for (const page of [4096, 8192, 16384, 65536]) {
      if (ascii(h, page - 10, 'SWAPSPACE2') || ascii(h, page - 10, 'SWAP-SPACE')) {
        return { id: 'swap', description: 'a Linux swap area', offset: page - 10 };
      }
    }
    return undefined;
  },
  (h) => {
    // The LVM2 label may sit in any of the first four 512-byte sectors.
    for (let sector = 0; sector < 4; sector++) {
      if (ascii(h, sector * 512, 'LABELONE') && ascii(h, sector * 512 + 24, 'LVM2 001')) {
        return { id: 'lvm2', description: 'an LVM2 physical volume', offset: sector * 512 };
      }
    }
    return undefined;
  },
  (h) => {
    for (const [offset, version] of [[0, '1.1'], [4096, '1.2']] as const) {
      if (u32le(h, offset) === MD_MAGIC && u32le(h, offset + 4) === 1) {
        return { id: `md-${version}`, description: `an md RAID superblock (version ${version})`, offset };
      }
    }
    return undefined;
  },
  (h) => (ascii(h, 32769, 'CD001') ? { id: 'iso9660', description: 'an ISO9660 filesystem', offset: 32769 } : undefined),
  (h) => {
    for (const offset of [512, 4096]) {
      if (ascii(h, offset, 'EFI PART')) return { id: 'gpt', description: 'a GPT partition table', offset };
    }
    return undefined;
  },
  (h) => (isMbr(h) ? { id: 'mbr', description: 'an MBR partition table', offset: 510 } : undefined),
];

/** An MBR: the 0x55AA marker and at least one sane, non-empty partition entry. */
function isMbr(head: Buffer): boolean {
  if (head.length < 512 || head[510] !== 0x55 || head[511] !== 0xaa) return false;
  let used = 0;
  for (let i = 0; i < 4; i++) {
    const entry = 446 + i * 16;
    const status = head[entry] ?? 0;
    if (status !== 0 && status !== 0x80) return false;
    if ((head[entry + 4] ?? 0) !== 0 && head.readUInt32LE(entry + 12) > 0) used++;
  }
  return used > 0;
}

/** md 0.90 (last 64 KiB-aligned 64 KiB block) and md 1.0 (8 KiB before the end, 4 KiB aligned). */
function mdAtEnd(tail: Buffer, tailStart: number, size: number): Omit<Signature, 'ours'> | undefined {
  const candidates: [number, string, number][] = [];
  if (size >= 128 * 1024) candidates.push([Math.floor(size / 65536) * 65536 - 65536, '0.90', 0]);
  if (size >= 16 * 1024) candidates.push([(Math.floor(size / 512) - 16 - ((Math.floor(size / 512) - 16) % 8)) * 512, '1.0', 1]);
  for (const [offset, version, major] of candidates) {
    const at = offset - tailStart;
    if (at >= 0 && u32le(tail, at) === MD_MAGIC && u32le(tail, at + 4) === major) {
      return { id: `md-${version}`, description: `an md RAID superblock (version ${version})`, offset };
    }
  }
  return undefined;
}

/**
 * Looks for a known signature on a device of `size` bytes read through `read` in multiples of
 * `blockSize`. Returns the first found, or undefined for a blank or unrecognised device.
 */
export async function detectSignature(read: RangeReader, size: number, blockSize: number): Promise<Signature | undefined> {
  const end = size - (size % blockSize);
  const headLength = Math.min(end, roundUp(HEAD_BYTES, blockSize));
  if (headLength === 0) return undefined;
  const head = await read(0, headLength);
  if (ascii(head, 0, BLOCKRIG_MAGIC)) return { id: 'blockrig', description: 'blockrig metadata', offset: 0, ours: true };
  for (const check of HEAD_CHECKS) {
    const found = check(head);
    if (found) return { ...found, ours: false };
  }
  const tailStart = Math.max(0, end - roundUp(TAIL_BYTES, blockSize));
  const tail = end <= headLength ? head.subarray(tailStart, end) : await read(tailStart, end - tailStart);
  const md = mdAtEnd(tail, tailStart, size);
  return md ? { ...md, ours: false } : undefined;
}

/** `detectSignature` through any open device (used by `device probe`). */
export function detectDeviceSignature(dev: BlockDevice): Promise<Signature | undefined> {
  return detectSignature((offset, length) => dev.read(offset, length), dev.size, dev.logicalBlockSize);
}

function roundUp(n: number, unit: number): number {
  return Math.ceil(n / unit) * unit;
}
