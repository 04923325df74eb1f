/**
 * Write-and-verify with a recognisable pattern: the real work behind `blockrig start` and
 * `blockrig device verify`. Each 4 KiB block carries seeded pseudo-random bytes stamped with the seed and
 * its block number, so that a block landing at the wrong offset or on the wrong device fails verification,
 * not only a flipped byte.
 */
import type { BlockDevice } from '../../drivers/types.js';
import { systemClock, type Clock } from '../clock.js';
import { TaskFailedError } from '../errors.js';

/** Requests are issued 1 MiB at a time. */
export const PATTERN_CHUNK = 1024 * 1024;

/** What `writeAndVerify` measured. */
export interface PatternResult {
  bytes: number;
  writeBytesPerSecond: number;
  readBytesPerSecond: number;
}

/** The pattern for `length` bytes at byte `offset` (a multiple of 4 KiB or the block size) for `seed`. */
export function patternAt(seed: number, offset: number, length: number): Buffer {
  const out = Buffer.allocUnsafe(length);
  let state = (seed * 2654435761 + Math.floor(offset / 4096) * 40503 + 1) >>> 0 || 1;
  for (let i = 0; i + 4 <= length; i += 4) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out.writeUInt32LE(state >>> 0, i);
  }
  for (let at = 0; at + 32 <= length; at += 4096) {
    out.write('BRPATTRN', at + 8, 'latin1');
    out.writeUInt32LE(seed >>> 0, at + 16);
    out.writeDoubleLE(Math.floor((offset + at) / 4096), at + 20);
  }
  return out;
}

/**
 * Writes `bytes` of pattern from `offset`, flushes, reads it back and compares. Throws `TaskFailedError`
 * naming the first chunk that differs. Throughput of each half (I/O only) is measured on `clock`.
 */
export async function writeAndVerify(dev: BlockDevice, options: { seed: number; bytes: number; offset?: number; clock?: Clock }): Promise<PatternResult> {
  const clock = options.clock ?? systemClock;
  const start = options.offset ?? 0;
  const end = start + options.bytes;
  // Only the I/O is timed (and the flush with the writes), not generating and comparing the pattern.
  let writeMs = 0;
  for (let at = start; at < end; at += PATTERN_CHUNK) {
    const chunk = patternAt(options.seed, at, Math.min(PATTERN_CHUNK, end - at));
    const began = clock.now();
    await dev.write(at, chunk);
    writeMs += clock.now() - began;
  }
  const flushBegan = clock.now();
  await dev.flush();
  writeMs += clock.now() - flushBegan;
  let readMs = 0;
  for (let at = start; at < end; at += PATTERN_CHUNK) {
    const length = Math.min(PATTERN_CHUNK, end - at);
    const began = clock.now();
    const back = await dev.read(at, length);
    readMs += clock.now() - began;
    if (!back.equals(patternAt(options.seed, at, length))) {
      throw new TaskFailedError(`verification failed on ${dev.uri}: the ${length} bytes at offset ${at} did not read back as written`, {
        details: { uri: dev.uri, offset: at, length },
      });
    }
  }
  const writeSeconds = writeMs / 1000;
  const readSeconds = readMs / 1000;
  return {
    bytes: options.bytes,
    writeBytesPerSecond: Math.round(options.bytes / Math.max(writeSeconds, 1e-6)),
    readBytesPerSecond: Math.round(options.bytes / Math.max(readSeconds, 1e-6)),
  };
}
