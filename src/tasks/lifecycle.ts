/**
 * The library API of tasks: `submitTask`, `waitForTask`, `cancelTask`, and `finalizeTask` (the
 * completion actions). Every write of a task record happens under the claim on that task slot's record
 * (claim index -1), so a task record has one writer at a time; see docs/coordination.md, "Tasks".
 */
import type { HostSession, HostView } from '../controller/host-session.js';
import { isTransient } from '../controller/timed.js';
import { ConflictError, InvalidArgumentError, MetaFullError, TaskFailedError, CancelledError } from '../errors.js';
import { PartitionState } from '../metadata/chunk-record.js';
import { TASK_RECORD_CLAIM } from '../metadata/host-record.js';
import { MAX_PARTITIONS_PER_CHUNK } from '../metadata/layout.js';
import type { Slot } from '../metadata/region.js';
import { TaskState, hexId, isTerminal, type TaskOutcome, type TaskRecord } from '../metadata/task-record.js';
import { PATTERN_BLOCK } from './pattern.js';
import { allDone, countStates, findTask, flatten, readTaskChunks, taskStatus, type TaskStatus } from './progress.js';
import type { TaskKindRegistry } from './registry.js';

/** What to run: the operation (kind, params) and the data set (target, range), and how to split it. */
export interface SubmitRequest {
  kind: string;
  /** Device URI of the data set; default: the metadata device, after the region. */
  target?: string;
  /** First byte of the data set; default 0 (or the region's data offset on the metadata device). */
  offset?: number;
  /** Bytes of the data set; required when `target` is given unless `targetSize` is. */
  length?: number;
  /** Size of the target, used when `length` is omitted. */
  targetSize?: number;
  /** Number of partitions (`--partitions`); or give `partitionSize`. */
  partitions?: number;
  partitionSize?: number;
  /** Partitions per chunk (claim unit); default chosen from the task and region sizes. */
  chunkPartitions?: number;
  params?: Record<string, unknown>;
  /** Record the submitting session as the initiator that performs the completion actions. */
  initiator?: boolean;
}

/** A submitted task. */
export interface Submitted {
  taskId: number;
  id: string;
  slot: number;
  task: TaskRecord;
}

function bad(field: string, message: string, value: unknown): never {
  throw new InvalidArgumentError(`${field}: ${message} (got ${JSON.stringify(value)})`, { details: { field, value } });
}

