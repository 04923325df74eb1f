/** Batch read buffers: page-aligned views of the asked length, reused once given back, foreign views ignored. */
import { describe, expect, it } from 'vitest';
import { isAligned } from '../../drivers/native/aligned.js';
import { BatchBuffers } from '../../src/volume/batch-buffers.js';

describe('BatchBuffers', () => {
  it('hands out aligned views, reuses given-back memory, and ignores buffers it did not hand out', () => {
    const pool = new BatchBuffers(64 * 1024);
    const a = pool.take(64 * 1024);
    const b = pool.take(16 * 1024);
    expect(a.length).toBe(64 * 1024);
    expect(b.length).toBe(16 * 1024);
    expect(isAligned(a, 4096) && isAligned(b, 4096)).toBe(true);
    expect(a.buffer).not.toBe(b.buffer);
    pool.give([b.subarray(0, 512), Buffer.alloc(64 * 1024), undefined]);
    const again = pool.take(32 * 1024);
    expect(again.buffer).toBe(b.buffer);
    // Larger than the pool's size: a plain buffer, never pooled.
    const big = pool.take(128 * 1024);
    pool.give([big]);
    expect(pool.take(64 * 1024).buffer).not.toBe(big.buffer);
  });
});
