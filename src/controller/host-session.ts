/**
 * `HostSession`: this process's membership of a region (docs/coordination.md, "Host slots" and "Claims").
 *
 * - Joining takes a host slot with a delta lease: the slot must be free, released or dead; we write our
 *   record, wait longer than any concurrent taker's write can take to land, and read it back.
 * - Renewing rewrites the record every heartbeat interval after checking it is still ours. Validity runs
 *   `renewTimeoutMs` from the issue of the last renewal that completed within `ioTimeoutMs`; past it, or
 *   on any failed write of the host record, the session fences itself: it aborts `signal`, and
 *   `assertValid`/`guard` refuse all further I/O. A fenced session never writes again.
 * - Claiming is write-then-read over single-writer records: write our intent, read every host record, and
 *   back off if any live host names the same resource. Two contenders cannot both miss each other.
 */
import { randomBytes } from 'node:crypto';
import { hostname as osHostname } from 'node:os';
import type { Clock } from '../clock.js';
import { ConflictError, LeaseLostError, MetaFullError } from '../errors.js';
import type { HostRole} from '../metadata/host-record.js';
import { HostState, sameResource, type ClaimTarget, type DeviceHealth, type HostRecord } from '../metadata/host-record.js';
import type { TimingParameters } from '../metadata/layout.js';
import type { MetadataRegion, Slot } from '../metadata/region.js';
import { LivenessTracker } from './liveness.js';
import { Mutex, isTransient, withTimeout } from './timed.js';

/** Options of `HostSession.join`. */
export interface HostSessionOptions {
  region: MetadataRegion;
  clock: Clock;
  /** Take exactly this slot (`--id`); otherwise the first free, released or dead one. */
  slot?: number;
  role: HostRole;
  hostname?: string;
  pid?: number;
  /** Source of randomness (nonce, jitter); the simulator passes a seeded one. */
  random?: () => number;
  /** Called once when the session fences itself, with the reason. */
  onFence?: (reason: LeaseLostError) => void;
}

/** A view of every host slot from one read, with liveness judged by this session. */
export interface HostView {
  slot: number;
  record: HostRecord | undefined;
  /** True when the record is unreadable but not blank: it may hold any claim. */
  unreadable: boolean;
  /** Highest valid sequence of the slot's copies. */
  sequence: number;
  dead: boolean;
}

/** Membership of a region; see the module comment. */
export class HostSession {
  readonly region: MetadataRegion;
  readonly clock: Clock;
  readonly timing: TimingParameters;
  readonly liveness: LivenessTracker;
  readonly random: () => number;
  #slot = -1;
  #record!: HostRecord;
  #sequence = 0;
  #validUntil = -Infinity;
  #fenced: LeaseLostError | undefined;
  #left = false;
  readonly #stop = new AbortController();
  readonly #lock = new Mutex();
  #renewing: Promise<void> | undefined;
  #deviceHealth: DeviceHealth[] = [];
  readonly #onFence: ((reason: LeaseLostError) => void) | undefined;

  private constructor(o: HostSessionOptions) {
    this.region = o.region;
    this.clock = o.clock;
    this.timing = o.region.superblock.timing;
    this.liveness = new LivenessTracker(this.timing.hostDeadMs);
    this.random = o.random ?? Math.random;
    this.#onFence = o.onFence;
  }

  /** Joins the region: takes a host slot and starts heartbeating. */
  static async join(o: HostSessionOptions): Promise<HostSession> {
    const s = new HostSession(o);
    await s.#acquire(o);
    s.#renewing = s.#renewLoop();
    return s;
  }

  /** The host slot held. */
  get slot(): number {
    return this.#slot;
  }

  /** This process's incarnation of the slot. */
  get incarnation(): number {
    return this.#record.incarnation;
  }

  /** Aborted when the session fences itself or leaves: all work must stop. */
  get signal(): AbortSignal {
    return this.#stop.signal;
  }

  /** Why the session fenced itself, if it did. */
  get fencedReason(): LeaseLostError | undefined {
    return this.#fenced;
  }

  /** Monotonic time (this clock) until which work may issue I/O. */
  get validUntil(): number {
    return this.#validUntil;
  }

  /** The claim currently recorded, if any. */
  get currentClaim(): ClaimTarget | undefined {
    return this.#record.claim;
  }

  /**
   * Sets the device health list this host publishes; it goes out with the next write of the host record
   * (at the latest the next heartbeat), where the cluster's agents read it.
   */
  publishDeviceHealth(list: DeviceHealth[]): void {
    this.#deviceHealth = list;
  }

