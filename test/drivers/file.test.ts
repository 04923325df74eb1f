import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { constants, readdirSync, readFileSync, readlinkSync, rmSync, statSync, truncateSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createFileDevice, type FileDevice } from '../../drivers/file.js';
import { openDevice } from '../../drivers/index.js';
import { ErrorCode } from '../../src/errors.js';
import { tempDir } from '../support/temp.js';
import { testDriver } from './contract.js';

const dir = tempDir('blockrig-file-');
const image = join(dir, 'disk.img');

for (const direct of [false, true]) {
  testDriver(`file (${direct ? 'O_DIRECT' : 'buffered'})`, {
    open: () => createFileDevice({ path: image, createSize: 8 * 1024 * 1024, direct }),
    reopenReadOnly: () => createFileDevice({ path: image, readOnly: true, direct }),
    cleanup: () => Promise.resolve(rmSync(image, { force: true })),
  });
}

describe('file driver', () => {
  it('names a missing path with BLOCKRIG_E_DEVICE_NOT_FOUND', async () => {
    for (const path of ['/dev/nonexistent', join(dir, 'missing.img')]) {
      const err = await openDevice(path).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: ErrorCode.DeviceNotFound });
      expect((err as Error).message).toContain(path);
    }
  });

  it('refuses what is neither a file nor a block device', async () => {
    await expect(openDevice('/dev/null')).rejects.toMatchObject({ code: ErrorCode.Unsupported });
    await expect(openDevice(dir)).rejects.toMatchObject({ code: ErrorCode.Io, errno: 'EISDIR' });
  });

  it('creates a sparse image from a URI, with options on file: URIs and plain paths', async () => {
    const path = join(dir, 'created.img');
    const dev = (await openDevice(`file://${path}?create=1&size=3MiB&blockSize=4096`)) as FileDevice;
    expect(dev.size).toBe(3 * 1024 * 1024);
    expect(dev.logicalBlockSize).toBe(4096);
    expect(statSync(path).blocks).toBe(0);
    await dev.close();
    const direct = (await openDevice(`${path}?direct=1`)) as FileDevice;
    expect(direct.direct).toBe(true);
    expect(direct.path).toBe(path);
    await direct.close();
    await expect(openDevice(`file://${join(dir, 'x.img')}?create=1`)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
    await expect(openDevice(`${path}?blockSize=1000`)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
  });

  it('bounces unaligned caller buffers under O_DIRECT', async () => {
    const path = join(dir, 'bounce.img');
    const dev = await createFileDevice({ path, createSize: 1024 * 1024, direct: true });
    try {
      const backing = randomBytes(8192 + 1);
      const unaligned = backing.subarray(1);
      await dev.write(4096, unaligned);
      expect(Buffer.compare(await dev.read(4096, 8192), unaligned)).toBe(0);
    } finally {
      await dev.close();
    }
  });

  it('punches holes to trim and to write zeroes', async () => {
    const path = join(dir, 'holes.img');
    const dev = await createFileDevice({ path, createSize: 4 * 1024 * 1024 });
    try {
      await dev.write(0, Buffer.alloc(2 * 1024 * 1024, 0x11));
      await dev.flush();
      const allocated = statSync(path).blocks;
      await dev.trim(0, 1024 * 1024);
      expect(statSync(path).blocks).toBeLessThan(allocated);
      await dev.writeZeroes(1024 * 1024, 512 * 1024);
      expect(statSync(path).blocks).toBeLessThan(allocated - 1024);
      expect((await dev.read(0, 1536 * 1024)).every((b) => b === 0)).toBe(true);
      expect(statSync(path).size).toBe(4 * 1024 * 1024);
    } finally {
      await dev.close();
    }
  });

  it('turns a read past a file that shrank under it into BLOCKRIG_E_SHORT_READ', async () => {
    const path = join(dir, 'shrinks.img');
    const dev = await createFileDevice({ path, createSize: 1024 * 1024 });
    try {
      truncateSync(path, 512 * 1024);
      await expect(dev.read(512 * 1024 - 512, 1024)).rejects.toMatchObject({ code: ErrorCode.ShortRead, details: { got: 512 } });
      await expect(dev.readInto(512 * 1024 - 512, Buffer.alloc(1024))).rejects.toMatchObject({ code: ErrorCode.ShortRead, details: { got: 512 } });
    } finally {
      await dev.close();
    }
  });

  it('runs afterClose on close and when the open fails', async () => {
    let calls = 0;
    const afterClose = (): Promise<void> => Promise.resolve(void calls++);
    await expect(createFileDevice({ path: join(dir, 'nope.img'), afterClose })).rejects.toMatchObject({ code: ErrorCode.DeviceNotFound });
    expect(calls).toBe(1);
    const dev = await createFileDevice({ path: join(dir, 'ok.img'), createSize: 4096, afterClose });
    await dev.close();
    await dev.close();
    expect(calls).toBe(2);
  });
});

// tmpfs has no fallocate(ZERO_RANGE): writeZeroes with noUnmap takes the zero-buffer fallback there.
const shm = join('/dev/shm', `blockrig-file-${process.pid}.img`);
testDriver('file on tmpfs (/dev/shm)', {
  open: () => createFileDevice({ path: shm, createSize: 8 * 1024 * 1024 }),
  reopenReadOnly: () => createFileDevice({ path: shm, readOnly: true }),
  cleanup: () => Promise.resolve(rmSync(shm, { force: true })),
});

describe('file driver FUA', () => {
  /** Flags (from /proc/self/fdinfo) of every descriptor this process holds on `path`. */
  function descriptorFlags(path: string): number[] {
    return readdirSync('/proc/self/fd').flatMap((fd) => {
      try {
        if (readlinkSync(`/proc/self/fd/${fd}`) !== path) return [];
        const flags = /flags:\s+([0-7]+)/.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'))?.[1];
        return flags === undefined ? [] : [parseInt(flags, 8)];
      } catch {
        return [];
      }
    });
  }

  it('writes FUA requests through an O_DSYNC descriptor and closes it with the device', async () => {
    const path = join(dir, 'fua.img');
    const dev = await createFileDevice({ path, createSize: 1024 * 1024 });
    expect(dev.capabilities.fua).toBe(true);
    await dev.write(0, Buffer.alloc(4096, 1));
    expect(descriptorFlags(path).some((f) => (f & constants.O_DSYNC) !== 0)).toBe(false);
    await dev.write(4096, Buffer.alloc(4096, 2), { fua: true });
    await dev.writeZeroes(0, 4096, { fua: true });
    expect(descriptorFlags(path).some((f) => (f & constants.O_DSYNC) !== 0)).toBe(true);
    expect([...(await dev.read(0, 8192))].filter((b) => b === 2)).toHaveLength(4096);
    await dev.close();
    expect(descriptorFlags(path)).toEqual([]);
  });
});
