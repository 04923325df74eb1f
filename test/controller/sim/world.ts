/**
 * The simulator's world: one virtual timeline (a `ManualClock`), simulated processes that can be paused,
 * resumed and crashed, a drifting clock per process, and a shared medium reached through a device per
 * process whose I/Os land after a random latency and acknowledge later still. Nothing here knows about
 * leases or tasks; it only makes time, I/O and failure happen in seeded, reproducible orders.
 */
import { BlockDeviceBase, NO_CAPABILITIES } from '../../../drivers/base.js';
import { MemoryStore } from '../../../drivers/memory.js';
import { flushMicrotasks, type Clock } from '../../../src/clock.js';


/** A write that landed on the medium, for the checkers. */
export interface LandedWrite {
  proc: number;
  offset: number;
  length: number;
  issuedAt: number;
  landedAt: number;
  torn: boolean;
  /** The bytes written (kept only for the task area, where the checker counts completions). */
  data: Buffer | undefined;
}

/** A simulated process: its continuations run only while it is neither paused nor crashed. */
export class SimProcess {
  paused = false;
  crashed = false;
  crashedAt = Infinity;
  #waiters: (() => void)[] = [];

  constructor(readonly id: number) {}

  /** Resolves when the process may continue; never, once crashed. */
  gate(): Promise<void> {
    if (this.crashed) return new Promise<void>(() => undefined);
    if (!this.paused) return Promise.resolve();
    return new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    const w = this.#waiters;
    this.#waiters = [];
    if (!this.crashed) for (const f of w) f();
  }

  crash(at: number): void {
    this.crashed = true;
    this.crashedAt = at;
    this.#waiters = [];
  }
}

interface Timer {
  due: number;
  seq: number;
  fire: () => void;
  stack?: string;
}

/**
 * The world's virtual time: like `ManualClock`, but it refuses to fire a runaway number of timers in one
 * `advance` (a livelock in the code under test), reporting where the last ones were created.
 */
export class WorldClock implements Clock {
  #now = 0;
  #seq = 0;
  #timers: Timer[] = [];

  now(): number {
    return this.#now;
  }

  wallTime(): number {
    return Date.UTC(2026, 0, 1) + this.#now;
  }

  get pending(): number {
    return this.#timers.length;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted === true) {
        reject(signal.reason as Error);
        return;
      }
      const onAbort = (): void => {
        this.#timers = this.#timers.filter((t) => t !== timer);
        reject(signal?.reason as Error);
      };
      const timer: Timer = {
        due: this.#now + Math.max(0, ms),
        seq: this.#seq++,
        fire: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        stack: process.env.SIM_DEBUG ? new Error().stack : undefined,
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.#timers.push(timer);
    });
  }

  /** Moves time forward by `ms`, firing due timers in order with microtasks run between them. */
  async advance(ms: number): Promise<void> {
    const target = this.#now + ms;
    let fired = 0;
    for (;;) {
      await flushMicrotasks();
      let best: Timer | undefined;
      let bestAt = -1;
      this.#timers.forEach((t, i) => {
        if (best === undefined || t.due < best.due || (t.due === best.due && t.seq < best.seq)) {
          best = t;
          bestAt = i;
        }
      });
      const next = best;
      if (next === undefined || next.due > target) break;
      this.#timers.splice(bestAt, 1);
      this.#now = Math.max(this.#now, next.due);
      next.fire();
      if (++fired > 200_000) throw new Error(`runaway timers at ${this.#now}: ${next.stack ?? 'set SIM_DEBUG=1 for the stack'}`);
    }
    this.#now = target;
    await flushMicrotasks();
  }
}

/** A process's clock: runs at `rate` times the world's, and freezes the process while paused. */
export class DriftClock implements Clock {
  readonly #base: number;
  constructor(
    readonly world: WorldClock,
    readonly proc: SimProcess,
    readonly rate: number,
  ) {
    this.#base = world.now();
  }

  now(): number {
    return 1_000_000 + (this.world.now() - this.#base) * this.rate;
  }

  wallTime(): number {
    return this.world.wallTime();
  }

  async sleep(ms: number, signal?: AbortSignal): Promise<void> {
    await this.world.sleep(Math.max(0, ms) / this.rate, signal);
    await this.proc.gate();
    if (signal?.aborted === true) throw signal.reason as Error;
  }
}

/** Latency model of the medium. */
export interface IoModel {
  /** Time from issue to landing, in world milliseconds; must stay below the region's ioTimeout. */
  land(): number;
  /** Time from landing to acknowledgement. */
  ack(): number;
}

/** The shared medium plus the log of landed writes. */
export class Medium {
  readonly store: MemoryStore;
  readonly writes: LandedWrite[] = [];
  /** Writes inside this byte range keep their data in the log. */
  keepData: { from: number; to: number } = { from: 0, to: 0 };
  constructor(
    size: number,
    readonly world: WorldClock,
    readonly random: () => number,
  ) {
    this.store = new MemoryStore(size);
  }
}

/** One process's handle on the medium. */
export class SimDevice extends BlockDeviceBase {
  constructor(
    readonly medium: Medium,
    readonly proc: SimProcess,
    readonly model: IoModel,
    uri: string,
  ) {
    super({ uri, driver: 'memory', size: medium.store.size, logicalBlockSize: 512, physicalBlockSize: 4096, capabilities: { ...NO_CAPABILITIES, multiConn: true } });
  }

  protected async doRead(offset: number, length: number): Promise<Buffer> {
    await this.medium.world.sleep(this.model.land());
    const data = this.medium.store.read(offset, length);
    await this.medium.world.sleep(this.model.ack());
    await this.proc.gate();
    return data;
  }

  protected async doWrite(offset: number, data: Uint8Array): Promise<void> {
    const copy = Buffer.from(data);
    const issuedAt = this.medium.world.now();
    await this.medium.world.sleep(this.model.land());
    // A write in flight when its process crashes lands whole, not at all, or torn in 512-byte sectors.
    let torn = false;
    if (this.proc.crashed) {
      const r = this.medium.random();
      if (r < 0.3) return new Promise<void>(() => undefined);
      if (r < 0.7) {
        torn = true;
        for (let s = 0; s < copy.length; s += 512) if (this.medium.random() < 0.5) this.medium.store.write(offset + s, copy.subarray(s, s + 512));
      }
    }
    if (!torn) this.medium.store.write(offset, copy);
    const keep = offset >= this.medium.keepData.from && offset < this.medium.keepData.to;
    this.medium.writes.push({ proc: this.proc.id, offset, length: copy.length, issuedAt, landedAt: this.medium.world.now(), torn, data: keep ? copy : undefined });
    await this.medium.world.sleep(this.model.ack());
    await this.proc.gate();
  }

  protected doFlush(): Promise<void> {
    return this.proc.gate();
  }

  protected doClose(): Promise<void> {
    return Promise.resolve();
  }
}
