/**
 * Executing tasks at the cluster (claims 000/20-21, 001/6-7, 12). On a task request from its server the
 * agent stores the task with its own identification (agent id, server, host, pid) in the cluster's
 * persistent data, then invokes a driver process, receives its completion status and stores that; the
 * stored change is what its server (and, through the broadcast, the other server) learns.
 *
 * Failover: a task whose executor has died (its pid is gone on this host, or its store heartbeat is older
 * than `takeoverMs`) is claimed by another agent of the cluster with a guarded store update, so exactly
 * one agent continues it. The new executor adopts the driver process if it still runs, or reads its
 * completion status, and starts a driver only when none ever started or the last one was killed.
 */
import type { Clock } from '../clock.js';
import { ConflictError, NotFoundError, isBlockrigError } from '../errors.js';
import type { ClusterStore } from '../cluster/store.js';
import { FINAL_TASK_STATES, type Executor, type StoredChange, type TaskControl, type TaskIssue, type TaskRecord } from '../wire/index.js';
import { processAlive, type DriverOutcome, type TaskRunner } from './task-runner.js';

/** How often the executing agent looks for a newer progress line of a running driver. */
export const PROGRESS_POLL_MS = 1000;

/** How many driver processes a task may use before it is failed (only killed drivers are retried). */
export const MAX_DRIVER_ATTEMPTS = 3;

/** What the executor needs from its agent. */
export interface TaskExecutorDeps {
  store: ClusterStore;
  runner: TaskRunner;
  me: Executor;
  clock: Clock;
  takeoverMs: number;
  /** Called with every change this executor stored (the agent broadcasts and transmits them). */
  stored: (changes: StoredChange[]) => void;
  log: (line: string) => void;
}

/** Accepts, runs, controls and takes over tasks for one agent. */
export class TaskExecutor {
  readonly #d: TaskExecutorDeps;
  /** Tasks this process is watching a driver for. */
  readonly #watching = new Set<string>();

  constructor(deps: TaskExecutorDeps) {
    this.#d = deps;
  }

  #now(): string {
    return new Date(this.#d.clock.wallTime()).toISOString();
  }

