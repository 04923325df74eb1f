/**
 * The per-row-range API that rebuild, scrub, initialize and copy tasks drive (`docs/volumes.md`, "Tasks").
 * Each call works on rows [start, end) under the row lock, so it may run while the volume serves I/O, and
 * is idempotent, so a task partition that is redone after a controller died does no harm.
 */

/** What a mismatch is between. */
export type MismatchKind =
  /** raid1: the copies differ. */
  | 'mirror'
  /** raid5/raid6: P does not match the data. */
  | 'p'
  /** raid6: Q does not match the data. */
  | 'q'
  /** raid6: P and Q both disagree in a way that a single corrupted data chunk explains; `members` names it. */
  | 'data'
  /** raid6: P and Q disagree and no single member explains it. */
  | 'pq';

/** One run of mismatching logical blocks inside one row. */
export interface Mismatch {
  readonly row: number;
  readonly kind: MismatchKind;
  /** Member byte offset of the first mismatching block (the same on every member of the row). */
  readonly memberOffset: number;
  readonly length: number;
  /** The members holding the wrong bytes (raid1: the minority copies; raid6: the located member, or P and Q). */
  readonly members: readonly number[];
  /** True when repair rewrote it. */
  readonly repaired: boolean;
}

/** Options of a scrub call. */
export interface ScrubOptions {
  /** Rewrite what is wrong (md's `repair`); otherwise only count and locate (md's `check`). */
  readonly repair?: boolean;
  readonly signal?: AbortSignal;
}

/** What a scrub of a row range found. */
export interface ScrubResult {
  readonly rowsChecked: number;
  /** Rows that could not be checked: too few readable members to compare. */
  readonly rowsSkipped: number;
  /** Member bytes read. */
  readonly bytesRead: number;
  readonly mismatches: readonly Mismatch[];
  /** Total mismatching bytes (md's `mismatch_cnt` is in 512-byte sectors: this / 512). */
  readonly mismatchBytes: number;
}

/** Options of a rebuild call. */
export interface RebuildOptions {
  readonly signal?: AbortSignal;
  /**
   * Other controllers may be writing the volume without suspending the rows being rebuilt: after writing a
   * reconstructed span, read its sources again and redo it while they changed (see `docs/volumes.md`).
   */
  readonly verify?: boolean;
}

/** What a rebuild of a row range did. */
export interface RebuildResult {
  readonly member: number;
  readonly rowsRebuilt: number;
  /** Bytes written to the member. */
  readonly bytesWritten: number;
  /** Member ranges that could not be reconstructed (recorded as bad blocks on the member). */
  readonly unreadable: readonly { readonly offset: number; readonly length: number }[];
}

/** Adds the mismatch counts of several results, for task totals. */
export function mergeScrubResults(results: readonly ScrubResult[]): ScrubResult {
  return {
    rowsChecked: results.reduce((n, r) => n + r.rowsChecked, 0),
    rowsSkipped: results.reduce((n, r) => n + r.rowsSkipped, 0),
    bytesRead: results.reduce((n, r) => n + r.bytesRead, 0),
    mismatches: results.flatMap((r) => r.mismatches),
    mismatchBytes: results.reduce((n, r) => n + r.mismatchBytes, 0),
  };
}

/**
 * Turns per-block flags into runs: calls `emit(firstBlock, blockCount)` for each run of consecutive blocks
 * for which `differs(block)` is true.
 */
export function forEachRun(blocks: number, differs: (block: number) => boolean, emit: (first: number, count: number) => void): void {
  let first = -1;
  for (let b = 0; b <= blocks; b++) {
    const bad = b < blocks && differs(b);
    if (bad && first < 0) first = b;
    if (!bad && first >= 0) {
      emit(first, b - first);
      first = -1;
    }
  }
}
