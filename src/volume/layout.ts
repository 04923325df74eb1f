/**
 * Address mapping of a volume onto its members (`docs/volumes.md`, "Layouts").
 *
 * A volume is cut into rows (md calls them stripes). Every member holds one chunk of each row at member
 * offset `row * chunkSize`.
 * - raid1: a row is `chunkSize` bytes of the volume, and every member holds a copy of it.
 * - raid5, left-symmetric (md's default, layout 2): in row r of n members the parity chunk sits on member
 *   `n - 1 - (r mod n)`, and data chunk j (0-based) on member `(parity + 1 + j) mod n`.
 * - raid6, left-symmetric (md's raid6 layout 2): P on member `n - 1 - (r mod n)`, Q on `(P + 1) mod n`,
 *   data chunk j on `(P + 2 + j) mod n`; Q weights data chunk j with g^j.
 */
import { InvalidArgumentError } from '../errors.js';

/** RAID levels blockrig implements. */
export type VolumeLevel = 'raid1' | 'raid5' | 'raid6';

/** Which member holds which chunk in one row. */
export interface RowMap {
  /** Member index of each data chunk, in data order (raid1: every member, each a full copy). */
  readonly data: readonly number[];
  /** Member index of P (raid5, raid6). */
  readonly p?: number;
  /** Member index of Q (raid6). */
  readonly q?: number;
}

/** One piece of a volume request that falls inside one chunk of one row. */
export interface ChunkPiece {
  readonly row: number;
  /** Data chunk index within the row (0 for raid1). */
  readonly dataIndex: number;
  /** Offset inside the chunk. */
  readonly chunkOffset: number;
  readonly length: number;
  /** Where this piece sits in the caller's buffer. */
  readonly bufferOffset: number;
}

/** The geometry of a volume; pure arithmetic, no I/O. */
export class VolumeLayout {
  readonly level: VolumeLevel;
  readonly memberCount: number;
  readonly chunkSize: number;
  /** Data chunks per row (raid1: 1). */
  readonly dataChunks: number;
  /** Members whose loss the level survives. */
  readonly tolerance: number;
  /** Parity chunks per row (raid1: 0). */
  readonly parityChunks: number;
  readonly rows: number;
  /** Volume bytes per row. */
  readonly rowBytes: number;
  /** Volume size in bytes. */
  readonly size: number;

  constructor(level: VolumeLevel, memberCount: number, chunkSize: number, memberSize: number) {
    const minimum = { raid1: 2, raid5: 3, raid6: 4 }[level];
    if (!Number.isSafeInteger(memberCount) || memberCount < minimum) {
      throw new InvalidArgumentError(`${level} needs at least ${minimum} members, got ${memberCount}`, { details: { field: 'members' } });
    }
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 512 || (chunkSize & (chunkSize - 1)) !== 0) {
      throw new InvalidArgumentError(`chunk size must be a power of two of at least 512 bytes, got ${chunkSize}`, { details: { field: 'chunk' } });
    }
    this.level = level;
    this.memberCount = memberCount;
    this.chunkSize = chunkSize;
    this.parityChunks = level === 'raid1' ? 0 : level === 'raid5' ? 1 : 2;
    this.dataChunks = level === 'raid1' ? 1 : memberCount - this.parityChunks;
    this.tolerance = level === 'raid1' ? memberCount - 1 : this.parityChunks;
    this.rows = Math.floor(memberSize / chunkSize);
    if (this.rows < 1) {
      throw new InvalidArgumentError(`members of ${memberSize} bytes are smaller than one ${chunkSize}-byte chunk`, { details: { field: 'members' } });
    }
    this.rowBytes = this.dataChunks * chunkSize;
    this.size = this.rows * this.rowBytes;
  }

  /** The members of a row by role. */
  rowMap(row: number): RowMap {
    const n = this.memberCount;
    if (this.level === 'raid1') return { data: Array.from({ length: n }, (_, i) => i) };
    const p = n - 1 - (row % n);
    if (this.level === 'raid5') return { p, data: Array.from({ length: this.dataChunks }, (_, j) => (p + 1 + j) % n) };
    return { p, q: (p + 1) % n, data: Array.from({ length: this.dataChunks }, (_, j) => (p + 2 + j) % n) };
  }

  /** What role member `member` plays in `row`: a data index, 'p' or 'q'. */
  roleOf(row: number, member: number): number | 'p' | 'q' {
    const map = this.rowMap(row);
    if (map.p === member) return 'p';
    if (map.q === member) return 'q';
    const j = map.data.indexOf(member);
    return this.level === 'raid1' ? 0 : j;
  }

  /** Member byte offset of `row`'s chunk plus `chunkOffset`. */
  memberOffset(row: number, chunkOffset = 0): number {
    return row * this.chunkSize + chunkOffset;
  }

  /** Splits a volume range into pieces that each fall inside one chunk, in volume order. */
  pieces(offset: number, length: number): ChunkPiece[] {
    const out: ChunkPiece[] = [];
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const row = Math.floor(at / this.rowBytes);
      const inRow = at - row * this.rowBytes;
      const dataIndex = Math.floor(inRow / this.chunkSize);
      const chunkOffset = inRow - dataIndex * this.chunkSize;
      const n = Math.min(this.chunkSize - chunkOffset, length - done);
      out.push({ row, dataIndex, chunkOffset, length: n, bufferOffset: done });
      done += n;
    }
    return out;
  }

  /** The volume offset of data chunk `dataIndex` of `row`. */
  volumeOffset(row: number, dataIndex: number, chunkOffset = 0): number {
    return row * this.rowBytes + dataIndex * this.chunkSize + chunkOffset;
  }
}