  #isMine(task: TaskRecord): boolean {
    return task.executor?.agentId === this.#d.me.agentId && task.executor.pid === this.#d.me.pid;
  }

  /** Stores a newly issued task with this agent as executor and starts its driver process. */
  accept(taskId: string, issue: TaskIssue): { task: TaskRecord; created: boolean } {
    const { task, created, change } = this.#d.store.acceptTask(taskId, issue, this.#d.me.serverId, this.#d.me, this.#now());
    if (change) this.#d.stored([change]);
    if (created) {
      this.#d.log(`task ${task.id} (${task.kind}) accepted; stored with executor ${this.#d.me.agentId} pid ${this.#d.me.pid}`);
      this.#launch(task);
    }
    return { task: this.#d.store.task(task.id) ?? task, created };
  }

  /** Stores an operator request; the executing agent applies it (at once when that is this agent). */
  control(taskId: string, control: TaskControl): TaskRecord {
    const task = this.#d.store.task(taskId);
    if (!task) throw new NotFoundError(`cluster ${this.#d.store.clusterId} has no task ${taskId}`, { details: { field: 'id' } });
    if (FINAL_TASK_STATES.includes(task.state)) throw new ConflictError(`task ${taskId} is already ${task.state}`, { details: { state: task.state } });
    const { task: next, change } = this.#d.store.updateTask(taskId, { control }, this.#now());
    this.#d.stored([change]);
    this.reconcile();
    return this.#d.store.task(taskId) ?? next;
  }

  /** Applies pending requests to this agent's tasks and takes over tasks of dead executors. */
  reconcile(): void {
    const agents = new Map(this.#d.store.agents().map((a) => [a.agentId, a]));
    for (const task of this.#d.store.tasks()) {
      if (FINAL_TASK_STATES.includes(task.state)) continue;
      if (this.#isMine(task)) {
        if (task.control !== null) this.#applyControl(task);
        else if (!this.#watching.has(task.id)) this.#resume(task);
        continue;
      }
      const ex = task.executor;
      const beat = ex ? agents.get(ex.agentId) : undefined;
      const dead =
        ex === null ||
        (ex.host === this.#d.me.host && !processAlive(ex.pid)) ||
        (beat !== undefined && beat.pid === ex.pid && this.#d.clock.wallTime() - beat.beatAt > this.#d.takeoverMs);
      if (!dead) continue;
      try {
        const { task: claimed, change } = this.#d.store.updateTask(task.id, { executor: this.#d.me }, this.#now(), ex ?? undefined);
        this.#d.stored([change]);
        this.#d.log(`task ${task.id}: executor ${ex?.agentId ?? '-'} (pid ${ex?.pid ?? '-'}) is gone; taken over by ${this.#d.me.agentId}`);
        if (claimed.control !== null) this.#applyControl(claimed);
        else this.#resume(claimed);
      } catch (err) {
        if (!isBlockrigError(err)) throw err; // another agent claimed it first
      }
    }
  }

  #resume(task: TaskRecord): void {
    if (task.driverPid === null) {
      this.#launch(task);
      return;
    }
    this.#watch(task, this.#d.runner.adopt(task, task.attempts, task.driverPid));
  }

  #launch(task: TaskRecord): void {
    const attempt = task.attempts + 1;
    if (attempt > MAX_DRIVER_ATTEMPTS) {
      this.#finish(task, { ok: false, exitCode: null, status: null, error: `gave up after ${MAX_DRIVER_ATTEMPTS} driver processes were killed` });
      return;
    }
    const started = this.#d.runner.start(task, attempt);
    // A task paused before (re)launch stays paused: the new driver reads the request from the control file.
    const state = task.state === 'paused' ? 'paused' : 'running';
    const { task: running, change } = this.#d.store.updateTask(task.id, { state, driverPid: started.pid, attempts: attempt }, this.#now(), this.#d.me);
    this.#d.stored([change]);
    if (state === 'paused') this.#d.runner.control(running, 'pause'); // a driver paused by signal needs it again
    this.#d.log(`task ${task.id}: driver process ${started.pid} started (attempt ${attempt})`);
    this.#watch(running, started.done);
  }

  #watch(task: TaskRecord, done: Promise<DriverOutcome>): void {
    this.#watching.add(task.id);
    void this.#followProgress(task).catch((err: unknown) => this.#d.log(`task ${task.id}: progress: ${(err as Error).message}`));
    void done.then((outcome) => {
      this.#watching.delete(task.id);
      const current = this.#d.store.task(task.id);
      if (!current || !this.#isMine(current)) return;
      if (outcome.exitCode === null && current.control !== 'cancel' && outcome.error !== null && !outcome.error.startsWith('cannot start')) {
        this.#d.log(`task ${task.id}: driver process was killed; starting another`);
        this.#launch(current);
        return;
      }
      this.#finish(current, outcome);
    });
  }

  /**
   * While the driver runs, stores each newer progress line in the task's `result` (a stored change like
   * any other, so it is broadcast and transmitted); the completion status replaces it at the end.
   */
  async #followProgress(task: TaskRecord): Promise<void> {
    const runner = this.#d.runner;
    if (runner.progress === undefined) return;
    let last = '';
    while (this.#watching.has(task.id)) {
      await this.#d.clock.sleep(PROGRESS_POLL_MS);
      if (!this.#watching.has(task.id)) return;
      const progress = runner.progress(task, task.attempts);
      const text = JSON.stringify(progress);
      if (progress === null || text === last) continue;
      last = text;
      const current = this.#d.store.task(task.id);
      if (!current || !this.#isMine(current) || FINAL_TASK_STATES.includes(current.state)) return;
      try {
        const { change } = this.#d.store.updateTask(task.id, { result: progress }, this.#now(), this.#d.me);
        this.#d.stored([change]);
      } catch (err) {
        if (!isBlockrigError(err)) throw err;
        return; // no longer ours
      }
    }
  }

  #finish(task: TaskRecord, outcome: DriverOutcome): void {
    const state = outcome.ok ? 'succeeded' : task.control === 'cancel' ? 'cancelled' : 'failed';
    try {
      const { change } = this.#d.store.updateTask(
        task.id,
        { state, result: outcome.status ?? null, error: outcome.ok ? null : outcome.error, driverPid: null, control: null },
        this.#now(),
        this.#d.me,
      );
      this.#d.log(`task ${task.id}: ${state}`);
      this.#d.stored([change]);
    } catch (err) {
      if (!isBlockrigError(err)) throw err;
    }
  }

  #applyControl(task: TaskRecord): void {
    const control = task.control;
    if (control === null) return;
    if (control === 'cancel') {
      if (task.driverPid === null) {
        this.#finish(task, { ok: false, exitCode: null, status: null, error: 'cancelled before its driver process started' });
        return;
      }
      this.#d.runner.control(task, 'cancel');
      if (!this.#watching.has(task.id)) this.#resume(task);
      return; // the watcher stores `cancelled` when the driver exits
    }
    this.#d.runner.control(task, control);
    const { change } = this.#d.store.updateTask(task.id, { state: control === 'pause' ? 'paused' : 'running', control: null }, this.#now(), this.#d.me);
    this.#d.stored([change]);
    if (!this.#watching.has(task.id)) this.#resume(task);
  }
}
