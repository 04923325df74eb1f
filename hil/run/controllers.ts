/**
 * Controllers of a scenario run, and the partitioned task they share. The task's rows are split into
 * partitions (READY, IN_PROGRESS, COMPLETE); each controller claims a READY partition, starting at a
 * staggered place so that controllers do not collide, works it in small steps, and marks it COMPLETE.
 * Each controller heartbeats; a partition whose owner's heartbeat has not changed for two leases, judged
 * on the claimer's own clock, is reclaimed and redone (partition work is idempotent). A controller that
 * wakes up and finds its partition taken drops its result: it fenced itself. This follows the protocol of
 * `src/controller/` (delta leases and partition claims in the metadata region), run in the harness's own
 * process so that a scenario can kill (SIGKILL: stop mid-step, release nothing) or pause (SIGSTOP: no
 * heartbeat, no I/O) a controller at an exact point of the timeline.
 */
import type { Clock } from '../../src/clock.js';
import { CancelledError } from '../../src/errors.js';

/** A partition's state, as in the task coordination object. */
export const PartitionState = { Ready: 'READY', InProgress: 'IN_PROGRESS', Complete: 'COMPLETE' } as const;
/** One of READY, IN_PROGRESS, COMPLETE. */
export type PartitionState = (typeof PartitionState)[keyof typeof PartitionState];

/** A range of rows worked as a unit. */
export interface Partition {
  readonly index: number;
  readonly start: number;
  readonly end: number;
  state: PartitionState;
  owner: number | undefined;
  /** How often it was taken from a controller that stopped heartbeating. */
  reclaims: number;
}

/** Works rows [start, end) of the task; must be idempotent. */
export type StepWork = (start: number, end: number, signal: AbortSignal) => Promise<void>;

/** A controller's life. */
export type ControllerState = 'running' | 'paused' | 'killed' | 'done';

/** Something a controller did, for the report's timeline. */
export interface ControllerEvent {
  readonly atMs: number;
  readonly controller: number;
  readonly what: 'claim' | 'complete' | 'reclaim' | 'fenced' | 'killed' | 'paused' | 'resumed' | 'error';
  readonly partition?: number;
  readonly detail?: string;
}

/** What the fault timeline and the runner need of a task's controllers, whichever kind runs them. */
export interface TaskControl {
  /** Fraction of the task complete, 0..1. */
  readonly progress: number;
  /** Partitions taken over from a dead or stalled controller. */
  readonly reclaimed: number;
  readonly events: readonly ControllerEvent[];
  onProgress(listener: () => void): () => void;
  kill(id: number): void;
  pause(id: number, ms: number): void;
}

/** Options of `PartitionedTask`. */
export interface PartitionedTaskOptions {
  readonly rows: number;
  readonly partitions: number;
  readonly controllers: number;
  readonly leaseMs: number;
  readonly clock: Clock;
  readonly work: StepWork;
  /** Rows per step: the granularity of pauses, kills and checkpoints. */
  readonly stepRows?: number;
}

/** See the module comment. */
export class PartitionedTask implements TaskControl {
  readonly partitions: Partition[];
  readonly events: ControllerEvent[] = [];
  readonly #o: PartitionedTaskOptions;
  readonly #states: ControllerState[];
  readonly #beats: number[];
  readonly #aborts: AbortController[];
  readonly #resumes: (Promise<void> | undefined)[];
  /** What each controller last saw of each peer's heartbeat, and when (on its own clock). */
  readonly #seen: { beat: number; at: number }[][];
  readonly #listeners = new Set<() => void>();
  readonly #killOnClaim = new Set<number>();
  #started = 0;
  #failure: Error | undefined;

  constructor(options: PartitionedTaskOptions) {
    this.#o = options;
    const per = Math.ceil(options.rows / options.partitions);
    this.partitions = [];
    for (let start = 0, i = 0; start < options.rows; start += per, i++) {
      this.partitions.push({ index: i, start, end: Math.min(options.rows, start + per), state: PartitionState.Ready, owner: undefined, reclaims: 0 });
    }
    const n = options.controllers;
    this.#states = Array.from({ length: n }, () => 'running');
    this.#beats = Array.from({ length: n }, () => 0);
    this.#aborts = Array.from({ length: n }, () => new AbortController());
    this.#resumes = Array.from({ length: n }, () => undefined);
    this.#seen = Array.from({ length: n }, () => Array.from({ length: n }, () => ({ beat: -1, at: 0 })));
  }

  /** Fraction of rows in COMPLETE partitions, 0..1. */
  get progress(): number {
    const done = this.partitions.filter((p) => p.state === PartitionState.Complete).reduce((n, p) => n + p.end - p.start, 0);
    return this.#o.rows === 0 ? 1 : done / this.#o.rows;
  }

  /** Partitions taken from a stalled or dead owner. */
  get reclaimed(): number {
    return this.partitions.reduce((n, p) => n + p.reclaims, 0);
  }

  /** Each controller's state. */
  get controllerStates(): readonly ControllerState[] {
    return this.#states;
  }