/** Builds the task record of a request; throws `InvalidArgumentError` naming the field. */
export function planTask(session: HostSession, kinds: TaskKindRegistry, req: SubmitRequest, taskId: number, wallTime: number): TaskRecord {
  const kind = kinds.get(req.kind);
  const region = session.region;
  const onMeta = req.target === undefined || req.target === region.device.uri;
  const target = req.target ?? region.device.uri;
  const offset = req.offset ?? (onMeta ? region.superblock.dataOffset : 0);
  if (onMeta && offset < region.superblock.regionBytes) bad('offset', `the data set would overlap the metadata region, which ends at byte ${region.superblock.regionBytes}`, offset);
  const size = onMeta ? region.device.size : req.targetSize;
  const length = req.length ?? (size !== undefined ? size - offset : bad('length', 'give --length (the size of the target is not known)', req.length));
  if (!Number.isSafeInteger(offset) || offset < 0 || offset % PATTERN_BLOCK !== 0) bad('offset', 'must be a non-negative multiple of 4096', offset);
  if (!Number.isSafeInteger(length) || length <= 0 || length % PATTERN_BLOCK !== 0) bad('length', 'must be a positive multiple of 4096', length);
  if (size !== undefined && offset + length > size) bad('length', `offset + length runs past the end of ${target} (${size} bytes)`, length);
  let partitionSize: number;
  if (req.partitionSize !== undefined) partitionSize = req.partitionSize;
  else if (req.partitions !== undefined) {
    if (!Number.isSafeInteger(req.partitions) || req.partitions < 1) bad('partitions', 'must be a positive integer', req.partitions);
    partitionSize = Math.ceil(length / req.partitions / PATTERN_BLOCK) * PATTERN_BLOCK;
  } else partitionSize = Math.max(1024 * 1024, Math.ceil(length / 1024 / PATTERN_BLOCK) * PATTERN_BLOCK);
  if (!Number.isSafeInteger(partitionSize) || partitionSize <= 0 || partitionSize % PATTERN_BLOCK !== 0) bad('partitionSize', 'must be a positive multiple of 4096', partitionSize);
  const partitions = Math.ceil(length / partitionSize);
  if (req.partitions !== undefined && partitions !== req.partitions) {
    bad('partitions', `${length} bytes cannot be split into ${req.partitions} partitions of whole 4096-byte blocks (that gives ${partitions}); pick a count dividing ${length / PATTERN_BLOCK}`, req.partitions);
  }
  const { maxChunksPerTask, hostSlots } = region.superblock.geometry;
  if (partitions > maxChunksPerTask * MAX_PARTITIONS_PER_CHUNK) {
    bad('partitions', `at most ${maxChunksPerTask * MAX_PARTITIONS_PER_CHUNK} partitions fit in a task of this region (${maxChunksPerTask} chunks of ${MAX_PARTITIONS_PER_CHUNK}); use larger partitions`, partitions);
  }
  const chunkPartitions = req.chunkPartitions ?? Math.max(Math.ceil(partitions / maxChunksPerTask), Math.min(64, Math.ceil(partitions / (4 * hostSlots))));
  if (!Number.isInteger(chunkPartitions) || chunkPartitions < 1 || chunkPartitions > MAX_PARTITIONS_PER_CHUNK || Math.ceil(partitions / chunkPartitions) > maxChunksPerTask) {
    bad('chunkPartitions', `must be 1-${MAX_PARTITIONS_PER_CHUNK} and give at most ${maxChunksPerTask} chunks`, chunkPartitions);
  }
  return {
    taskId,
    state: TaskState.Active,
    partitions,
    chunkPartitions,
    chunks: Math.ceil(partitions / chunkPartitions),
    spec: {
      kind: kind.name,
      target,
      offset,
      length,
      partitionSize,
      params: kind.parseParams(req.params ?? {}, taskId),
      initiator: req.initiator === true ? { slot: session.slot, incarnation: session.incarnation } : null,
      submittedAt: wallTime,
    },
    outcome: undefined,
  };
}

/** Runs `section` while holding the claim on task slot `slot`'s record; undefined when another host holds it. */
async function underTaskClaim<T>(session: HostSession, slot: number, taskId: number, section: () => Promise<T>): Promise<T | undefined> {
  if (!(await session.claim({ taskSlot: slot, taskId, index: TASK_RECORD_CLAIM }))) return undefined;
  try {
    return await section();
  } finally {
    if (!session.signal.aborted) await session.release();
  }
}

/**
 * Creates a task coordination object in a free task slot (empty, or holding a finished task, oldest
 * first). Throws `MetaFullError` when every slot holds an active task.
 */
export async function submitTask(session: HostSession, kinds: TaskKindRegistry, req: SubmitRequest): Promise<Submitted> {
  for (let attempt = 0; attempt < 20; attempt++) {
    try {
      const done = await trySubmit(session, kinds, req);
      if (done !== undefined) return done;
    } catch (err) {
      if (!isTransient(err) || attempt === 19) throw err;
    }
    await session.clock.sleep(session.timing.heartbeatIntervalMs * (0.5 + session.random()));
  }
  throw new ConflictError('could not get a task slot after 20 attempts: other hosts keep claiming them, or the device keeps failing; try again');
}

async function trySubmit(session: HostSession, kinds: TaskKindRegistry, req: SubmitRequest): Promise<Submitted | undefined> {
  const region = session.region;
  {
    const slots = await region.readTasks();
    const used = new Set(slots.map((s) => s.value?.taskId));
    let taskId = 0;
    while (taskId === 0 || used.has(taskId)) taskId = Math.floor(session.random() * 0xffffffff) >>> 0;
    const record = planTask(session, kinds, req, taskId, session.clock.wallTime());
    const free = freeSlots(slots);
    if (free.length === 0) throw new MetaFullError(`all ${slots.length} task slots hold active tasks: wait for one to finish or cancel one (blockrig task cancel ID)`);
    for (const slot of free) {
      const done = await underTaskClaim(session, slot, taskId, async () => {
        const now = await region.readTask(slot);
        if (now.value !== undefined && !isTerminal(now.value.state) && now.value.state !== TaskState.Empty) return false;
        if (now.value === undefined && !now.pingPong.empty) return false; // damaged: never overwrite what we cannot read
        await session.guard('writing the task record', () => region.writeTask(slot, record, now.pingPong.sequence + 1, session));
        return true;
      });
      if (done === true) return { taskId, id: hexId(taskId), slot, task: record };
    }
  }
  return undefined;
}

