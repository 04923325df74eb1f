/**
 * Reusable frames for the NBD server's payloads. For a read, one buffer holds the reply header and, right
 * after it, the data, so a read reply is a single socket write and the device reads straight into the
 * frame (`readInto`); a write's payload is received into a frame with no header room. Without reuse every
 * request allocated its payload, and at hundreds of MiB/s garbage collection of those buffers took a
 * quarter (reads from a file) to half (writes to a memory export) of the server's CPU.
 *
 * The payload starts on a page boundary, so a device opened with O_DIRECT reads into it without a bounce
 * buffer; the header sits in the bytes just before that boundary. Frames are kept per power-of-two size
 * class (at least 4 KiB) up to `maxRetainedBytes` in total; a frame released beyond that, or never
 * released (its socket died before the write completed), is simply left to the garbage collector.
 */
import { allocAligned, DIRECT_IO_ALIGNMENT } from '../../drivers/native/aligned.js';

/** Room reserved before the payload: the largest header written in front of read data. */
const HEADER_ROOM = DIRECT_IO_ALIGNMENT;

/** One frame lent out: `bytes` = header + payload, `payload` = the part the device fills (or the client's write). */
export interface PayloadFrame {
  readonly bytes: Buffer;
  readonly payload: Buffer;
  /** Returns the frame to its pool; call once the socket no longer needs `bytes`. Later calls do nothing. */
  readonly release: () => void;
}

/** A pool of payload frames; see the module comment. */
export class PayloadFramePool {
  readonly #maxRetainedBytes: number;
  readonly #free = new Map<number, Buffer[]>();
  #retained = 0;

  constructor(maxRetainedBytes = 64 * 1024 * 1024) {
    this.#maxRetainedBytes = maxRetainedBytes;
  }

  /** Bytes held by frames waiting for reuse. */
  get retainedBytes(): number {
    return this.#retained;
  }

  /** Lends a frame with `headerLength` (at most 4096) header bytes before `payloadLength` payload bytes. */
  take(headerLength: number, payloadLength: number): PayloadFrame {
    const sizeClass = classOf(payloadLength);
    const pooled = this.#free.get(sizeClass)?.pop();
    if (pooled !== undefined) this.#retained -= pooled.length;
    const slab = pooled ?? allocAligned(HEADER_ROOM + sizeClass, DIRECT_IO_ALIGNMENT, true);
    let released = false;
    return {
      bytes: slab.subarray(HEADER_ROOM - headerLength, HEADER_ROOM + payloadLength),
      payload: slab.subarray(HEADER_ROOM, HEADER_ROOM + payloadLength),
      release: () => {
        if (released) return;
        released = true;
        this.#give(sizeClass, slab);
      },
    };
  }

  #give(sizeClass: number, slab: Buffer): void {
    if (this.#retained + slab.length > this.#maxRetainedBytes) return;
    let list = this.#free.get(sizeClass);
    if (list === undefined) {
      list = [];
      this.#free.set(sizeClass, list);
    }
    list.push(slab);
    this.#retained += slab.length;
  }
}

/** The power of two at or above `length`, at least one page. */
function classOf(length: number): number {
  let size = DIRECT_IO_ALIGNMENT;
  while (size < length) size *= 2;
  return size;
}
