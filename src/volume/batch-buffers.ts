/**
 * Reusable, page-aligned read buffers for the batches of rebuild and scrub: members are read into them
 * (`readInto`) instead of into a fresh buffer per read, so a pass over a volume leaves the garbage collector
 * nothing to reclaim, and O_DIRECT devices read straight into them (no bounce buffer).
 */
import { allocAligned } from '../../drivers/native/aligned.js';

/** Buffers kept for reuse at most (with 1 MiB batches: 64 MiB). */
const KEEP = 64;

/** A free list of equally sized buffers. */
export class BatchBuffers {
  readonly #size: number;
  readonly #free: Buffer[] = [];
  /** Each handed-out buffer by its memory, so that a view of it can be given back. */
  readonly #owners = new WeakMap<ArrayBufferLike, Buffer>();

  constructor(size: number) {
    this.#size = size;
  }

  /** A buffer of at least `length` bytes (a view of exactly `length`). */
  take(length: number): Buffer {
    if (length > this.#size) return Buffer.allocUnsafe(length);
    const buffer = this.#free.pop() ?? allocAligned(this.#size, undefined, true);
    this.#owners.set(buffer.buffer, buffer);
    return buffer.subarray(0, length);
  }

  /** Gives back buffers (or views of them) that nothing uses any more; others are ignored. */
  give(views: Iterable<Uint8Array | undefined>): void {
    for (const view of views) {
      const owner = view === undefined ? undefined : this.#owners.get(view.buffer);
      if (owner === undefined || view === undefined) continue;
      this.#owners.delete(view.buffer);
      if (this.#free.length < KEEP) this.#free.push(owner);
    }
  }
}
