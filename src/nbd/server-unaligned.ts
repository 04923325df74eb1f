/**
 * Byte-granular requests from clients that never agreed to block size constraints. The spec asks a server
 * to accept a minimum block size of 1 from a client that did not request NBD_INFO_BLOCK_SIZE (or used
 * NBD_OPT_EXPORT_NAME), while a `BlockDevice` only takes whole logical blocks. Reads are widened to whole
 * blocks and cut; writes become read-modify-write of the edge blocks. Each export runs its
 * read-modify-write cycles one at a time, so two unaligned writes into the same block cannot undo each
 * other. (A client that overlaps an aligned write with them gets undefined contents, as NBD allows for any
 * overlapping requests in flight together.)
 */
import type { BlockDevice } from '../../drivers/types.js';
import type { ServedExport } from './server-export.js';

/** Reads `length` bytes at any `offset` by reading the covering blocks. */
export async function runUnalignedRead(device: BlockDevice, offset: number, length: number): Promise<Buffer> {
  const bs = device.logicalBlockSize;
  const start = Math.floor(offset / bs) * bs;
  const end = Math.ceil((offset + length) / bs) * bs;
  const blocks = await device.read(start, end - start);
  return blocks.subarray(offset - start, offset - start + length);
}

/** Writes `data` at any `offset` with read-modify-write of the covering blocks. */
export function runUnalignedWrite(exp: ServedExport, offset: number, data: Uint8Array, fua: boolean): Promise<void> {
  return exclusively(exp, async () => {
    const device = exp.device;
    const bs = device.logicalBlockSize;
    const start = Math.floor(offset / bs) * bs;
    const end = Math.ceil((offset + data.length) / bs) * bs;
    const blocks = await device.read(start, end - start);
    blocks.set(data, offset - start);
    await device.write(start, blocks, { fua });
  });
}

/** Zeroes `length` bytes at any `offset`: whole blocks natively, the partial edge blocks by rewriting them. */
export async function runUnalignedZeroes(exp: ServedExport, offset: number, length: number, fua: boolean): Promise<void> {
  const bs = exp.device.logicalBlockSize;
  const innerStart = Math.ceil(offset / bs) * bs;
  const innerEnd = Math.floor((offset + length) / bs) * bs;
  if (innerEnd <= innerStart) {
    await runUnalignedWrite(exp, offset, Buffer.alloc(length), fua);
    return;
  }
  if (innerStart > offset) await runUnalignedWrite(exp, offset, Buffer.alloc(innerStart - offset), fua);
  await exp.device.writeZeroes(innerStart, innerEnd - innerStart, { fua });
  if (offset + length > innerEnd) await runUnalignedWrite(exp, innerEnd, Buffer.alloc(offset + length - innerEnd), fua);
}

function exclusively(exp: ServedExport, work: () => Promise<void>): Promise<void> {
  const run = exp.rmwTail.then(work);
  exp.rmwTail = run.catch(() => undefined);
  return run;
}
