/**
 * Delta-lease liveness (docs/coordination.md, "Liveness"): a peer is alive while the bytes of its host
 * record keep changing, as seen by repeated reads of this observer, timed on this observer's own monotonic
 * clock. Wall clocks of other hosts are never looked at. A peer is dead once the same bytes have been seen
 * for at least `hostDeadMs`: from the end of the first read that returned them to the start of the latest.
 */

interface Observation {
  raw: Buffer;
  /** End of the first read that returned these bytes. */
  firstSeenEnd: number;
  /** Start of the latest read that returned them. */
  lastSeenStart: number;
}

/** Tracks how long each host slot's bytes have stayed the same. */
export class LivenessTracker {
  readonly #hostDeadMs: number;
  readonly #seen = new Map<number, Observation>();

  constructor(hostDeadMs: number) {
    this.#hostDeadMs = hostDeadMs;
  }

  /** Records what a read of host slot `slot` (issued at `readStart`, done at `readEnd`) returned. */
  observe(slot: number, raw: Buffer, readStart: number, readEnd: number): void {
    const prev = this.#seen.get(slot);
    if (prev !== undefined && prev.raw.equals(raw)) {
      prev.lastSeenStart = Math.max(prev.lastSeenStart, readStart);
      return;
    }
    this.#seen.set(slot, { raw: Buffer.from(raw), firstSeenEnd: readEnd, lastSeenStart: readStart });
  }

  /** How long the slot's current bytes have been seen unchanged (0 when never observed). */
  unchangedFor(slot: number): number {
    const o = this.#seen.get(slot);
    return o === undefined ? 0 : Math.max(0, o.lastSeenStart - o.firstSeenEnd);
  }

  /** True when the slot's bytes have not changed for `hostDeadMs`: its holder, if any, has stopped. */
  isDead(slot: number): boolean {
    return this.unchangedFor(slot) >= this.#hostDeadMs;
  }

  /** Forgets a slot (used when this process takes it over). */
  forget(slot: number): void {
    this.#seen.delete(slot);
  }
}
