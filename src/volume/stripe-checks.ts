/**
 * Whole-buffer helpers of raid5/raid6 rebuild and scrub (`parity-maintenance.ts`): XOR of several chunks
 * into one, an all-zero test, and locating the data chunk a P/Q disagreement points to.
 */
import { locateSingleDataError, xorInto } from './gf256.js';

/** dst = XOR of `sources` (each at least dst.length bytes): the first copied, the rest XORed word-wise. */
export function xorAll(dst: Buffer, sources: readonly Buffer[]): void {
  const [first, ...rest] = sources;
  if (first === undefined) {
    dst.fill(0);
    return;
  }
  first.copy(dst, 0, 0, dst.length);
  for (const s of rest) xorInto(dst, s);
}

const ZEROES = Buffer.alloc(1024 * 1024);

/** True when every byte is zero (compared natively against a zero block). */
export function isZero(buf: Buffer): boolean {
  for (let at = 0; at < buf.length; at += ZEROES.length) {
    const part = buf.subarray(at, Math.min(buf.length, at + ZEROES.length));
    if (!part.equals(ZEROES.subarray(0, part.length))) return false;
  }
  return true;
}

/** Classifies one block where P and Q both disagree: `data:z` when data chunk z explains it, else `pq`. */
export function locateBlock(p: Buffer, ep: Buffer, q: Buffer, eq: Buffer, from: number, length: number, dataCount: number): string {
  let z: number | undefined;
  for (let i = from; i < from + length; i++) {
    const dp = (p[i] ?? 0) ^ (ep[i] ?? 0);
    const dq = (q[i] ?? 0) ^ (eq[i] ?? 0);
    if (dp === 0 && dq === 0) continue;
    const here = locateSingleDataError(dp, dq, dataCount);
    if (here === undefined || (z !== undefined && here !== z)) return 'pq';
    z = here;
  }
  return z === undefined ? 'pq' : `data:${z}`;
}
