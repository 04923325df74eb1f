/**
 * Encoding and decoding of one span of one row of a raid5/raid6 volume: from whichever chunks could be
 * read, recover the missing data chunks and recompute P and Q (`docs/volumes.md`, "Degraded reads").
 */
import type { VolumeLayout, RowMap } from './layout.js';
import { computeParity, computeSyndromes, gfPow2, mulInPlace, recoverTwoData, xorInto } from './gf256.js';

/** Every chunk of a row span, data in data order. */
export interface StripeSpan {
  readonly data: Buffer[];
  p: Buffer;
  q: Buffer | undefined;
}

/** Computes P (and Q for raid6) of `data` into `span`. */
export function encodeStripe(layout: VolumeLayout, data: Buffer[], length: number): StripeSpan {
  if (layout.parityChunks === 2) {
    const { p, q } = computeSyndromes(data, length);
    return { data, p, q };
  }
  return { data, p: computeParity(data, length), q: undefined };
}

/**
 * Recovers a row span from the chunks that were read (`chunks[member]`, undefined where unreadable).
 * Returns undefined when more chunks are missing than the level can rebuild.
 */
export function decodeStripe(layout: VolumeLayout, map: RowMap, chunks: readonly (Buffer | undefined)[], length: number): StripeSpan | undefined {
  const data = map.data.map((m) => chunks[m]);
  const p = map.p === undefined ? undefined : chunks[map.p];
  const q = map.q === undefined ? undefined : chunks[map.q];
  const missing = data.flatMap((d, j) => (d === undefined ? [j] : []));
  const zero = (): Buffer => Buffer.alloc(length);
  const filled = data.map((d) => d ?? zero());

  if (missing.length === 1) {
    const x = missing[0] as number;
    if (p !== undefined) {
      // Dx = P ^ (every other data chunk); the missing slot is zero, so XOR of all of them is it.
      const dx = Buffer.from(p);
      for (const d of filled) xorInto(dx, d);
      filled[x] = dx;
    } else if (q !== undefined) {
      // Qx = Q ^ Σ_{j≠x} g^j·Dj = g^x·Dx, so Dx = g^(-x)·Qx.
      const qx = Buffer.from(q);
      xorInto(qx, computeSyndromes(filled, length).q);
      mulInPlace(qx, gfPow2(-x));
      filled[x] = qx;
    } else {
      return undefined;
    }
  } else if (missing.length === 2) {
    if (p === undefined || q === undefined) return undefined;
    const [x, y] = missing as [number, number];
    const partial = computeSyndromes(filled, length);
    const pxy = Buffer.from(p);
    xorInto(pxy, partial.p);
    const qxy = Buffer.from(q);
    xorInto(qxy, partial.q);
    const { dx, dy } = recoverTwoData(pxy, qxy, x, y);
    filled[x] = dx;
    filled[y] = dy;
  } else if (missing.length > 2) {
    return undefined;
  }

  // Recompute only the syndromes that were lost: Q costs a GF multiply per byte per chunk.
  const needQ = layout.parityChunks === 2 && q === undefined;
  if (needQ) return encodeStripe(layout, filled, length);
  return { data: filled, p: p ?? computeParity(filled, length), q };
}

/** The chunk member `member` holds in `span` of a row mapped by `map`. */
export function chunkOf(map: RowMap, span: StripeSpan, member: number): Buffer | undefined {
  if (member === map.p) return span.p;
  if (member === map.q) return span.q;
  const j = map.data.indexOf(member);
  return j < 0 ? undefined : span.data[j];
}
