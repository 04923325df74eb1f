/**
 * The NBD server's payload frames: page-aligned payloads after the header room, reuse only after release,
 * and a bounded amount kept for reuse.
 */
import { describe, expect, it } from 'vitest';
import { bufferAddress } from '../../drivers/native/libc.js';
import { PayloadFramePool } from '../../src/nbd/frame-pool.js';

describe('PayloadFramePool', () => {
  it('puts the payload on a page boundary with the header right before it, in one buffer', () => {
    const frame = new PayloadFramePool().take(28, 10_000);
    expect(frame.payload.length).toBe(10_000);
    expect(frame.bytes.length).toBe(28 + 10_000);
    expect(bufferAddress(frame.payload) % 4096).toBe(0);
    expect(frame.bytes.buffer).toBe(frame.payload.buffer);
    expect(frame.bytes.byteOffset + 28).toBe(frame.payload.byteOffset);
  });

  it('lends a released frame again for a payload of the same size class, never one still lent', () => {
    const pool = new PayloadFramePool();
    const a = pool.take(16, 256 * 1024);
    const b = pool.take(16, 256 * 1024);
    expect(b.bytes.buffer).not.toBe(a.bytes.buffer);
    a.release();
    a.release(); // a second release must not put the frame in the pool twice
    expect(pool.retainedBytes).toBe(4096 + 256 * 1024);
    const c = pool.take(28, 200 * 1024); // same power-of-two class
    expect(c.bytes.buffer).toBe(a.bytes.buffer);
    expect(bufferAddress(c.payload) % 4096).toBe(0);
    const d = pool.take(28, 200 * 1024);
    expect(d.bytes.buffer).not.toBe(a.bytes.buffer);
    expect(pool.retainedBytes).toBe(0);
    const small = pool.take(16, 4096);
    b.release();
    expect(pool.take(16, 4096).bytes.buffer).not.toBe(b.bytes.buffer); // another class
    small.release();
  });

  it('keeps at most maxRetainedBytes for reuse and lets the rest go', () => {
    const pool = new PayloadFramePool(3 * (4096 + 65536));
    const frames = Array.from({ length: 5 }, () => pool.take(16, 65536));
    for (const f of frames) f.release();
    expect(pool.retainedBytes).toBe(3 * (4096 + 65536));
  });
});
