/**
 * The controller loop (seed claims 002/23-31): join the region, then repeatedly find a chunk of a live task
 * that still has READY or IN PROGRESS partitions and that no live host claims, claim it, run its partitions
 * (checkpointing inside them), mark them COMPLETE, release it; and perform the completion actions of tasks
 * whose initiator is gone. Chunks of dead hosts are reclaimed simply because their claims stop counting
 * once those hosts are judged dead. Self-fencing comes from `HostSession`: any I/O after the lease ran out
 * is refused, and `run` rejects with `LeaseLostError`.
 */
import type { BlockDevice } from '../../drivers/types.js';
import type { Clock } from '../clock.js';
import { LeaseLostError, isBlockrigError, ErrorCode } from '../errors.js';
import { PartitionState, type ChunkRecord } from '../metadata/chunk-record.js';
import { HostRole } from '../metadata/host-record.js';
import { chunkForTask, type MetadataRegion } from '../metadata/region.js';
import { TaskState, hexId, type TaskRecord } from '../metadata/task-record.js';
import { finalizeTask, mayComplete } from '../tasks/lifecycle.js';
import type { TaskKindRegistry } from '../tasks/registry.js';
import { DeviceHealthTracker } from './device-health.js';
import type { ControllerEvent } from './events.js';
import { HostSession, type HostView } from './host-session.js';
import { isTransient } from './timed.js';

/** Options of `Controller.start`. */
export interface ControllerOptions {
  region: MetadataRegion;
  clock: Clock;
  kinds: TaskKindRegistry;
  /** Opens a task's target device by URI (the metadata device itself is reused). */
  openTarget: (uri: string) => Promise<BlockDevice>;
  /** Host slot to take (`--id`). */
  slot?: number;
  random?: () => number;
  hostname?: string;
  pid?: number;
  /** Time stamps of events; default `clock.now()`. Processes pass a host-wide monotonic clock. */
  auditTime?: () => number;
  onEvent?: (event: ControllerEvent) => void;
  /** Least time between writes of a chunk record while its partitions run; default the heartbeat interval. */
  checkpointIntervalMs?: number;
  /** Consecutive I/O errors on a target after which this host reports it unavailable (default 3). */
  ioErrorThreshold?: number;
  log?: (message: string) => void;
}

interface Work {
  slot: number;
  task: TaskRecord;
  chunk: number;
}

/** A controller process's work loop. */
export class Controller {
  readonly session: HostSession;
  readonly #o: ControllerOptions;
  readonly #targets = new Map<string, Promise<BlockDevice>>();
  readonly #completeChunks = new Map<number, Set<number>>();
  /** Target I/O outcomes, published in the host record for the cluster's agents. */
  readonly #health: DeviceHealthTracker;

  private constructor(session: HostSession, o: ControllerOptions) {
    this.session = session;
    this.#o = o;
    this.#health = new DeviceHealthTracker((list) => session.publishDeviceHealth(list), o.ioErrorThreshold);
  }

  /** Joins the region (takes a host slot) and returns the controller, not yet running. */
  static async start(o: ControllerOptions): Promise<Controller> {
    const session = await HostSession.join({ region: o.region, clock: o.clock, slot: o.slot, role: HostRole.Controller, random: o.random, hostname: o.hostname, pid: o.pid });
    return new Controller(session, o);
  }