function freeSlots(slots: readonly Slot<TaskRecord>[]): number[] {
  const empty = slots.flatMap((s, i) => (s.pingPong.empty || s.value?.state === TaskState.Empty ? [i] : []));
  const finished = slots
    .flatMap((s, i) => (s.value !== undefined && isTerminal(s.value.state) ? [{ i, at: s.value.outcome?.at ?? s.value.spec.submittedAt }] : []))
    .sort((a, b) => a.at - b.at)
    .map((f) => f.i);
  return [...empty, ...finished];
}

/** Whether `session` may perform a task's completion actions: it is the initiator, or the initiator is gone. */
export function mayComplete(session: HostSession, views: readonly HostView[], task: TaskRecord): boolean {
  const init = task.spec.initiator;
  if (init === null) return true;
  if (init.slot === session.slot && init.incarnation === session.incarnation) return true;
  const v = views[init.slot];
  if (v === undefined || v.dead) return true;
  if (v.unreadable) return false;
  return v.record === undefined || v.record.incarnation !== init.incarnation || v.record.state === 0 || v.record.state === 3;
}

/** What `finalizeTask` did. */
export type FinalizeResult = { performed: true; outcome: TaskOutcome } | { performed: false; why: 'busy' | 'not-ready' | 'already' };

/**
 * Performs a task's completion actions and records them, exactly once across all hosts: under the claim
 * on the task record, it re-reads the record and every chunk, and acts only if the task is still active and
 * every partition is COMPLETE or FAILED.
 */
export async function finalizeTask(session: HostSession, kinds: TaskKindRegistry, slot: number, taskId: number): Promise<FinalizeResult> {
  const region = session.region;
  const r = await underTaskClaim(session, slot, taskId, async (): Promise<FinalizeResult> => {
    const now = await region.readTask(slot);
    const task = now.value;
    if (task === undefined || task.taskId !== taskId || task.state !== TaskState.Active) return { performed: false, why: 'already' };
    const { chunks } = await readTaskChunks(region, slot, task);
    const flat = flatten(task, chunks);
    if (!allDone(countStates(flat.states))) return { performed: false, why: 'not-ready' };
    const failed = flat.states.filter((s) => s === PartitionState.Failed).length;
    const done = await kinds.get(task.spec.kind).complete({ task, results: flat.results, states: flat.states });
    const init = task.spec.initiator;
    const outcome: TaskOutcome = {
      status: failed > 0 ? 'failed' : 'finished',
      by: session.slot,
      byIncarnation: session.incarnation,
      byInitiator: init !== null && init.slot === session.slot && init.incarnation === session.incarnation,
      at: session.clock.wallTime(),
      result: done.result,
      actions: done.actions,
      failedPartitions: failed,
    };
    const next: TaskRecord = { ...task, state: failed > 0 ? TaskState.Failed : TaskState.Finished, outcome };
    await session.guard('writing the task record', () => region.writeTask(slot, next, now.pingPong.sequence + 1, session));
    return { performed: true, outcome };
  });
  return r ?? { performed: false, why: 'busy' };
}

/**
 * Rewrites an active task's record under the claim on it: `change` gets the record as re-read under the
 * claim and returns the new one plus what to answer. Retries while other hosts hold the claim or the
 * device fails; `ConflictError` when the task is not active.
 */
async function updateActiveTask<T>(session: HostSession, taskId: number, what: string, change: (task: TaskRecord) => { next: TaskRecord; answer: T }): Promise<T> {
  const region = session.region;
  for (let attempt = 0; attempt < 20; attempt++) {
    let found: Awaited<ReturnType<typeof findTask>>;
    try {
      found = await findTask(region, taskId);
    } catch (err) {
      if (!isTransient(err)) throw err;
      await session.clock.sleep(session.timing.heartbeatIntervalMs);
      continue;
    }
    if (found.task.state !== TaskState.Active) throw new ConflictError(`task ${hexId(taskId)} is already ${['empty', 'active', 'finished', 'failed', 'cancelled'][found.task.state]}; only active tasks can be ${what}`);
    const r = await underTaskClaim(session, found.slot, taskId, async () => {
      const now = await region.readTask(found.slot);
      const task = now.value;
      if (task === undefined || task.taskId !== taskId || task.state !== TaskState.Active) return undefined;
      const { next, answer } = change(task);
      await session.guard('writing the task record', () => region.writeTask(found.slot, next, now.pingPong.sequence + 1, session));
      return { answer };
    }).catch((err: unknown) => {
      if (isTransient(err)) return undefined;
      throw err;
    });
    if (r !== undefined) return r.answer;
    await session.clock.sleep(session.timing.heartbeatIntervalMs * (0.5 + session.random()));
  }
  throw new ConflictError(`could not get task ${hexId(taskId)} ${what}: its record stayed claimed by other hosts; try again`);
}

