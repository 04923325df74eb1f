/**
 * Positional I/O on a file descriptor for the file driver: whole-request reads and writes that continue
 * after short transfers. They use the callback API on the FileHandle's descriptor: the FileHandle owns
 * the fd (and closes it), but its promise methods cost about a quarter more per request, which shows on
 * 4 KiB I/O. Errors are Node system errors; the driver maps them with `fromSystemError`.
 *
 * With a `FastPath` (buffered descriptors only), a request first tries the page-cache fast path of
 * `native/nowait-io.ts` on the event loop and goes to libuv's thread pool only for what that could not do
 * without waiting: a cached 4 KiB read then costs under 1 µs instead of about 10 µs.
 */
import { read as fsRead, write as fsWrite } from 'node:fs';
import { NOWAIT_UNSUPPORTED, preadNoWait, pwriteNoWait } from './native/nowait-io.js';

/** Whether and up to what request size to try the page-cache fast path on one descriptor. */
export interface FastPath {
  readonly reads: FastPathState;
  /** Separate from reads: filesystems without non-blocking buffered writes are common (ext4, block devices). */
  readonly writes: FastPathState;
  /**
   * Largest request tried on the event loop: a larger copy would hold the loop for hundreds of µs, while
   * the pool's threads copy in parallel with it.
   */
  readonly maxBytes: number;
}

/**
 * The fast path of one kind of request. A miss is not free: the kernel starts the read-ahead before it
 * answers EAGAIN, and the request then pays the thread-pool hop too (about a third slower on a loop device
 * with a cold cache). So after `misses` misses in a row the next 2^misses - 1 requests skip it (at most 63),
 * and one hit brings it back for every request.
 */
export interface FastPathState {
  /** False for good once the kernel or filesystem says it has no RWF_NOWAIT. */
  on: boolean;
  misses: number;
  skip: number;
}

/** A fast path for a buffered descriptor (`enabled`) or none (O_DIRECT). */
export function fastPath(enabled: boolean, maxBytes: number): FastPath {
  return { reads: { on: enabled, misses: 0, skip: 0 }, writes: { on: enabled, misses: 0, skip: 0 }, maxBytes };
}

/** Longest run of skipped requests after repeated misses: 2^6 - 1. */
const MAX_MISSES = 6;

function preadAt(fd: number, buffer: Uint8Array, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fsRead(fd, buffer, at, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

function pwriteAt(fd: number, buffer: Uint8Array, at: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fsWrite(fd, buffer, at, length, position, (err, n) => (err ? reject(err) : resolve(n))));
}

/** Bytes moved at once by the fast path (0 when it is off, skipped, too small a win, or would have waited). */
function tryFast(fast: FastPath | undefined, kind: 'reads' | 'writes', fd: number, data: Uint8Array, position: number): number {
  const state = fast?.[kind];
  if (fast === undefined || state === undefined || !state.on || data.length > fast.maxBytes) return 0;
  if (state.skip > 0) {
    state.skip--;
    return 0;
  }
  const n = kind === 'reads' ? preadNoWait(fd, data, position) : pwriteNoWait(fd, data, position);
  if (n === NOWAIT_UNSUPPORTED) state.on = false;
  else if (n === undefined) {
    state.misses = Math.min(state.misses + 1, MAX_MISSES);
    state.skip = 2 ** state.misses - 1;
  } else state.misses = 0;
  // 0 bytes (end of file, or nothing done) is left to the thread pool, which reports it the usual way.
  return n === undefined || n < 0 ? 0 : n;
}

/** Fills `buffer` from `position`; returns how many bytes were read (fewer only at end of file). */
export async function readFully(fd: number, buffer: Uint8Array, position: number, fast?: FastPath): Promise<number> {
  let done = tryFast(fast, 'reads', fd, buffer, position);
  while (done < buffer.length) {
    const n = await preadAt(fd, buffer, done, buffer.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

/** Writes all of `data` at `position`. A write that makes no progress fails with EIO. */
export async function writeFully(fd: number, data: Uint8Array, position: number, fast?: FastPath): Promise<void> {
  let done = tryFast(fast, 'writes', fd, data, position);
  while (done < data.length) {
    const n = await pwriteAt(fd, data, done, data.length - done, position + done);
    if (n === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    done += n;
  }
}
