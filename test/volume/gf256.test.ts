/**
 * GF(2^8) known answers (the tables of Linux's lib/raid6, polynomial 0x11d) and the raid6 recovery
 * identities, checked against a bit-by-bit reference multiplication written independently here.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  computeParity,
  computeSyndromes,
  GF_EXP,
  GF_LOG,
  gfDiv,
  gfInv,
  gfMul,
  gfPow2,
  locateSingleDataError,
  recoverTwoData,
  xorInto,
} from '../../src/volume/gf256.js';

/** Carry-less multiply then reduce by 0x11d, one bit at a time. */
function slowMul(a: number, b: number): number {
  let product = 0;
  for (let bit = 0; bit < 8; bit++) if (b & (1 << bit)) product ^= a << bit;
  for (let bit = 15; bit >= 8; bit--) if (product & (1 << bit)) product ^= 0x11d << (bit - 8);
  return product;
}

describe('GF(2^8) over 0x11d', () => {
  it('matches the first entries of the kernel raid6_gfexp table and its logs', () => {
    expect([...GF_EXP.subarray(0, 16)]).toEqual([0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1d, 0x3a, 0x74, 0xe8, 0xcd, 0x87, 0x13, 0x26]);
    expect(GF_LOG[0x1d]).toBe(8);
    expect(GF_LOG[0x02]).toBe(1);
    expect(gfPow2(255)).toBe(1);
  });

  it('matches the kernel raid6_gfinv entries', () => {
    expect([2, 3, 4, 5].map(gfInv)).toEqual([0x8e, 0xf4, 0x47, 0xa7]);
    expect(() => gfInv(0)).toThrow(RangeError);
  });

  it('multiplies like the bitwise reference for every pair', () => {
    for (let a = 0; a < 256; a++) for (let b = 0; b < 256; b++) expect(gfMul(a, b)).toBe(slowMul(a, b));
  });

  it('has 2 as a generator of all 255 non-zero elements', () => {
    const seen = new Set(Array.from({ length: 255 }, (_, i) => gfPow2(i)));
    expect(seen.size).toBe(255);
    expect(seen.has(0)).toBe(false);
  });

  it('divides as the inverse of multiplication', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 1, max: 255 }), (a, b) => gfMul(gfDiv(a, b), b) === a));
  });

  it('computes P and Q as md does: P = xor, Q = sum of g^j * Dj', () => {
    const data = [Buffer.from([0x01, 0xff]), Buffer.from([0x01, 0x80]), Buffer.from([0x01, 0x00]), Buffer.from([0x02, 0x10])];
    const { p, q } = computeSyndromes(data, 2);
    expect([...p]).toEqual([0x01 ^ 0x01 ^ 0x01 ^ 0x02, 0xff ^ 0x80 ^ 0x00 ^ 0x10]);
    const expectQ = (i: number): number => data.reduce((acc, d, j) => acc ^ slowMul(gfPow2(j), d[i] ?? 0), 0);
    expect([...q]).toEqual([expectQ(0), expectQ(1)]);
    // A hand-checked value: 1 ^ 2 ^ 4 ^ (8 * 2) = 0x17.
    expect(q[0]).toBe(0x17);
    expect(computeParity(data, 2).equals(p)).toBe(true);
  });

  it('computes the same Q four bytes at a time (aligned) as byte by byte (unaligned)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 8 }), fc.uint8Array({ minLength: 256, maxLength: 256 }), (n, seed) => {
        const aligned = Array.from({ length: n }, (_, j) => {
          const b = Buffer.alloc(256);
          b.set(seed.map((x, i) => (x * (j + 1) + i) & 0xff));
          return b;
        });
        const shifted = aligned.map((b) => {
          const host = Buffer.alloc(257);
          b.copy(host, 1);
          return host.subarray(1);
        });
        const fast = computeSyndromes(aligned, 256);
        const slow = computeSyndromes(shifted, 256);
        const expectQ = (i: number): number => aligned.reduce((acc, d, j) => acc ^ slowMul(gfPow2(j), d[i] ?? 0), 0);
        return fast.q.equals(slow.q) && fast.p.equals(slow.p) && [0, 77, 255].every((i) => fast.q[i] === expectQ(i));
      }),
      { numRuns: 50 },
    );
  });

  it('recovers any two lost data blocks from P and Q', () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 12 }), fc.nat(), fc.nat(), fc.uint8Array({ minLength: 64, maxLength: 64 }), (n, xs, ys, seed) => {
        const data = Array.from({ length: n }, (_, j) => Buffer.from(seed.map((b, i) => (b * (j + 3) + i * 7 + j) & 0xff)));
        const x = xs % n;
        const y = (x + 1 + (ys % (n - 1))) % n;
        const [lo, hi] = x < y ? [x, y] : [y, x];
        const { p, q } = computeSyndromes(data, 64);
        const survivors = data.map((d, j) => (j === lo || j === hi ? Buffer.alloc(64) : d));
        const partial = computeSyndromes(survivors, 64);
        const pxy = Buffer.from(p);
        xorInto(pxy, partial.p);
        const qxy = Buffer.from(q);
        xorInto(qxy, partial.q);
        const { dx, dy } = recoverTwoData(pxy, qxy, lo, hi);
        return dx.equals(data[lo] as Buffer) && dy.equals(data[hi] as Buffer);
      }),
      { numRuns: 200 },
    );
  });

  it('names the corrupted data index from the syndrome differences', () => {
    for (let z = 0; z < 10; z++) {
      for (const e of [1, 0x5a, 0xff]) {
        // Corrupting Dz by e changes P by e and Q by g^z * e.
        expect(locateSingleDataError(e, gfMul(gfPow2(z), e), 10)).toBe(z);
      }
    }
    expect(locateSingleDataError(1, gfPow2(12), 10)).toBeUndefined();
    expect(locateSingleDataError(0, 5, 10)).toBeUndefined();
  });
});
