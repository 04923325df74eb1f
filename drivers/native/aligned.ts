/**
 * Memory aligned for O_DIRECT. The kernel needs the buffer address, the file offset and the length of
 * a direct request aligned to the device's logical block size (for files, the filesystem's block). Node
 * allocates Buffers with no such promise, so we over-allocate a Buffer of our own (its backing store never
 * moves) and hand out the aligned window inside it. The garbage collector frees it like any Buffer, so a
 * read can return the window itself without a copy.
 */
import { bufferAddress } from './libc.js';

/** Alignment used for every bounce buffer: a page, which satisfies any logical block size up to 4096. */
export const DIRECT_IO_ALIGNMENT = 4096;

/**
 * A Buffer of `length` bytes whose first byte sits at a multiple of `alignment`; zero-filled unless
 * `uninitialized` (for read buffers the kernel overwrites, where zeroing 1 MiB per request shows).
 */
export function allocAligned(length: number, alignment = DIRECT_IO_ALIGNMENT, uninitialized = false): Buffer {
  // allocUnsafeSlow: never a slice of Node's shared pool, so the window is ours alone.
  const raw = uninitialized ? Buffer.allocUnsafeSlow(length + alignment) : Buffer.alloc(length + alignment);
  const skew = bufferAddress(raw) % alignment;
  const start = skew === 0 ? 0 : alignment - skew;
  return raw.subarray(start, start + length);
}

/** True when `data` may be handed to a direct read or write as it is. */
export function isAligned(data: Uint8Array, alignment: number): boolean {
  return bufferAddress(data) % alignment === 0 && data.byteLength % alignment === 0;
}

/** `data` itself when aligned, otherwise an aligned copy (a bounce buffer). */
export function alignedView(data: Uint8Array, alignment: number): Uint8Array {
  if (isAligned(data, alignment)) return data;
  const bounce = allocAligned(data.byteLength, alignment, true); // every byte is overwritten next
  bounce.set(data);
  return bounce;
}
