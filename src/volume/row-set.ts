/**
 * A set of rows kept as sorted, disjoint, non-adjacent half-open intervals. A rebuild that runs in
 * partitions finishes ranges out of order; this records which rows of the new member already hold good
 * data, and its `watermark` (the end of the run starting at row 0) is md's `recovery_offset`.
 */

/** A half-open range of rows. */
export interface RowRange {
  readonly start: number;
  readonly end: number;
}

/** Sorted disjoint intervals of rows. */
export class RowSet {
  #ranges: RowRange[] = [];

  constructor(ranges: readonly RowRange[] = []) {
    for (const r of ranges) this.add(r.start, r.end);
  }

  /** The intervals, sorted. */
  get ranges(): readonly RowRange[] {
    return this.#ranges;
  }

  /** Rows in the set. */
  get count(): number {
    return this.#ranges.reduce((sum, r) => sum + r.end - r.start, 0);
  }

  /** The first row not in the set when counting up from 0. */
  get watermark(): number {
    const first = this.#ranges[0];
    return first !== undefined && first.start === 0 ? first.end : 0;
  }

  /** Adds rows [start, end), merging with touching intervals. */
  add(start: number, end: number): void {
    if (!(end > start)) return;
    let s = start;
    let e = end;
    const kept: RowRange[] = [];
    for (const r of this.#ranges) {
      if (r.end < s || r.start > e) kept.push(r);
      else {
        s = Math.min(s, r.start);
        e = Math.max(e, r.end);
      }
    }
    kept.push({ start: s, end: e });
    kept.sort((a, b) => a.start - b.start);
    this.#ranges = kept;
  }

  /** True when every row of [start, end) is in the set. */
  covers(start: number, end: number): boolean {
    if (!(end > start)) return true;
    return this.#ranges.some((r) => r.start <= start && end <= r.end);
  }

  /** True when `row` is in the set. */
  has(row: number): boolean {
    return this.covers(row, row + 1);
  }

  /** Empties the set. */
  clear(): void {
    this.#ranges = [];
  }
}
