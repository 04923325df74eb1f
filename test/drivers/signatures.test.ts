import { execFileSync } from 'node:child_process';
import { readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileDevice } from '../../drivers/file.js';
import { openDevice } from '../../drivers/index.js';
import { createLoopDevice } from '../../drivers/loop.js';
import { detectSignature } from '../../drivers/signatures.js';
import { ErrorCode } from '../../src/errors.js';
import { requireCommand, requireRoot } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';

const MiB = 1024 * 1024;
const dir = tempDir('blockrig-sig-');

/** A 4 MiB zeroed image with `bytes` written at `offset` (latin1 strings or raw buffers). */
function image(...patches: [number, string | Buffer][]): Buffer {
  const disk = Buffer.alloc(4 * MiB);
  for (const [offset, bytes] of patches) (typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes).copy(disk, offset);
  return disk;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
}

const bootMarker: [number, string] = [510, '\x55\xaa'];
/** One MBR partition entry at slot 0: bootable, type 0x83, start 2048, 8192 sectors. */
const mbrEntry: [number, Buffer] = [446, Buffer.from([0x80, 0, 0, 0, 0x83, 0, 0, 0, 0x00, 0x08, 0, 0, 0x00, 0x20, 0, 0])];

function detect(disk: Buffer, blockSize = 512): ReturnType<typeof detectSignature> {
  return detectSignature((offset, length) => Promise.resolve(disk.subarray(offset, offset + length)), disk.length, blockSize);
}

describe('signature detection', () => {
  const cases: [string, Buffer, string][] = [
    ['xfs', image([0, 'XFSB']), 'an XFS filesystem'],
    ['btrfs', image([0x10040, '_BHRfS_M']), 'a btrfs filesystem'],
    ['ext2', image([1080, '\x53\xef']), 'an ext2 filesystem'],
    ['ext3', image([1080, '\x53\xef'], [1024 + 92, u32(0x4)]), 'an ext3 filesystem'],
    ['ext4', image([1080, '\x53\xef'], [1024 + 96, u32(0x40)]), 'an ext4 filesystem'],
    ['fat', image([82, 'FAT32   '], bootMarker), 'a FAT32 filesystem'],
    ['fat', image([54, 'FAT16   '], bootMarker), 'a FAT16 filesystem'],
    ['ntfs', image([3, 'NTFS    '], bootMarker), 'an NTFS filesystem'],
    ['exfat', image([3, 'EXFAT   '], bootMarker), 'an exFAT filesystem'],
    ['swap', image([4086, 'SWAPSPACE2']), 'a Linux swap area'],
    ['mbr', image(mbrEntry, bootMarker), 'an MBR partition table'],
    ['gpt', image([450, '\xee'], [512, 'EFI PART'], bootMarker), 'a GPT partition table'],
    ['lvm2', image([512, 'LABELONE'], [536, 'LVM2 001']), 'an LVM2 physical volume'],
    ['md-1.2', image([4096, u32(0xa92b4efc)], [4100, u32(1)]), 'an md RAID superblock (version 1.2)'],
    ['md-1.1', image([0, u32(0xa92b4efc)], [4, u32(1)]), 'an md RAID superblock (version 1.1)'],
    ['md-0.90', image([4 * MiB - 65536, u32(0xa92b4efc)]), 'an md RAID superblock (version 0.90)'],
    ['md-1.0', image([4 * MiB - 8192, u32(0xa92b4efc)], [4 * MiB - 8188, u32(1)]), 'an md RAID superblock (version 1.0)'],
    ['luks', image([0, 'LUKS\xba\xbe']), 'a LUKS encrypted volume'],
    ['iso9660', image([32769, 'CD001']), 'an ISO9660 filesystem'],
  ];
  for (const [id, disk, description] of cases) {
    it(`recognises ${description}`, async () => {
      await expect(detect(disk)).resolves.toMatchObject({ id, description, ours: false });
      await expect(detect(disk, 4096)).resolves.toMatchObject({ id });
    });
  }

  it('treats BLKRIG01 at offset 0 as ours, and blank or unrecognised data as nothing', async () => {
    await expect(detect(image([0, 'BLKRIG01'], [512, 'EFI PART']))).resolves.toMatchObject({ id: 'blockrig', ours: true });
    await expect(detect(image())).resolves.toBeUndefined();
    await expect(detect(image([510, '\x55\xaa'], [446, Buffer.from([0x12])]))).resolves.toBeUndefined();
    await expect(detect(Buffer.alloc(0))).resolves.toBeUndefined();
  });
});

