/**
 * Arithmetic in GF(2^8) as Linux md's raid6 uses it: the field built on the polynomial
 * x^8 + x^4 + x^3 + x^2 + 1 (0x11d) with generator g = 2 (`docs/volumes.md`, "raid6 syndromes").
 * Addition is XOR; multiplication goes through log/exp tables, and multiplying a whole buffer by a
 * constant goes through one 256-entry row of a full product table, so the hot loops are one lookup a byte.
 */

/** The reducing polynomial, with the x^8 term. */
export const GF_POLYNOMIAL = 0x11d;

/** `GF_EXP[i]` is g^i for i in 0..509 (doubled so sums of two logs need no modulo). */
export const GF_EXP = new Uint8Array(510);
/** `GF_LOG[x]` is i with g^i = x, for x in 1..255; `GF_LOG[0]` is unused. */
export const GF_LOG = new Uint8Array(256);

{
  let x = 1;
  for (let i = 0; i < 255; i++) {
    GF_EXP[i] = x;
    GF_LOG[x] = i;
    x <<= 1;
    if (x & 0x100) x ^= GF_POLYNOMIAL;
  }
  for (let i = 255; i < 510; i++) GF_EXP[i] = GF_EXP[i - 255] ?? 0;
}

/** 256 rows of 256 products: row c holds c * x for every x. 64 KiB, built once. */
const PRODUCTS: Uint8Array[] = Array.from({ length: 256 }, (_, c) => {
  const row = new Uint8Array(256);
  for (let x = 1; x < 256; x++) row[x] = c === 0 ? 0 : (GF_EXP[(GF_LOG[c] ?? 0) + (GF_LOG[x] ?? 0)] ?? 0);
  return row;
});

/** a * b in GF(2^8). */
export function gfMul(a: number, b: number): number {
  return PRODUCTS[a & 0xff]?.[b & 0xff] ?? 0;
}

/** g^n for any integer n (negative exponents give inverses). */
export function gfPow2(n: number): number {
  return GF_EXP[((n % 255) + 255) % 255] ?? 0;
}

/** The multiplicative inverse of a non-zero element. */
export function gfInv(a: number): number {
  if ((a & 0xff) === 0) throw new RangeError('0 has no inverse in GF(2^8)');
  return GF_EXP[255 - (GF_LOG[a & 0xff] ?? 0)] ?? 0;
}

/** a / b in GF(2^8), b non-zero. */
export function gfDiv(a: number, b: number): number {
  return gfMul(a, gfInv(b));
}

/** dst ^= src, byte for byte over `dst.length` bytes; word-wise when both views are 4-byte aligned. */
export function xorInto(dst: Uint8Array, src: Uint8Array): void {
  const n = dst.length;
  if (src.length < n) throw new RangeError(`xorInto: source of ${src.length} bytes is shorter than ${n}`);
  let i = 0;
  if (dst.byteOffset % 4 === 0 && src.byteOffset % 4 === 0) {
    const words = n >>> 2;
    const d32 = new Int32Array(dst.buffer, dst.byteOffset, words);
    const s32 = new Int32Array(src.buffer, src.byteOffset, words);
    for (let w = 0; w < words; w++) d32[w] = (d32[w] ?? 0) ^ (s32[w] ?? 0);
    i = words * 4;
  }
  for (; i < n; i++) dst[i] = (dst[i] ?? 0) ^ (src[i] ?? 0);
}

/** dst ^= c * src in GF(2^8), over `dst.length` bytes. */
export function mulXorInto(dst: Uint8Array, src: Uint8Array, c: number): void {
  if (c === 0) return;
  if (c === 1) {
    xorInto(dst, src);
    return;
  }
  const row = PRODUCTS[c & 0xff] as Uint8Array;
  for (let i = 0; i < dst.length; i++) dst[i] = (dst[i] ?? 0) ^ (row[src[i] ?? 0] ?? 0);
}

/** buf = c * buf in place. */
export function mulInPlace(buf: Uint8Array, c: number): void {
  if (c === 1) return;
  const row = PRODUCTS[c & 0xff] as Uint8Array;
  for (let i = 0; i < buf.length; i++) buf[i] = row[buf[i] ?? 0] ?? 0;
}

/**
 * The raid6 syndromes of data blocks D_0..D_{n-1} of equal length:
 * P = D_0 ^ D_1 ^ ... and Q = g^0·D_0 ^ g^1·D_1 ^ ... (md's `gen_syndrome`), computed by Horner's rule
 * so each byte costs one doubling.
 */