/** Cancels an active task; controllers stop its partitions at their next check. */
export async function cancelTask(session: HostSession, taskId: number): Promise<TaskOutcome> {
  return updateActiveTask(session, taskId, 'cancelled', (task) => {
    const outcome: TaskOutcome = { status: 'cancelled', by: session.slot, byIncarnation: session.incarnation, byInitiator: false, at: session.clock.wallTime(), result: {}, actions: ['cancelled on request'], failedPartitions: 0 };
    return { next: { ...task, state: TaskState.Cancelled, outcome }, answer: outcome };
  });
}

/**
 * Pauses (or resumes) an active task in the region: a flag in its record that controllers honour. They
 * claim none of its chunks while it is set and stop a chunk they run after the partition they are on
 * (recording it and releasing the claim); their heartbeats go on, so nothing is reclaimed. Resolves with
 * the record as written.
 */
export async function pauseTask(session: HostSession, taskId: number, paused: boolean): Promise<TaskRecord> {
  return updateActiveTask(session, taskId, paused ? 'paused' : 'resumed', (task) => {
    const { paused: _old, ...rest } = task;
    const next: TaskRecord = paused ? { ...rest, paused: true } : rest;
    return { next, answer: next };
  });
}

/** Options of `waitForTask`. */
export interface WaitOptions {
  /** Called after each poll with the current status. */
  onProgress?: (status: TaskStatus) => void;
  /** Poll interval; default the heartbeat interval. */
  pollMs?: number;
  signal?: AbortSignal;
}

/** The final status from `waitForTask`, with whether this caller performed the completion actions. */
export interface Completion extends TaskStatus {
  /** True when this session performed and recorded the completion actions. */
  completedHere: boolean;
}

/**
 * Waits until a task ends, performing its completion actions when this session may (it is the initiator,
 * or the initiator is gone). Resolves with the final status; throws `TaskFailedError` when the task
 * failed and `CancelledError` when it was cancelled, each with the status in `details`.
 */
export async function waitForTask(session: HostSession, kinds: TaskKindRegistry, taskId: number, options: WaitOptions = {}): Promise<Completion> {
  const region = session.region;
  let completedHere = false;
  for (;;) {
    session.assertValid();
    let found: Awaited<ReturnType<typeof findTask>>;
    let status: Awaited<ReturnType<typeof taskStatus>>;
    try {
      found = await findTask(region, taskId);
      status = await taskStatus(region, found);
    } catch (err) {
      if (!isTransient(err)) throw err;
      await session.clock.sleep(options.pollMs ?? session.timing.heartbeatIntervalMs, options.signal);
      continue;
    }
    options.onProgress?.(status);
    if (isTerminal(found.task.state)) {
      const { partitionStates: _omit, ...rest } = status;
      const completion: Completion = { ...rest, completedHere };
      if (found.task.state === TaskState.Cancelled) throw new CancelledError(`task ${status.id} was cancelled`, { details: { status: completion } });
      if (found.task.state === TaskState.Failed) {
        throw new TaskFailedError(`task ${status.id} failed: ${found.task.outcome?.failedPartitions ?? 0} partitions failed`, { details: { status: completion } });
      }
      return completion;
    }
    if (allDone(status.counts)) {
      try {
        const views = await session.observeHosts();
        if (mayComplete(session, views, found.task)) {
          const r = await finalizeTask(session, kinds, found.slot, taskId);
          if (r.performed) completedHere = true;
          if (r.performed || r.why === 'already') continue;
        }
      } catch (err) {
        if (!isTransient(err)) throw err;
      }
    }
    await session.clock.sleep(options.pollMs ?? session.timing.heartbeatIntervalMs, options.signal);
  }
}
