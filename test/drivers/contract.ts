/**
 * The driver contract suite: every driver runs these same cases (`drivers/types.ts` states the contract).
 * A driver's test file calls `testDriver()` with a factory that opens a fresh device of at least 4 MiB.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { allocAligned } from '../../drivers/native/aligned.js';
import type { BlockDevice } from '../../drivers/types.js';
import { ErrorCode } from '../../src/errors.js';

/** How to make and dispose of one device under test. */
export interface DriverUnderTest {
  /** Opens a fresh writable device of at least 4 MiB. */
  open(): Promise<BlockDevice>;
  /** Cleans up after a case (the device is already closed). */
  cleanup?(): Promise<void>;
  /** Opens the same medium a second time, read-only, to check durability across handles. */
  reopenReadOnly?(): Promise<BlockDevice>;
}

/** `dev.readInto`, which every driver has through `BlockDeviceBase`; the case fails when it is missing. */
function readIntoOf(dev: BlockDevice): NonNullable<BlockDevice['readInto']> {
  if (dev.readInto === undefined) throw new Error(`driver ${dev.driver} has no readInto`);
  return dev.readInto.bind(dev);
}

/** Registers the contract cases for one driver. */
export function testDriver(name: string, subject: DriverUnderTest): void {
  describe(`driver contract: ${name}`, () => {
    let dev: BlockDevice;

    beforeEach(async () => {
      dev = await subject.open();
    });

    afterEach(async () => {
      await dev.close();
      await subject.cleanup?.();
    });

    it('reports a consistent geometry', () => {
      expect(dev.size).toBeGreaterThanOrEqual(4 * 1024 * 1024);
      expect(dev.size % dev.logicalBlockSize).toBe(0);
      expect([512, 1024, 2048, 4096]).toContain(dev.logicalBlockSize);
      expect(dev.physicalBlockSize % dev.logicalBlockSize).toBe(0);
      expect(dev.closed).toBe(false);
      expect(dev.available).toBe(true);
      expect(dev.capabilities.readOnly).toBe(false);
    });

    it('reads back what it wrote, at the start, middle and last block', async () => {
      const bs = dev.logicalBlockSize;
      for (const offset of [0, Math.floor(dev.size / 2 / bs) * bs, dev.size - 8 * bs]) {
        const data = randomBytes(8 * bs);
        await dev.write(offset, data);
        expect(Buffer.compare(await dev.read(offset, data.length), data)).toBe(0);
      }
    });

    it('keeps neighbouring blocks intact around a write', async () => {
      const bs = dev.logicalBlockSize;
      const before = randomBytes(3 * bs);
      await dev.write(bs, before);
      await dev.write(2 * bs, Buffer.alloc(bs, 0xab));
      const after = await dev.read(bs, 3 * bs);
      expect(Buffer.compare(after.subarray(0, bs), before.subarray(0, bs))).toBe(0);
      expect(after.subarray(bs, 2 * bs).every((b) => b === 0xab)).toBe(true);
      expect(Buffer.compare(after.subarray(2 * bs), before.subarray(2 * bs))).toBe(0);
    });

    it('handles a large request and many concurrent requests', async () => {
      const big = randomBytes(2 * 1024 * 1024);
      await dev.write(0, big, { fua: true });
      expect(Buffer.compare(await dev.read(0, big.length), big)).toBe(0);
      const bs = dev.logicalBlockSize;
      const blocks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(bs, i + 1));
      await Promise.all(blocks.map((b, i) => dev.write(i * bs * 3, b)));
      const back = await Promise.all(blocks.map((_, i) => dev.read(i * bs * 3, bs)));
      back.forEach((b, i) => expect(b.every((x) => x === i + 1)).toBe(true));
    });

    it('reads into the caller\'s memory what read returns, whatever the view\'s offset and alignment', async () => {
      const bs = dev.logicalBlockSize;
      const length = 16 * bs;
      const offset = Math.floor(dev.size / 3 / bs) * bs;
      const data = randomBytes(length);
      await dev.write(offset, data);
      const readInto = readIntoOf(dev);
      // A plain Buffer, a page-aligned one (O_DIRECT reads in place) and a view 3 bytes into a larger
      // array (unaligned: O_DIRECT goes through a bounce buffer); bytes around the view stay untouched.
      const backing = new Uint8Array(length + 6).fill(0xee);
      const targets = [Buffer.allocUnsafe(length), allocAligned(length), new Uint8Array(backing.buffer, 3, length)];
      for (const target of targets) {
        await readInto(offset, target);
        expect(Buffer.compare(Buffer.from(target.buffer, target.byteOffset, target.byteLength), data)).toBe(0);
      }
      expect([...backing.subarray(0, 3), ...backing.subarray(length + 3)]).toEqual([0xee, 0xee, 0xee, 0xee, 0xee, 0xee]);
      const many = Array.from({ length: 16 }, () => Buffer.alloc(bs));
      await Promise.all(many.map((b, i) => readInto(offset + i * bs, b)));
      many.forEach((b, i) => expect(Buffer.compare(b, data.subarray(i * bs, (i + 1) * bs))).toBe(0));
      const zeroed = Buffer.alloc(2 * bs, 0x77);
      await dev.writeZeroes(offset, 2 * bs);
      await readInto(offset, zeroed);
      expect(zeroed.every((b) => b === 0)).toBe(true);
    });

    it('refuses readInto like read: range, alignment, aborted signal, closed; zero length is a no-op', async () => {
      const bs = dev.logicalBlockSize;
      const readInto = readIntoOf(dev);
      await readInto(dev.size, new Uint8Array(0));
      await expect(readInto(dev.size - bs, Buffer.alloc(2 * bs))).rejects.toMatchObject({ code: ErrorCode.OutOfRange });
      await expect(readInto(-bs, Buffer.alloc(bs))).rejects.toMatchObject({ code: ErrorCode.OutOfRange });
      await expect(readInto(1, Buffer.alloc(bs))).rejects.toMatchObject({ code: ErrorCode.Unaligned });
      await expect(readInto(0, Buffer.alloc(bs + 1))).rejects.toMatchObject({ code: ErrorCode.Unaligned });
      const controller = new AbortController();
      controller.abort();
      await expect(readInto(0, Buffer.alloc(bs), { signal: controller.signal })).rejects.toMatchObject({ code: ErrorCode.Cancelled });
      await dev.close();
      await expect(readInto(0, Buffer.alloc(bs))).rejects.toMatchObject({ code: ErrorCode.DeviceClosed });
    });

    it('treats zero-length requests as no-ops', async () => {
      expect((await dev.read(0, 0)).length).toBe(0);
      await dev.write(dev.size, Buffer.alloc(0));
    });

    it('rejects out-of-range requests with BLOCKRIG_E_OUT_OF_RANGE and writes nothing', async () => {
      const bs = dev.logicalBlockSize;
      const tail = await dev.read(dev.size - bs, bs);
      await expect(dev.read(dev.size - bs, 2 * bs)).rejects.toMatchObject({ code: ErrorCode.OutOfRange });
      await expect(dev.write(dev.size - bs, Buffer.alloc(2 * bs, 0xee))).rejects.toMatchObject({ code: ErrorCode.OutOfRange });
      await expect(dev.read(-bs, bs)).rejects.toMatchObject({ code: ErrorCode.OutOfRange });
      await expect(dev.read(2 ** 53, bs)).rejects.toMatchObject({ code: ErrorCode.OutOfRange });
      await expect(dev.read(1.5, bs)).rejects.toMatchObject({ code: ErrorCode.OutOfRange });
      expect(Buffer.compare(await dev.read(dev.size - bs, bs), tail)).toBe(0);
    });

    it('rejects unaligned requests with BLOCKRIG_E_UNALIGNED', async () => {
      const bs = dev.logicalBlockSize;
      await expect(dev.read(1, bs)).rejects.toMatchObject({ code: ErrorCode.Unaligned });
      await expect(dev.read(0, bs + 1)).rejects.toMatchObject({ code: ErrorCode.Unaligned });
      await expect(dev.write(bs / 2, Buffer.alloc(bs))).rejects.toMatchObject({ code: ErrorCode.Unaligned });
    });

    it('zeroes ranges with writeZeroes, with and without unmap', async () => {
      const bs = dev.logicalBlockSize;
      await dev.write(0, Buffer.alloc(64 * bs, 0x5a));
      await dev.writeZeroes(8 * bs, 16 * bs);
      await dev.writeZeroes(32 * bs, 8 * bs, { noUnmap: true, fua: true });
      const back = await dev.read(0, 64 * bs);
      expect(back.subarray(0, 8 * bs).every((b) => b === 0x5a)).toBe(true);
      expect(back.subarray(8 * bs, 24 * bs).every((b) => b === 0)).toBe(true);
      expect(back.subarray(24 * bs, 32 * bs).every((b) => b === 0x5a)).toBe(true);
      expect(back.subarray(32 * bs, 40 * bs).every((b) => b === 0)).toBe(true);
      expect(back.subarray(40 * bs).every((b) => b === 0x5a)).toBe(true);
    });

    it('trims when it says it can, and refuses with BLOCKRIG_E_UNSUPPORTED when not', async () => {
      const bs = dev.logicalBlockSize;
      await dev.write(0, Buffer.alloc(16 * bs, 0x33));
      if (dev.capabilities.trim) {
        await dev.trim(0, 8 * bs);
        if (dev.capabilities.trimZeroes) expect((await dev.read(0, 8 * bs)).every((b) => b === 0)).toBe(true);
        expect((await dev.read(8 * bs, 8 * bs)).every((b) => b === 0x33)).toBe(true);
      } else {
        await expect(dev.trim(0, 8 * bs)).rejects.toMatchObject({ code: ErrorCode.Unsupported });
      }
    });

    it('flushes, and keeps data written with FUA across a reopen', async () => {
      const data = randomBytes(dev.logicalBlockSize * 4);
      await dev.write(dev.logicalBlockSize * 100, data, { fua: true });
      await dev.flush();
      if (subject.reopenReadOnly) {
        const again = await subject.reopenReadOnly();
        try {
          expect(again.capabilities.readOnly).toBe(true);
          expect(Buffer.compare(await again.read(dev.logicalBlockSize * 100, data.length), data)).toBe(0);
          await expect(again.write(0, Buffer.alloc(dev.logicalBlockSize))).rejects.toMatchObject({ code: ErrorCode.ReadOnly });
        } finally {
          await again.close();
        }
      }
    });

    it('rejects a request whose signal is already aborted with BLOCKRIG_E_CANCELLED', async () => {
      const controller = new AbortController();
      controller.abort();
      await expect(dev.read(0, dev.logicalBlockSize, { signal: controller.signal })).rejects.toMatchObject({ code: ErrorCode.Cancelled });
    });

    it('drains in-flight I/O on close, then rejects I/O with BLOCKRIG_E_DEVICE_CLOSED', async () => {
      const bs = dev.logicalBlockSize;
      const writes = Array.from({ length: 16 }, (_, i) => dev.write(i * bs, Buffer.alloc(bs, 7)));
      const closing = dev.close();
      expect(dev.closed).toBe(true);
      await expect(Promise.all(writes)).resolves.toBeDefined();
      await closing;
      await expect(dev.read(0, bs)).rejects.toMatchObject({ code: ErrorCode.DeviceClosed });
      await expect(dev.write(0, Buffer.alloc(bs))).rejects.toMatchObject({ code: ErrorCode.DeviceClosed });
      await expect(dev.flush()).rejects.toMatchObject({ code: ErrorCode.DeviceClosed });
      await dev.close();
    });
  });
}