describe('signatures written by the real tools', () => {
  it('recognises ext2, ext3 and ext4 made by mke2fs, and swap made by mkswap', async () => {
    requireCommand('mke2fs', 'e2fsprogs');
    requireCommand('mkswap', 'util-linux');
    const path = join(dir, 'tools.img');
    for (const [id, command, args] of [
      ['ext2', 'mke2fs', ['-q', '-F', '-t', 'ext2']],
      ['ext3', 'mke2fs', ['-q', '-F', '-t', 'ext3']],
      ['ext4', 'mke2fs', ['-q', '-F', '-t', 'ext4']],
      ['swap', 'mkswap', []],
    ] as const) {
      writeFileSync(path, '');
      truncateSync(path, 16 * MiB);
      execFileSync(command, [...args, path], { stdio: 'pipe' });
      await expect(detect(readFileSync(path))).resolves.toMatchObject({ id, ours: false });
    }
  });
});

describe('refusing to overwrite foreign data', () => {
  it('refuses writes to a real ext4 image with BLOCKRIG_E_FOREIGN_DATA unless forced', async () => {
    requireCommand('mkfs.ext4', 'e2fsprogs');
    const path = join(dir, 'ext4.img');
    writeFileSync(path, '');
    truncateSync(path, 16 * MiB);
    execFileSync('mkfs.ext4', ['-q', '-F', path], { stdio: 'pipe' });
    const guarded = await openDevice(path);
    try {
      expect(guarded.capabilities.readOnly).toBe(true);
      const err = await guarded.write(0, Buffer.alloc(512)).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: ErrorCode.ForeignData, details: { signature: 'an ext4 filesystem' } });
      expect((err as Error).message).toMatch(/carries an ext4 filesystem .* pass --force/);
      await expect(guarded.writeZeroes(0, 4096)).rejects.toMatchObject({ code: ErrorCode.ForeignData });
      expect((await guarded.read(1024, 512)).readUInt16LE(56)).toBe(0xef53);
    } finally {
      await guarded.close();
    }
    const forced = await openDevice(path, { force: true });
    try {
      expect(forced.capabilities.readOnly).toBe(false);
      await forced.write(1024, Buffer.alloc(1024));
    } finally {
      await forced.close();
    }
    // Wiped: the next open is writable without force.
    const wiped = await openDevice(path);
    expect(wiped.capabilities.readOnly).toBe(false);
    await wiped.close();
  });

  it('refuses writes through a loop device holding a hand-written MBR, and accepts them with force', async () => {
    requireRoot('attaching loop devices');
    const path = join(dir, 'mbr.img');
    writeFileSync(path, image(mbrEntry, bootMarker));
    const guarded = await createLoopDevice({ image: path });
    try {
      await expect(guarded.write(4096, Buffer.alloc(4096))).rejects.toMatchObject({ code: ErrorCode.ForeignData, details: { signature: 'an MBR partition table' } });
    } finally {
      await guarded.close();
    }
    const forced = await createLoopDevice({ image: path, force: true, direct: true });
    try {
      await forced.write(4096, Buffer.alloc(4096, 1));
    } finally {
      await forced.close();
    }
  });

  it('writes freely to a device carrying blockrig metadata, and to one opened read-only is refused as read-only', async () => {
    const path = join(dir, 'ours.img');
    writeFileSync(path, image([0, 'BLKRIG01'], [512, 'EFI PART']));
    const ours = await createFileDevice({ path });
    await ours.write(8192, Buffer.alloc(512, 9));
    await ours.close();
    const gpt = join(dir, 'gpt.img');
    writeFileSync(gpt, image([450, '\xee'], [512, 'EFI PART'], bootMarker));
    const readOnly = await createFileDevice({ path: gpt, readOnly: true });
    await expect(readOnly.write(0, Buffer.alloc(512))).rejects.toMatchObject({ code: ErrorCode.ReadOnly });
    await readOnly.close();
    const guarded = await createFileDevice({ path: gpt, direct: true });
    expect(guarded.foreignSignature).toMatchObject({ id: 'gpt', offset: 512 });
    await guarded.close();
  });
});
