import { existsSync, mkdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileDevice, type FileDevice } from '../../drivers/file.js';
import { openDevice } from '../../drivers/index.js';
import { createLoopDevice } from '../../drivers/loop.js';
import { attachLoop } from '../../drivers/native/loop-control.js';
import { ErrorCode } from '../../src/errors.js';
import { requireRoot } from '../support/requirements.js';
import { tempDir } from '../support/temp.js';
import { testDriver } from './contract.js';

const dir = tempDir('blockrig-loop-');
const image = join(dir, 'loop.img');
const MiB = 1024 * 1024;

function freshImage(size = 8 * MiB): void {
  requireRoot('attaching loop devices');
  rmSync(image, { force: true });
  writeFileSync(image, '');
  truncateSync(image, size);
}

function backingFile(dev: FileDevice): string | undefined {
  const number = dev.path.replace('/dev/loop', '');
  const path = `/sys/block/loop${number}/loop/backing_file`;
  return existsSync(path) ? readFileSync(path, 'utf8').trim() : undefined;
}

for (const direct of [false, true]) {
  let dev: FileDevice | undefined;
  testDriver(`loop (${direct ? 'O_DIRECT' : 'buffered'})`, {
    open: async () => {
      freshImage();
      dev = await createLoopDevice({ image, direct });
      return dev;
    },
    reopenReadOnly: () => createFileDevice({ path: dev?.path ?? '', readOnly: true, direct }),
  });
}

describe('loop driver', () => {
  it('attaches a real loop device with the kernel geometry and detaches it on close', async () => {
    freshImage(12 * MiB);
    const dev = (await openDevice(`loop://${image}`)) as FileDevice;
    expect(dev.driver).toBe('loop');
    expect(dev.path).toMatch(/^\/dev\/loop\d+$/);
    expect(dev.isBlockDevice).toBe(true);
    expect(dev.size).toBe(12 * MiB);
    expect(dev.logicalBlockSize).toBe(512);
    expect(backingFile(dev)).toBe(image);
    await dev.write(0, Buffer.alloc(4096, 0x42), { fua: true });
    await dev.close();
    expect(backingFile(dev)).toBeUndefined();
    // What was written through the loop device is in the image.
    expect(readFileSync(image).subarray(0, 4096).every((b) => b === 0x42)).toBe(true);
  });

  it('zeroes and discards through the kernel (BLKZEROOUT, BLKDISCARD)', async () => {
    freshImage();
    const dev = await createLoopDevice({ image });
    try {
      await dev.write(0, Buffer.alloc(256 * 1024, 0x77));
      await dev.writeZeroes(64 * 1024, 64 * 1024, { noUnmap: true });
      await dev.writeZeroes(128 * 1024, 64 * 1024);
      const back = await dev.read(0, 256 * 1024);
      expect(back.subarray(0, 64 * 1024).every((b) => b === 0x77)).toBe(true);
      expect(back.subarray(64 * 1024, 192 * 1024).every((b) => b === 0)).toBe(true);
      expect(back.subarray(192 * 1024).every((b) => b === 0x77)).toBe(true);
      // The loop device on ext4 advertises discard (punch hole underneath).
      expect(dev.capabilities.trim).toBe(true);
      await dev.trim(0, 64 * 1024);
    } finally {
      await dev.close();
    }
  });

  it('fails with BLOCKRIG_E_DEVICE_NOT_FOUND naming a missing image', async () => {
    requireRoot('attaching loop devices');
    const missing = join(dir, 'missing.img');
    const err = await openDevice(`loop://${missing}`).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCode.DeviceNotFound });
    expect((err as Error).message).toContain(missing);
  });

  it('opens read-only when asked, refusing writes with BLOCKRIG_E_READ_ONLY', async () => {
    freshImage();
    const dev = await createLoopDevice({ image, readOnly: true });
    try {
      expect(dev.capabilities.readOnly).toBe(true);
      await expect(dev.write(0, Buffer.alloc(512))).rejects.toMatchObject({ code: ErrorCode.ReadOnly });
      expect((await dev.read(0, 512)).every((b) => b === 0)).toBe(true);
    } finally {
      await dev.close();
    }
  });
});

describe('loop attach without LOOP_CONFIGURE', () => {
  it('binds with LOOP_SET_FD and LOOP_SET_STATUS64, autoclear set, and detaches', async () => {
    freshImage(4 * MiB);
    const loop = attachLoop(image, { method: 'set-fd' });
    try {
      const sys = `/sys/block/loop${loop.number}/loop`;
      expect(readFileSync(`${sys}/backing_file`, 'utf8').trim()).toBe(image);
      expect(readFileSync(`${sys}/autoclear`, 'utf8').trim()).toBe('1');
      const dev = await createFileDevice({ path: loop.devicePath });
      expect(dev.size).toBe(4 * MiB);
      await dev.close();
    } finally {
      await loop.detach();
    }
    expect(existsSync(`/sys/block/loop${loop.number}/loop/backing_file`)).toBe(false);
  });
});

describe('loop device nodes', () => {
  it('creates the /dev/loopN node with mknod when it is missing (containers without udev)', async () => {
    freshImage(4 * MiB);
    const nodes = join(dir, 'dev');
    mkdirSync(nodes, { recursive: true });
    const loop = attachLoop(image, { deviceDir: nodes });
    try {
      expect(loop.devicePath).toBe(join(nodes, `loop${loop.number}`));
      expect(statSync(loop.devicePath).isBlockDevice()).toBe(true);
      const dev = await createFileDevice({ path: loop.devicePath });
      expect(dev.isBlockDevice).toBe(true);
      expect(dev.size).toBe(4 * MiB);
      await dev.write(0, Buffer.alloc(512, 3));
      await dev.close();
    } finally {
      await loop.detach();
    }
  });
});

testDriver('loop (4096-byte sectors, O_DIRECT)', {
  open: () => {
    freshImage();
    return openDevice(`loop://${image}?blockSize=4096&direct=1`);
  },
});

describe('loop sector size', () => {
  it('emulates a 4Kn disk with blockSize=4096, also on the pre-5.8 path, and refuses other sizes', async () => {
    freshImage(4 * MiB);
    const dev = await createLoopDevice({ image, blockSize: 4096 });
    try {
      expect(dev.logicalBlockSize).toBe(4096);
      await expect(dev.write(512, Buffer.alloc(512))).rejects.toMatchObject({ code: ErrorCode.Unaligned });
    } finally {
      await dev.close();
    }
    const legacy = attachLoop(image, { blockSize: 4096, method: 'set-fd' });
    try {
      expect(readFileSync(`/sys/block/loop${legacy.number}/queue/logical_block_size`, 'utf8').trim()).toBe('4096');
    } finally {
      await legacy.detach();
    }
    await expect(openDevice(`loop://${image}?blockSize=3000`)).rejects.toMatchObject({ code: ErrorCode.InvalidArgument });
  });
});
