/**
 * Bounded waits on I/O. The safety argument assumes every I/O lands within `ioTimeoutMs` of being issued
 * or is treated as failed, so each metadata and work I/O is raced against the injected clock.
 */
import type { Clock } from '../clock.js';
import { ErrorCode, TimeoutError, isBlockrigError } from '../errors.js';

/** Reason given when a timer is stopped because its I/O finished: a constant, since building a DOMException per I/O costs more than the I/O. */
const SETTLED = Object.freeze({ settled: true });

/**
 * Resolves with `op`'s result, or rejects with `TimeoutError` once `ms` pass on `clock`. The late result
 * of a timed-out `op` is swallowed: the caller has already acted on the timeout.
 */
export async function withTimeout<T>(clock: Clock, ms: number, what: string, op: Promise<T>): Promise<T> {
  const stop = new AbortController();
  let timedOut = false;
  const timer = clock.sleep(ms, stop.signal).then(
    () => {
      timedOut = true;
    },
    () => undefined,
  );
  try {
    await Promise.race([op, timer]);
    if (timedOut) {
      op.catch(() => undefined);
      throw new TimeoutError(`${what} did not finish within ${ms} ms`, { details: { what, ms } });
    }
    return await op;
  } finally {
    stop.abort(SETTLED);
  }
}

/** A promise-chain mutex: runs critical sections one at a time, in call order. */
export class Mutex {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `section` after every earlier section has settled. */
  run<T>(section: () => Promise<T>): Promise<T> {
    const result = this.#tail.then(section, section);
    this.#tail = result.catch(() => undefined);
    return result;
  }
}

/** True for failures worth retrying after a pause: a slow, failed or unreachable I/O (never a fence). */
export function isTransient(err: unknown): boolean {
  return (
    isBlockrigError(err, ErrorCode.Timeout) ||
    isBlockrigError(err, ErrorCode.Io) ||
    isBlockrigError(err, ErrorCode.DeviceUnavailable) ||
    isBlockrigError(err, ErrorCode.Disconnected) ||
    isBlockrigError(err, ErrorCode.ShortRead)
  );
}