  #emit(e: ControllerEvent): void {
    this.#o.onEvent?.(e);
  }

  #at(): number {
    return (this.#o.auditTime ?? (() => this.#o.clock.now()))();
  }

  /**
   * Works until `signal` aborts (then it finishes the partition it is on, records it, releases its claim
   * and leaves the region) or the lease is lost (then it rejects with `LeaseLostError` without writing).
   */
  async run(signal?: AbortSignal): Promise<void> {
    const { session } = this;
    try {
      await this.#loop(signal);
    } catch (err) {
      if (session.fencedReason) {
        this.#emit({ type: 'fenced', reason: session.fencedReason.message, at: this.#at() });
        throw session.fencedReason;
      }
      // An unexpected error: stop heartbeating without writing, so peers reclaim after hostDeadMs.
      await session.abandon(err instanceof Error ? err.message : String(err));
      throw err;
    }
    await session.leave();
  }

  async #loop(signal: AbortSignal | undefined): Promise<void> {
    const { session } = this;
    const clock = this.#o.clock;
    const pauseAfterFailure = (err: unknown): Promise<void> => {
      if (!isTransient(err) || session.fencedReason) throw err;
      this.#o.log?.(`retrying after: ${err instanceof Error ? err.message : String(err)}`);
      return clock.sleep(session.timing.heartbeatIntervalMs, anySignal(signal, session.signal)).catch(() => undefined);
    };
    while (signal?.aborted !== true) {
      let work: Awaited<ReturnType<Controller['findWork']>>;
      let won = false;
      try {
        const views = await session.observeHosts();
        work = await this.findWork(views);
        if (work === 'finalize-done') continue;
        if (work !== undefined) won = await session.claim({ taskSlot: work.slot, taskId: work.task.taskId, index: work.chunk });
      } catch (err) {
        await pauseAfterFailure(err);
        continue;
      }
      if (work !== undefined && won) {
        this.#emit({ type: 'claimed', taskId: hexId(work.task.taskId), taskSlot: work.slot, chunk: work.chunk, at: this.#at() });
        try {
          await this.#runChunk(work, signal);
        } catch (err) {
          if (!isTransient(err) || session.fencedReason) throw err;
          this.#o.log?.(`chunk ${work.chunk} of task ${hexId(work.task.taskId)} stopped: ${err instanceof Error ? err.message : String(err)}`);
        }
        await session.release();
        this.#emit({ type: 'released', taskId: hexId(work.task.taskId), taskSlot: work.slot, chunk: work.chunk, at: this.#at() });
        continue;
      }
      const pause = session.timing.heartbeatIntervalMs * (work === undefined ? 1 : 0.2 + session.random());
      await clock.sleep(pause, anySignal(signal, session.signal)).catch(() => undefined);
    }
  }

  /** Picks a chunk to claim, or performs a due completion; staggered by slot so controllers start apart. */
  private async findWork(views: HostView[]): Promise<Work | 'finalize-done' | undefined> {
    const { session } = this;
    const region = this.#o.region;
    const tasks = await region.readTasks();
    for (const [slot, s] of tasks.entries()) {
      const task = s.value;
      // A paused task gets no new claims (docs/coordination.md, "Pause"); its initiator can still finish it.
      if (task === undefined || task.state !== TaskState.Active || task.paused === true || !this.#o.kinds.has(task.spec.kind)) continue;
      // Chunks seen complete stay complete (only their owner writes them, and it never undoes COMPLETE),
      // so they are not read again. The rest are scanned from a start staggered by our slot, a few at a
      // time, stopping at the first open chunk no live host claims: the cost of finding work stays flat as
      // tasks grow.
      const known = this.#knownComplete(task);
      const start = Math.floor((session.slot * task.chunks) / region.hostSlots);
      const order = Array.from({ length: task.chunks }, (_, k) => (start + k) % task.chunks).filter((c) => !known.has(c));
      for (let k = 0; k < order.length; ) {
        const first = order[k] as number;
        let n = 1;
        while (n < 16 && k + n < order.length && order[k + n] === first + n) n++;
        const batch = await region.readChunks(slot, first, n);
        for (let j = 0; j < n; j++) {
          const c = first + j;
          const rec = chunkForTask(batch[j], task, c);
          if (rec.states.every((st) => st === PartitionState.Complete || st === PartitionState.Failed)) known.add(c);
          else if (session.holdersOf(views, { taskSlot: slot, taskId: task.taskId, index: c }).length === 0) return { slot, task, chunk: c };
        }
        k += n;
      }
      if (known.size === task.chunks && mayComplete(session, views, task)) {
        const r = await finalizeTask(session, this.#o.kinds, slot, task.taskId);
        if (r.performed) {
          this.#emit({ type: 'finalized', taskId: hexId(task.taskId), status: r.outcome.status, at: this.#at() });
          return 'finalize-done';
        }
        // A chunk we cached as complete no longer reads so (its record was damaged on both copies and
        // reads as READY): forget the cache so the next scan finds and redoes it.
        if (r.why === 'not-ready') this.#completeChunks.delete(task.taskId);
      }
    }
    return undefined;
  }

  #knownComplete(task: TaskRecord): Set<number> {
    let set = this.#completeChunks.get(task.taskId);
    if (!set) {
      set = new Set();
      this.#completeChunks.set(task.taskId, set);
    }
    return set;
  }

  #target(uri: string): Promise<BlockDevice> {
    if (uri === this.#o.region.device.uri) return Promise.resolve(this.#o.region.device);
    let p = this.#targets.get(uri);
    if (!p) {
      p = this.#health.watch(uri, this.#o.openTarget(uri));
      // A failed open is not kept: the next chunk opens again (the device may be back).
      void p.catch(() => this.#targets.delete(uri));
      this.#targets.set(uri, p);
    }
    return p;
  }

  /** Runs the chunk's unfinished partitions while holding its claim. */
  async #runChunk(work: Work, stop: AbortSignal | undefined): Promise<void> {
    const { session } = this;
    const region = this.#o.region;
    const clock = this.#o.clock;
    const kind = this.#o.kinds.get(work.task.spec.kind);
    const spec = work.task.spec;
    const [stored] = await region.readChunks(work.slot, work.chunk, 1);
    let sequence = stored?.pingPong.sequence ?? 0;
    const rec: ChunkRecord = structuredClone(chunkForTask(stored, work.task, work.chunk));
    const interval = this.#o.checkpointIntervalMs ?? session.timing.heartbeatIntervalMs;
    let lastWrite = -Infinity;
    let lastTaskCheck = clock.now();
    const writeRecord = async (): Promise<void> => {
      sequence++;
      await session.guard('writing a chunk record', () => region.writeChunk(work.slot, rec, sequence, session));
      lastWrite = clock.now();
    };
    const device = await this.#target(spec.target);
    const taskId = hexId(work.task.taskId);
    for (let i = 0; i < rec.partitionCount; i++) {
      const st = rec.states[i];
      if (st === PartitionState.Complete || st === PartitionState.Failed) continue;
      if (stop?.aborted === true) break;
      if (clock.now() - lastTaskCheck >= interval) {
        lastTaskCheck = clock.now();
        const t = (await region.readTask(work.slot)).value;
        // Cancelled, replaced or paused: stop after the partition just done (recorded below, claim released).
        if (t === undefined || t.taskId !== work.task.taskId || t.state !== TaskState.Active || t.paused === true) break;
      }
      const partition = rec.firstPartition + i;
      const offset = spec.offset + partition * spec.partitionSize;
      const length = Math.min(spec.partitionSize, spec.length - partition * spec.partitionSize);
      const resumeFrom = rec.checkpoint?.partition === partition ? Math.min(rec.checkpoint.bytesDone, length) : 0;
      const resumeResult = resumeFrom > 0 ? (rec.results[i] ?? 0) : 0;
      rec.states[i] = PartitionState.InProgress;
      rec.checkpoint = { partition, bytesDone: resumeFrom };
      if (clock.now() - lastWrite >= interval) await writeRecord();
      this.#emit({ type: 'partition-start', taskId, partition, at: this.#at(), resumeFrom });
      let outcome: 'complete' | 'failed' | 'interrupted' = 'interrupted';
      try {
        const result = await kind.runPartition({
          taskId: work.task.taskId,
          partition,
          offset,
          length,
          resumeFrom,
          resumeResult,
          params: spec.params,
          signal: session.signal,
          read: (o, n) => this.#health.watch(spec.target, session.guard('reading the task target', () => device.read(o, n))),
          write: (o, d) => this.#health.watch(spec.target, session.guard('writing the task target', () => device.write(o, d))),
          checkpoint: async (bytesDone, partial) => {
            rec.checkpoint = { partition, bytesDone };
            rec.results[i] = partial >>> 0;
            if (clock.now() - lastWrite >= interval) await writeRecord();
          },
        });
        rec.states[i] = PartitionState.Complete;
        rec.results[i] = result >>> 0;
        outcome = 'complete';
      } catch (err) {
        if (session.fencedReason || err instanceof LeaseLostError) throw err;
        if (!isBlockrigError(err) || err.code === ErrorCode.Internal) throw err;
        // A device error on the target fails this partition; the task goes on and reports it.
        this.#o.log?.(`partition ${partition} of task ${taskId} failed: ${err.message}`);
        rec.states[i] = PartitionState.Failed;
        rec.results[i] = 0;
        outcome = 'failed';
      } finally {
        this.#emit({ type: 'partition-end', taskId, partition, at: this.#at(), outcome });
      }
      rec.checkpoint = undefined;
      if (clock.now() - lastWrite >= interval) await writeRecord();
    }
    rec.checkpoint = rec.states.some((s) => s === PartitionState.InProgress) ? rec.checkpoint : undefined;
    await writeRecord();
    if (rec.states.every((s) => s === PartitionState.Complete || s === PartitionState.Failed)) this.#knownComplete(work.task).add(work.chunk);
  }
}

function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  return AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined));
}
