/**
 * Batches of rows worked in order under the row lock, with the locks of the next few batches taken and
 * their reads issued while the current batch is computed and written: member reads overlap parity work
 * instead of alternating with it, and each member sees several requests at once, which is what a loop or
 * NBD device needs to approach its sequential bandwidth (`docs/volumes.md`, "Performance").
 *
 * Holding later batches' rows early cannot deadlock: the lock queues requests in the order they are made
 * and the work on a batch never waits for a later one.
 */
import { CancelledError } from '../errors.js';
import type { ReleaseRows, RowLock } from './row-lock.js';

/** One batch: rows [start, end) and what `load` read for it. */
interface Loaded<T> {
  readonly start: number;
  readonly end: number;
  readonly release: ReleaseRows;
  readonly value: T;
}

/** Options of `pipelineRows`. */
export interface PipelineOptions<T> {
  readonly lock: RowLock;
  /** Rows per batch. */
  readonly batch: number;
  /** Batches loaded ahead of the one being worked (default 7: with 1 MiB batches, 8 requests per member in flight). */
  readonly lookahead?: number;
  /**
   * Batches worked at once (default 1). Above 1, batches may finish out of order: only for work whose
   * batches are independent (rebuilding distinct rows), each still under its own rows' lock.
   */
  readonly parallel?: number;
  /** Reads a batch (runs holding its rows). */
  readonly load: (start: number, end: number) => Promise<T>;
  /** Works a batch (still holding its rows). */
  readonly work: (start: number, end: number, loaded: T) => Promise<void>;
  readonly signal?: AbortSignal | undefined;
  /** What is being done, for the cancellation message. */
  readonly what: string;
}

/** Works rows [start, end) batch by batch, loading the next `lookahead` batches while `parallel` are worked. */
export async function pipelineRows<T>(start: number, end: number, o: PipelineOptions<T>): Promise<void> {
  const open = (from: number): Promise<Loaded<T>> => {
    const to = Math.min(end, from + o.batch);
    const loaded = o.lock.acquire(from, to).then(async (release) => {
      try {
        return { start: from, end: to, release, value: await o.load(from, to) };
      } catch (err) {
        release();
        throw err;
      }
    });
    // Awaited below; a failure while the previous batch is worked must not be reported as unhandled.
    loaded.catch(() => undefined);
    return loaded;
  };
  const ahead: Promise<Loaded<T>>[] = [];
  let opened = start;
  const fill = (): void => {
    while (opened < end && ahead.length <= (o.lookahead ?? 7)) {
      ahead.push(open(opened));
      opened = Math.min(end, opened + o.batch);
    }
  };
  let failed = false;
  // Each worker takes the next batch in order; with `parallel` > 1 one batch's writes overlap the next's work.
  const worker = async (): Promise<void> => {
    for (let next = ahead.shift(); next !== undefined && !failed; next = ahead.shift()) {
      const current = await next;
      try {
        if (o.signal?.aborted === true) throw new CancelledError(`${o.what} cancelled at row ${current.start}`);
        fill();
        await o.work(current.start, current.end, current.value);
      } catch (err) {
        failed = true;
        throw err;
      } finally {
        current.release();
      }
    }
  };
  try {
    fill();
    const outcomes = await Promise.allSettled(Array.from({ length: Math.max(1, o.parallel ?? 1) }, worker));
    const rejected = outcomes.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected !== undefined) throw rejected.reason;
  } finally {
    // Batches loaded ahead of a failure are let go.
    await Promise.all(ahead.splice(0).map((p) => p.then((n) => n.release(), () => undefined)));
  }
}