export function computeSyndromes(data: readonly Uint8Array[], length: number): { p: Buffer; q: Buffer } {
  return computeSyndromesInto(data, length, Buffer.allocUnsafe(length), Buffer.allocUnsafe(length));
}

/** `computeSyndromes` into the caller's `p` and `q` (each at least `length` bytes; views of exactly that are returned). */
export function computeSyndromesInto(data: readonly Uint8Array[], length: number, pInto: Buffer, qInto: Buffer): { p: Buffer; q: Buffer } {
  const p = pInto.subarray(0, length);
  const q = qInto.subarray(0, length);
  const words = length % 4 === 0 && data.length > 0 && p.byteOffset % 4 === 0 && q.byteOffset % 4 === 0 && data.every((d) => d.byteOffset % 4 === 0) ? length >>> 2 : 0;
  if (words > 0) {
    // Horner from the last chunk, which starts both P and Q (no zero-filled buffers, no first pass over them).
    const last = data[data.length - 1] as Uint8Array;
    p.set(last.subarray(0, length));
    q.set(last.subarray(0, length));
    // Four bytes at a time, as the kernel's int raid6 code does: doubling a byte is a shift plus 0x1d
    // where its top bit was set, and (w >>> 7) & 0x01010101 picks those bits out without carries between bytes.
    const q32 = new Int32Array(q.buffer, q.byteOffset, words);
    for (let j = data.length - 2; j >= 0; j--) {
      const d = data[j] as Uint8Array;
      xorInto(p, d);
      const d32 = new Int32Array(d.buffer, d.byteOffset, words);
      for (let w = 0; w < words; w++) {
        const x = q32[w] as number;
        q32[w] = (((x & 0x7f7f7f7f) << 1) ^ Math.imul((x >>> 7) & 0x01010101, 0x1d) ^ (d32[w] as number)) | 0;
      }
    }
    return { p, q };
  }
  p.fill(0);
  q.fill(0);
  const double = PRODUCTS[2] as Uint8Array;
  for (let j = data.length - 1; j >= 0; j--) {
    const d = data[j] as Uint8Array;
    xorInto(p, d);
    for (let i = 0; i < length; i++) q[i] = (double[q[i] as number] as number) ^ (d[i] as number);
  }
  return { p, q };
}

/** P alone: the XOR of the data blocks (raid5's parity). */
export function computeParity(data: readonly Uint8Array[], length: number): Buffer {
  const first = data[0];
  if (first === undefined) return Buffer.alloc(length);
  const p = Buffer.allocUnsafe(length);
  p.set(first.subarray(0, length));
  for (let j = 1; j < data.length; j++) xorInto(p, data[j] as Uint8Array);
  return p;
}

/**
 * Recovers two lost data blocks x < y from P, Q and the other data (md's `raid6_2data_recov`):
 * with Pxy = P ^ (the others) = Dx ^ Dy and Qxy = Q ^ Σ g^j·Dj (others) = g^x·Dx ^ g^y·Dy,
 * Dx = A·Pxy ^ B·Qxy where A = g^(y-x) / (g^(y-x) ^ 1) and B = g^(-x) / (g^(y-x) ^ 1); Dy = Pxy ^ Dx.
 */
export function recoverTwoData(pxy: Uint8Array, qxy: Uint8Array, x: number, y: number): { dx: Buffer; dy: Buffer } {
  const gyx = gfPow2(y - x);
  const denominator = gyx ^ 1;
  const a = gfDiv(gyx, denominator);
  const b = gfDiv(gfPow2(-x), denominator);
  const dx = Buffer.alloc(pxy.length);
  mulXorInto(dx, pxy, a);
  mulXorInto(dx, qxy, b);
  const dy = Buffer.from(pxy);
  xorInto(dy, dx);
  return { dx, dy };
}

/**
 * Given the syndrome differences of one byte position, dP = P ^ P' and dQ = Q ^ Q', names the single data
 * index z whose corruption explains them (dQ = g^z · dP), or returns undefined when no single data block
 * does. Used by scrub to locate a silently corrupted member (as md's `raid6check` does).
 */
export function locateSingleDataError(dp: number, dq: number, dataCount: number): number | undefined {
  if (dp === 0 || dq === 0) return undefined;
  const z = ((GF_LOG[dq] ?? 0) - (GF_LOG[dp] ?? 0) + 255) % 255;
  return z < dataCount ? z : undefined;
}