  /** Throws `LeaseLostError` (fencing first if time ran out) unless work may issue I/O now. */
  assertValid(): void {
    if (this.#fenced) throw this.#fenced;
    if (this.#left) throw new LeaseLostError(`host slot ${this.#slot} was released`);
    if (this.clock.now() >= this.#validUntil) this.fence(`the host record was not renewed within ${this.timing.renewTimeoutMs} ms`);
  }

  /**
   * Issues one work I/O under the lease: refuses when not valid, and fences when it takes longer than
   * `ioTimeoutMs` (it may land late, so nothing more may be issued).
   */
  async guard<T>(what: string, op: () => Promise<T>): Promise<T> {
    this.assertValid();
    try {
      return await withTimeout(this.clock, this.timing.ioTimeoutMs, what, op());
    } catch (err) {
      if (err instanceof Error && 'code' in err && err.code === 'BLOCKRIG_E_TIMEOUT') this.fence(`${what} took longer than ${this.timing.ioTimeoutMs} ms`);
      throw err;
    }
  }

  /** Stops all work for good: called on lost renewal, a failed host-record write, or a foreign record in our slot. */
  fence(reason: string): never {
    if (!this.#fenced) {
      this.#fenced = new LeaseLostError(`controller in host slot ${this.#slot} fenced itself: ${reason}; it stops all work and exits, and peers reclaim its partitions after ${this.timing.hostDeadMs} ms`, {
        details: { slot: this.#slot, incarnation: this.#record.incarnation, reason },
      });
      this.#stop.abort(this.#fenced);
      this.#onFence?.(this.#fenced);
    }
    throw this.#fenced;
  }

  /** Reads every host slot, feeding liveness; fences if our own slot holds someone else's record. */
  async observeHosts(): Promise<HostView[]> {
    const start = this.clock.now();
    const slots = await withTimeout(this.clock, this.timing.ioTimeoutMs, 'reading the host slots', this.region.readHosts());
    const end = this.clock.now();
    return slots.map((s, i) => {
      this.liveness.observe(i, s.raw, start, end);
      if (i === this.#slot && this.#record !== undefined && !this.#fenced && !this.#left) this.#checkOwn(s);
      return { slot: i, record: s.value, unreadable: s.value === undefined && !s.pingPong.empty, sequence: s.pingPong.sequence, dead: this.liveness.isDead(i) };
    });
  }

  /** Live hosts other than us whose record names `target` (an unreadable live record counts: never trusted). */
  holdersOf(views: readonly HostView[], target: ClaimTarget): number[] {
    return views
      .filter((v) => v.slot !== this.#slot && !v.dead)
      .filter((v) => v.unreadable || (v.record !== undefined && isActive(v.record.state) && v.record.claim !== undefined && sameResource(v.record.claim, target)))
      .map((v) => v.slot);
  }

  /**
   * Tries to claim `target`: writes the intent, reads every host record, and keeps the claim only if no
   * live host names the same resource. Resolves false (claim withdrawn) on contention.
   */
  async claim(target: ClaimTarget): Promise<boolean> {
    if (this.#record.claim !== undefined) throw new ConflictError(`host slot ${this.#slot} already holds a claim; release it first`);
    await this.#writeOwn({ claim: target });
    let views: HostView[];
    try {
      views = await this.observeHosts();
    } catch (err) {
      // Could not see the others: withdraw (a failed withdrawal fences) and report the read failure.
      await this.#writeOwn({ claim: undefined });
      throw err;
    }
    if (this.holdersOf(views, target).length > 0) {
      await this.#writeOwn({ claim: undefined });
      return false;
    }
    this.assertValid();
    return true;
  }

  /** Withdraws the current claim (after the claimed record's last write has completed). */
  async release(): Promise<void> {
    if (this.#record.claim === undefined) return;
    await this.#writeOwn({ claim: undefined });
  }

  /** Leaves the region: stops renewing and marks the slot released (skipped when fenced: we may not write). */
  async leave(): Promise<void> {
    if (this.#left) return;
    const wasValid = this.#fenced === undefined && this.clock.now() < this.#validUntil;
    if (wasValid) {
      try {
        await this.#writeOwn({ claim: undefined, state: HostState.Released });
      } catch {
        // Fenced while leaving: peers will see the slot stop changing and take it as dead.
      }
    }
    this.#left = true;
    if (!this.#stop.signal.aborted) this.#stop.abort(new LeaseLostError(`host slot ${this.#slot} was released`));
    await this.#renewing;
  }

  /**
   * Stops renewing without writing anything, as if the process had died: peers take the slot as dead
   * after `hostDeadMs`. Used when work ended in an unexpected error, so no claim is left half-released.
   */
  async abandon(reason: string): Promise<void> {
    try {
      this.fence(`abandoned: ${reason}`);
    } catch {
      // fence() always throws; here it is only the way to stop.
    }
    await this.#renewing;
  }

  #checkOwn(s: Slot<HostRecord>): void {
    const v = s.value;
    if (v === undefined || !v.nonce.equals(this.#record.nonce) || v.incarnation !== this.#record.incarnation) {
      this.fence(`host slot ${this.#slot} now holds another process's record (${v ? `pid ${v.pid} on ${v.hostname}` : 'unreadable'})`);
    }
  }

  /** Writes our record with `changes`, as the next ping-pong copy. Any failure fences: the write may land late. */
  #writeOwn(changes: Partial<HostRecord>, joining = false): Promise<void> {
    return this.#lock.run(async () => {
      if (!joining) this.assertValid();
      const next: HostRecord = { ...this.#record, ...changes, deviceHealth: this.#deviceHealth, heartbeat: this.#record.heartbeat + 1, wallTime: this.clock.wallTime() };
      const sequence = this.#sequence + 1;
      const issued = this.clock.now();
      try {
        await withTimeout(this.clock, this.timing.ioTimeoutMs, 'writing the host record', this.region.writeHost(this.#slot, next, sequence, { slot: this.#slot, incarnation: next.incarnation }));
      } catch (err) {
        this.fence(`writing the host record failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      this.#sequence = sequence;
      this.#record = next;
      if (this.clock.now() - issued <= this.timing.ioTimeoutMs) this.#validUntil = Math.max(this.#validUntil, issued + this.timing.renewTimeoutMs);
    });
  }

  async #renewLoop(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      try {
        await this.clock.sleep(this.timing.heartbeatIntervalMs, this.#stop.signal);
      } catch {
        return;
      }
      try {
        this.assertValid();
        const own = await withTimeout(this.clock, this.timing.ioTimeoutMs, 'reading our host record', this.region.readHost(this.#slot));
        if (this.#stop.signal.aborted) return;
        this.#checkOwn(own);
        await this.#writeOwn({});
      } catch (err) {
        if (this.#fenced || this.#left) return;
        // A failed read is retried at the next interval; validity runs out on its own if they keep failing.
        void err;
      }
    }
  }

  async #acquire(o: HostSessionOptions): Promise<void> {
    const { timing } = this;
    const nonce = Buffer.from(Array.from({ length: 8 }, () => Math.floor(this.random() * 256)));
    if (o.random === undefined) randomBytes(8).copy(nonce);
    const started = this.clock.now();
    const patience = timing.hostDeadMs + 4 * timing.heartbeatIntervalMs + 2 * timing.ioTimeoutMs;
    const region = this.region;
    if (o.slot !== undefined && (!Number.isInteger(o.slot) || o.slot < 0 || o.slot >= region.hostSlots)) {
      throw new ConflictError(`host slot ${o.slot} does not exist: the region has slots 0 to ${region.hostSlots - 1}`, { details: { field: 'id' } });
    }
    for (;;) {
      const readStart = this.clock.now();
      let views: HostView[];
      try {
        views = await this.observeHosts();
      } catch (err) {
        if (!isTransient(err)) throw err;
        await this.clock.sleep(timing.heartbeatIntervalMs);
        continue;
      }
      const order = o.slot !== undefined ? [o.slot] : freeFirst(views);
      const pick = order.find((i) => {
        const v = views[i];
        return v !== undefined && (v.dead || (!v.unreadable && (v.record === undefined || !isActive(v.record.state))));
      });
      if (pick === undefined) {
        if (this.clock.now() - started > patience) {
          if (o.slot !== undefined) {
            const r = views[o.slot]?.record;
            throw new ConflictError(`host slot ${o.slot} is held by a live process (${r ? `pid ${r.pid} on ${r.hostname}` : 'unreadable record'}): pick another --id or stop that process`, {
              details: { slot: o.slot },
            });
          }
          throw new MetaFullError(`every one of the ${region.hostSlots} host slots is held by a live process: stop one, or reformat with more --controllers`);
        }
        await this.clock.sleep(timing.heartbeatIntervalMs);
        continue;
      }
      const prev = views[pick]?.record;
      this.#slot = pick;
      this.#sequence = views[pick]?.sequence ?? 0;
      this.#record = {
        incarnation: ((prev?.incarnation ?? 0) + 1) >>> 0,
        state: HostState.Joining,
        heartbeat: 0,
        nonce,
        pid: o.pid ?? process.pid,
        claim: undefined,
        role: o.role,
        wallTime: this.clock.wallTime(),
        hostname: o.hostname ?? osHostname(),
      };
      await this.#writeOwn({}, true);
      // A taker that saw the slot free must land its write within ioTimeout of that read, or give up;
      // so a slow read-to-write (a paused process) abandons the slot rather than risk two owners.
      if (this.clock.now() - readStart > timing.ioTimeoutMs) {
        this.#slot = -1;
        continue;
      }
      await this.clock.sleep(Math.ceil(1.2 * timing.ioTimeoutMs) + 1);
      const check = await withTimeout(this.clock, timing.ioTimeoutMs, 'reading back our host record', region.readHost(pick)).catch((err: unknown) => {
        if (isTransient(err)) return undefined;
        throw err;
      });
      const v = check?.value;
      if (v === undefined || !v.nonce.equals(nonce) || v.incarnation !== this.#record.incarnation) {
        this.#slot = -1;
        continue;
      }
      this.liveness.forget(pick);
      await this.#writeOwn({ state: HostState.Live }, true);
      if (this.#validUntil === -Infinity) this.fence('the first heartbeat took longer than ioTimeoutMs');
      return;
    }
  }
}

function isActive(state: HostState): boolean {
  return state === HostState.Joining || state === HostState.Live;
}

function freeFirst(views: readonly HostView[]): number[] {
  const free = views.filter((v) => !v.unreadable && (v.record === undefined || !isActive(v.record.state))).map((v) => v.slot);
  const rest = views.filter((v) => !free.includes(v.slot)).map((v) => v.slot);
  return [...free, ...rest];
}
