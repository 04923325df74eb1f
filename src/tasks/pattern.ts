/**
 * The deterministic fill pattern: every 4096-byte block of the data set gets bytes derived only from the
 * task's seed and the block's absolute offset, so that `verify` can recompute it anywhere, any number of
 * times, and a block written to the wrong place (or not at all) is caught.
 */

/** Pattern granularity: every partition offset and length is a multiple of it. */
export const PATTERN_BLOCK = 4096;

/** A 32-bit mix (murmur3 finaliser): neighbouring inputs give unrelated outputs. */
function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Fills `out` (a multiple of 4096 bytes) with the pattern of the blocks starting at absolute `offset`. */
export function fillPattern(out: Buffer, seed: number, offset: number): void {
  // Uint32Array uses the platform's byte order; every supported platform (x86-64, arm64) is little-endian.
  const words = new Uint32Array(out.buffer, out.byteOffset, out.length >>> 2);
  const perBlock = PATTERN_BLOCK / 4;
  for (let b = 0; b < out.length / PATTERN_BLOCK; b++) {
    const blockNo = (offset / PATTERN_BLOCK + b) % 0x1_0000_0000;
    const high = Math.floor((offset / PATTERN_BLOCK + b) / 0x1_0000_0000);
    let x = mix32(seed ^ mix32(blockNo ^ mix32(high + 0x9e3779b9))) | 1;
    const base = b * perBlock;
    for (let i = 0; i < perBlock; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[base + i] = x >>> 0;
    }
  }
}

/** Returns the pattern of `length` bytes at `offset`. */
export function patternAt(seed: number, offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  fillPattern(out, seed, offset);
  return out;
}