  /** Calls `listener` after every partition completes. */
  onProgress(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Runs every controller until every partition is COMPLETE; rejects with the first work error. */
  async run(signal: AbortSignal): Promise<void> {
    this.#started = this.#o.clock.now();
    const stopHeartbeats = this.#heartbeat(signal);
    try {
      await Promise.all(this.#states.map((_, id) => this.#controller(id, signal)));
    } finally {
      stopHeartbeats();
    }
    if (this.#failure !== undefined) throw this.#failure;
    if (signal.aborted) throw new CancelledError('the scenario run was aborted before the task finished');
    if (this.partitions.some((p) => p.state !== PartitionState.Complete)) {
      throw new CancelledError('every controller was killed before the task finished; partitions are left IN_PROGRESS');
    }
  }

  /**
   * SIGKILL: the controller stops mid-step and releases nothing; its heartbeat stops. When it holds no
   * partition at this instant (it is between two), the kill lands right after its next claim, so that a
   * scenario's kill always leaves a partition IN_PROGRESS for a peer to reclaim, whatever the timing.
   */
  kill(id: number): void {
    if (this.#states[id] === 'killed' || this.#states[id] === 'done') return;
    if (!this.partitions.some((p) => p.owner === id && p.state === PartitionState.InProgress)) {
      this.#killOnClaim.add(id);
      return;
    }
    this.#states[id] = 'killed';
    this.#aborts[id]?.abort(new CancelledError(`controller ${id} killed`));
    this.#event(id, 'killed');
  }

  /** SIGSTOP for `ms`, then SIGCONT: no heartbeat and no I/O meanwhile. */
  pause(id: number, ms: number): void {
    if (this.#states[id] !== 'running') return;
    this.#states[id] = 'paused';
    this.#event(id, 'paused', undefined, `${ms} ms`);
    this.#resumes[id] = this.#o.clock.sleep(ms).then(() => {
      if (this.#states[id] === 'paused') this.#states[id] = 'running';
      this.#resumes[id] = undefined;
      this.#event(id, 'resumed');
    });
  }

  #event(controller: number, what: ControllerEvent['what'], partition?: number, detail?: string): void {
    this.events.push({ atMs: Math.round(this.#o.clock.now() - this.#started), controller, what, ...(partition === undefined ? {} : { partition }), ...(detail === undefined ? {} : { detail }) });
  }

  #heartbeat(signal: AbortSignal): () => void {
    const timer = setInterval(
      () => {
        if (signal.aborted) return;
        this.#states.forEach((s, id) => {
          if (s === 'running' || s === 'done') this.#beats[id] = (this.#beats[id] ?? 0) + 1;
        });
      },
      Math.max(5, this.#o.leaseMs / 4),
    );
    return () => clearInterval(timer);
  }

  /** True when `owner`'s heartbeat has not changed for two leases, as controller `me` sees it. */
  #stale(me: number, owner: number): boolean {
    const seen = this.#seen[me]?.[owner];
    const beat = this.#beats[owner] ?? 0;
    const now = this.#o.clock.now();
    if (seen === undefined) return false;
    if (seen.beat !== beat) {
      seen.beat = beat;
      seen.at = now;
      return false;
    }
    return now - seen.at > 2 * this.#o.leaseMs;
  }

  #claim(id: number): Partition | undefined {
    const n = this.partitions.length;
    const first = Math.floor((id * n) / this.#states.length);
    for (let k = 0; k < n; k++) {
      const p = this.partitions[(first + k) % n];
      if (p?.state === PartitionState.Ready) return p;
    }
    for (let k = 0; k < n; k++) {
      const p = this.partitions[(first + k) % n];
      if (p?.state === PartitionState.InProgress && p.owner !== undefined && p.owner !== id && this.#stale(id, p.owner)) {
        p.reclaims++;
        this.#event(id, 'reclaim', p.index, `from controller ${p.owner}`);
        return p;
      }
    }
    return undefined;
  }

  async #gate(id: number): Promise<void> {
    while (this.#states[id] === 'paused') await (this.#resumes[id] ?? this.#o.clock.sleep(5));
  }

  async #controller(id: number, runSignal: AbortSignal): Promise<void> {
    const abort = this.#aborts[id] as AbortController;
    const signal = AbortSignal.any([abort.signal, runSignal]);
    const step = Math.max(1, this.#o.stepRows ?? 4);
    while (!signal.aborted && this.#failure === undefined) {
      await this.#gate(id);
      if (this.partitions.every((p) => p.state === PartitionState.Complete)) break;
      const p = this.#claim(id);
      if (p === undefined) {
        await this.#o.clock.sleep(Math.max(5, this.#o.leaseMs / 4));
        continue;
      }
      p.state = PartitionState.InProgress;
      p.owner = id;
      this.#event(id, 'claim', p.index);
      if (this.#killOnClaim.delete(id)) this.kill(id);
      try {
        let fenced = false;
        for (let row = p.start; row < p.end; row += step) {
          await this.#gate(id);
          if (p.owner !== id) {
            fenced = true;
            break;
          }
          if (signal.aborted) return;
          await this.#o.work(row, Math.min(p.end, row + step), signal);
        }
        // Stopped or killed while its last step's I/O was in flight: a stopped process marks nothing until
        // it runs again (and then only if it still owns the partition), a dead one never.
        await this.#gate(id);
        if (signal.aborted) return;
        if (fenced || p.owner !== id) {
          this.#event(id, 'fenced', p.index, `partition taken by controller ${p.owner}`);
          continue;
        }
        p.state = PartitionState.Complete;
        this.#event(id, 'complete', p.index);
        for (const listener of [...this.#listeners]) listener();
      } catch (err) {
        if (signal.aborted) return;
        this.#failure ??= err as Error;
        this.#event(id, 'error', p.index, (err as Error).message);
        return;
      }
    }
    if (this.#states[id] === 'running') this.#states[id] = 'done';
  }
}
