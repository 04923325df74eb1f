/**
 * raid5 and raid6 volumes: the data path (`docs/volumes.md`, "Reads and writes").
 *
 * Reads go straight to the data member while it is readable; otherwise, or when it fails, the span is
 * reconstructed under the row lock and written back to the member (md's read-error correction).
 * Writes hold the lock of every row they touch and pick, per row, the cheapest correct way:
 * - full-stripe: every data chunk of the span is overwritten, so parity is computed with no reads;
 * - read-modify-write: P ^= old ^ new and Q ^= g^j·(old ^ new), when every member of the row is readable
 *   and that reads less than
 * - reconstruct-write: read the data the write does not cover, compute parity afresh;
 * - degraded: recover the whole span from the survivors, apply the write, and write every writable member,
 *   including a rebuilding one, which so gets the new data whether or not the rebuild passed this row.
 */
import { InvalidArgumentError } from '../errors.js';
import { gfPow2, mulXorInto, xorInto } from './gf256.js';
import type { ChunkPiece } from './layout.js';
import { ParityMaintenance } from './parity-maintenance.js';
import { chunkOf, encodeStripe, type StripeSpan } from './stripe-codec.js';
import type { VolumeOptions } from './volume.js';

/** A raid5 or raid6 volume. */
export class ParityVolume extends ParityMaintenance {
  constructor(options: VolumeOptions) {
    if (options.level === 'raid1') throw new InvalidArgumentError('ParityVolume serves raid5 and raid6; use Raid1Volume for raid1', { details: { field: 'level' } });
    super(options);
  }

  protected async doRead(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(length);
    await Promise.all(this.layout.pieces(offset, length).map((piece) => this.#readPiece(piece, out)));
    return out;
  }

  async #readPiece(piece: ChunkPiece, out: Buffer): Promise<void> {
    const { row } = piece;
    const memberIndex = this.layout.rowMap(row).data[piece.dataIndex] as number;
    const member = this.member(memberIndex);
    const at = this.layout.memberOffset(row, piece.chunkOffset);
    if (member.readableAt(row) && !member.hasBadBlock(at, piece.length)) {
      const direct = await this.memberRead(memberIndex, at, piece.length);
      if (direct !== undefined) {
        direct.copy(out, piece.bufferOffset);
        return;
      }
    }
    await this.lock.with(row, row + 1, async () => {
      const span = await this.gather(row, piece.chunkOffset, piece.length, new Set([memberIndex]));
      if (span === undefined) throw this.unrecoverable(row, 'read');
      const chunk = span.data[piece.dataIndex] as Buffer;
      chunk.copy(out, piece.bufferOffset);
      if (member.writable) await this.memberWrite(memberIndex, at, chunk);
    });
  }

  protected async doWrite(offset: number, data: Uint8Array): Promise<void> {
    const pieces = this.layout.pieces(offset, data.length);
    const byRow = new Map<number, ChunkPiece[]>();
    for (const p of pieces) byRow.set(p.row, [...(byRow.get(p.row) ?? []), p]);
    const first = (pieces[0] as ChunkPiece).row;
    const last = (pieces[pieces.length - 1] as ChunkPiece).row;
    await this.lock.with(first, last + 1, () => Promise.all([...byRow].map(([row, rowPieces]) => this.#writeRow(row, rowPieces, data))));
  }

  /** Applies a write's pieces to one row; the caller holds the row's lock. */
  async #writeRow(row: number, pieces: readonly ChunkPiece[], src: Uint8Array): Promise<void> {
    const layout = this.layout;
    const map = layout.rowMap(row);
    const lo = Math.min(...pieces.map((p) => p.chunkOffset));
    const hi = Math.max(...pieces.map((p) => p.chunkOffset + p.length));
    const len = hi - lo;
    const at = layout.memberOffset(row, lo);
    const touched = new Map(pieces.map((p) => [p.dataIndex, p]));
    const covers = (p: ChunkPiece | undefined): boolean => p !== undefined && p.chunkOffset === lo && p.length === len;
    const overlay = (j: number, base: Buffer): Buffer => {
      const p = touched.get(j);
      if (p !== undefined) base.set(src.subarray(p.bufferOffset, p.bufferOffset + p.length), p.chunkOffset - lo);
      return base;
    };
    const parityMembers = [map.p, map.q].filter((m): m is number => m !== undefined);
    // A bad block (a range a rebuild could not reconstruct) makes the old bytes unusable for parity updates.
    const allReadable = [...map.data, ...parityMembers].every((m) => this.member(m).readableAt(row) && !this.member(m).hasBadBlock(at, len));
    const coveredCount = map.data.filter((_, j) => covers(touched.get(j))).length;

    let span: StripeSpan | undefined;
    let writeTo: number[] = [...[...touched.keys()].map((j) => map.data[j] as number), ...parityMembers];

    if (coveredCount === layout.dataChunks) {
      span = encodeStripe(layout, map.data.map((_, j) => overlay(j, Buffer.alloc(len))), len);
    } else if (allReadable && touched.size + parityMembers.length < layout.dataChunks - coveredCount) {
      span = await this.#readModifyWrite(row, map.data, parityMembers, touched, lo, len, overlay);
    } else if (allReadable) {
      const data = await Promise.all(
        map.data.map(async (m, j) => (covers(touched.get(j)) ? Buffer.alloc(len) : await this.memberRead(m, at, len))),
      );
      if (data.every((d) => d !== undefined)) span = encodeStripe(layout, data.map((d, j) => overlay(j, d)), len);
    }

    if (span === undefined) {
      // Degraded: recover the span from whatever reads, then bring every writable member up to date.
      const recovered = await this.gather(row, lo, len, new Set());
      if (recovered === undefined) throw this.unrecoverable(row, 'written');
      span = encodeStripe(layout, recovered.data.map((d, j) => overlay(j, d)), len);
      writeTo = this.members.filter((m) => m.writable).map((m) => m.index);
    }
    await this.writeInOrder(writeTo, (m) => this.memberWrite(m, at, chunkOf(map, span, m) as Buffer));
  }

  /** Reads old data and parity, folds the change into parity; undefined when a read failed. */
  async #readModifyWrite(
    row: number,
    dataMembers: readonly number[],
    parityMembers: readonly number[],
    touched: ReadonlyMap<number, ChunkPiece>,
    lo: number,
    len: number,
    overlay: (j: number, base: Buffer) => Buffer,
  ): Promise<StripeSpan | undefined> {
    const at = this.layout.memberOffset(row, lo);
    const indices = [...touched.keys()];
    const [oldData, oldParity] = await Promise.all([
      Promise.all(indices.map((j) => this.memberRead(dataMembers[j] as number, at, len))),
      Promise.all(parityMembers.map((m) => this.memberRead(m, at, len))),
    ]);
    if (oldData.some((d) => d === undefined) || oldParity.some((d) => d === undefined)) return undefined;
    const p = oldParity[0] as Buffer;
    const q = oldParity[1];
    const data: Buffer[] = dataMembers.map(() => Buffer.alloc(0));
    indices.forEach((j, k) => {
      const old = oldData[k] as Buffer;
      const fresh = overlay(j, Buffer.from(old));
      const delta = Buffer.from(old);
      xorInto(delta, fresh);
      xorInto(p, delta);
      if (q !== undefined) mulXorInto(q, delta, gfPow2(j));
      data[j] = fresh;
    });
    return { data, p, q };
  }
}
