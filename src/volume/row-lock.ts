/**
 * A lock over ranges of rows. Writes, degraded reads, rebuild and scrub of a row hold it, so a parity
 * update never interleaves with another (two read-modify-writes of one stripe would each compute parity from
 * the other's stale data) and a rebuild never copies a row while a write is half applied.
 *
 * Fairness: a request waits for every earlier request (held or still waiting) whose range overlaps its own,
 * and for nothing else. Waiting only on earlier requests makes deadlock impossible and starvation too: a
 * long stream of small writes cannot keep a rebuild of their rows waiting forever.
 *
 * Suspension (md-cluster's "suspend the range being resynced") is the same lock held for a long time:
 * `suspend()` takes a range and keeps it until the returned release is called.
 */

interface LockEntry {
  readonly start: number;
  readonly end: number;
  /** Settles when this entry is released. */
  readonly released: Promise<void>;
  readonly release: () => void;
}

/** Releases a held range; calling it again does nothing. */
export type ReleaseRows = () => void;

/** The row-range lock of one volume in one process. */
export class RowLock {
  #entries: LockEntry[] = [];

  /** Rows held or waited for right now, for status and tests. */
  get queued(): number {
    return this.#entries.length;
  }

  /** Takes rows [start, end) exclusively; resolves with the release once every overlapping earlier holder let go. */
  async acquire(start: number, end: number): Promise<ReleaseRows> {
    if (!(end > start)) return () => undefined;
    const earlier = this.#entries.filter((e) => e.start < end && start < e.end).map((e) => e.released);
    let resolveReleased: () => void = () => undefined;
    const released = new Promise<void>((resolve) => {
      resolveReleased = resolve;
    });
    let done = false;
    const entry: LockEntry = {
      start,
      end,
      released,
      release: () => {
        if (done) return;
        done = true;
        this.#entries = this.#entries.filter((e) => e !== entry);
        resolveReleased();
      },
    };
    this.#entries.push(entry);
    await Promise.all(earlier);
    return entry.release;
  }

  /** Runs `work` holding rows [start, end). */
  async with<T>(start: number, end: number, work: () => Promise<T>): Promise<T> {
    const release = await this.acquire(start, end);
    try {
      return await work();
    } finally {
      release();
    }
  }

  /** True when some holder or waiter covers any of rows [start, end). */
  busy(start: number, end: number): boolean {
    return this.#entries.some((e) => e.start < end && start < e.end);
  }
}
