/**
 * The controllers of a scenario: real `blockrig controller run` processes on a metadata region, and the
 * tasks the harness submits to them with `blockrig task submit KIND --meta META --wait --json` (the submit
 * process is the task's initiator). Whatever the task kind (a region fill or verify, a volume rebuild or
 * scrub), the fleet formats nothing and knows nothing of the data: it starts the processes, submits, reads
 * the task's progress from the region every 50 ms (so progress-point faults fire on real progress), and
 * signals the processes for the timeline's kill (SIGKILL) and pause (SIGSTOP, then SIGCONT) faults.
 *
 * A kill or a pause lands while the controller holds a claim on the task: when it holds none at that
 * instant (it is between two), the signal waits until its audit shows its next claim, read again with the
 * process frozen. So a scenario's kill always leaves
 * a claimed chunk for a peer to reclaim, however fast the task runs; `reclaimed` counts the chunks of the
 * submitted tasks claimed by more than one controller incarnation (from the audit files).
 */
import { join } from 'node:path';
import type { BlockDevice } from '../../drivers/types.js';
import type { Clock } from '../../src/clock.js';
import type { AuditRecord } from '../../src/controller/events.js';
import { dumpRegion } from '../../src/metadata/inspect.js';
import { MetadataRegion } from '../../src/metadata/region.js';
import type { ProcessSupervisor, RigProcess } from '../rig/processes.js';
import { claimsHeld, readAudit, reclaimedChunks, reclaims } from './audit.js';

/** A controller's life. */
export type ControllerState = 'running' | 'paused' | 'killed';

/** Something a controller did, for the report's timeline. */
export interface ControllerEvent {
  readonly atMs: number;
  readonly controller: number;
  readonly what: 'killed' | 'paused' | 'resumed' | 'error' | 'reclaim';
  readonly detail?: string;
}

/** What the fault timeline and the runner need of a scenario's task, whichever kind it is. */
export interface TaskControl {
  /** Fraction of the task's partitions COMPLETE, 0..1. */
  readonly progress: number;
  /** Chunks taken over from a dead or stalled controller. */
  readonly reclaimed: number;
  readonly events: readonly ControllerEvent[];
  onProgress(listener: () => void): () => void;
  kill(id: number): void;
  pause(id: number, ms: number): void;
}

/** A task the runner runs to its end; rejects when it did not complete. */
export interface ScenarioTask extends TaskControl {
  run(signal: AbortSignal): Promise<void>;
}

/** Region timing derived from the scenario's lease (`docs/hil.md`, "Controllers"). */
export function regionTiming(leaseMs: number): string[] {
  const hb = Math.max(50, Math.round(leaseMs));
  // A generous I/O timeout: on a shared CI machine a renewal can wait for the CPU, and a process that
  // cannot renew in time fences itself (exit BLOCKRIG_E_LEASE_LOST), which is not what a scenario tests.
  const io = Math.max(1000, 2 * hb);
  const renew = 2 * hb + io;
  const dead = Math.ceil(1.1 * (renew + 2 * io));
  return ['--heartbeat-ms', String(hb), '--io-timeout-ms', String(io), '--renew-timeout-ms', String(renew), '--host-dead-ms', String(dead)];
}

/** Options of `ControllerFleet`. */
export interface FleetOptions {
  /** The metadata device as the processes open it (a path or URI). */
  readonly meta: string;
  /** The same device opened by the harness, to read progress. */
  readonly metaDevice: BlockDevice;
  readonly controllers: number;
  readonly workDir: string;
  readonly cliPath: string;
  readonly processes: ProcessSupervisor;
  readonly clock: Clock;
  readonly log: (line: string) => void;
}

/** See the module comment. */
export class ControllerFleet implements TaskControl {
  readonly #events: ControllerEvent[] = [];
  /** The host's monotonic clock (the audit files' time base) when the first task started. */
  #startedHost = 0;
  readonly #o: FleetOptions;
  readonly #procs: RigProcess[] = [];
  readonly #states: ControllerState[];
  readonly #listeners = new Set<() => void>();
  #region: MetadataRegion | undefined;
  #kind: string | undefined;
  #taskId: string | undefined;
  #progress = 0;
  #started = 0;
  #running = false;

  constructor(options: FleetOptions) {
    this.#o = options;
    this.#states = Array.from({ length: options.controllers }, () => 'running');
  }

  get progress(): number {
    return this.#progress;
  }

  /** Kills, pauses and unexpected exits, and the reclaims the audit files show, in time order. */
  get events(): readonly ControllerEvent[] {
    const reclaimed = reclaims(this.#audit()).map((r): ControllerEvent => ({ atMs: Math.round(r.at - this.#startedHost), controller: r.controller, what: 'reclaim', detail: `chunk ${r.chunk} of task ${r.taskId}` }));
    return [...this.#events, ...reclaimed].sort((a, b) => a.atMs - b.atMs);
  }

  /** Chunks of the submitted tasks claimed by more than one controller incarnation. */
  get reclaimed(): number {
    return reclaimedChunks(this.#audit());
  }

  onProgress(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Starts a blockrig CLI process. */
  cli(name: string, args: readonly string[]): Promise<RigProcess> {
    return this.#o.processes.start(name, process.execPath, [this.#o.cliPath, ...args]);
  }

  /** Runs a CLI command to its end; rejects with its output when it fails; resolves with its output. */
  async run(name: string, args: readonly string[]): Promise<string> {
    const p = await this.cli(name, args);
    const { code, signal } = await p.exit;
    if (code !== 0) throw new Error(`${name} failed (${signal ?? `exit ${code}`}):\n${p.log()}`);
    return p.log();
  }

  /** Opens the region (formatted by the caller) and starts one `controller run` process per controller. */
  async start(): Promise<void> {
    this.#region = await MetadataRegion.open(this.#o.metaDevice);
    for (let id = 0; id < this.#o.controllers; id++) {
      const p = await this.cli(`controller:${id}`, ['controller', 'run', '--meta', this.#o.meta, '--id', String(id), '--audit', this.#auditFile(id)]);
      this.#procs.push(p);
      this.#o.log(`controller ${id}: blockrig controller run, pid ${p.pid}`);
    }
  }

  /**
   * Submits a task with `task submit KIND --meta META ARGS --wait --json`, follows its progress, and
   * resolves with the completion status the submit process printed; rejects when it does not complete.
   */
  async submit(kind: string, args: readonly string[], signal: AbortSignal): Promise<unknown> {
    const o = this.#o;
    const submit = await this.cli(`task-submit:${kind}`, ['task', 'submit', kind, '--meta', o.meta, ...args, '--id', String(o.controllers), '--wait', '--json']);
    const onAbort = (): void => o.processes.signal(submit.pid, 'SIGKILL');
    signal.addEventListener('abort', onAbort);
    const { code, signal: killedBy } = await this.follow(kind, signal, () => submit.exit).finally(() => signal.removeEventListener('abort', onAbort));
    const status = completionOf(submit.log());
    const finished = (status as { state?: unknown } | undefined)?.state === 'finished';
    if (!finished && code !== 0) throw new Error(`task submit ${kind} --wait failed (${killedBy ?? `exit ${code}`}): ${submit.log().slice(-600)}`);
    o.log(`task ${this.#taskId ?? '?'} (${kind}) complete`);
    return status;
  }

  /**
   * Follows the progress of the task of `kind` in the region (every 50 ms) while
   * `work` runs, however the task was issued (a submit process, a server); resolves with what `work` did.
   */
  async follow<T>(kind: string, signal: AbortSignal, work: () => Promise<T>): Promise<T> {
    const o = this.#o;
    if (this.#started === 0) {
      this.#started = o.clock.now();
      // CLOCK_MONOTONIC, as `controller run --audit` stamps its records (hostMonotonicMs).
      this.#startedHost = Number(process.hrtime.bigint()) / 1e6;
    }
    this.#kind = kind;
    this.#taskId = undefined;
    this.#progress = 0;
    this.#running = true;
    const poll = (async () => {
      while (this.#running) {
        await this.#poll().catch(() => undefined);
        await o.clock.sleep(50);
      }
    })();
    const outcome = await work().then(
      (value) => ({ value }),
      (err: unknown) => ({ err }),
    );
    this.#running = false;
    await poll;
    await this.#poll().catch(() => undefined);
    for (const [id, p] of this.#procs.entries()) if (p.exited && this.#states[id] === 'running') this.#event(id, 'error', `exited: ${p.log().split('\n').slice(-3).join(' ')}`);
    if (signal.aborted) throw new Error('the scenario run was aborted before the task finished');
    if ('err' in outcome) throw outcome.err;
    return outcome.value;
  }

  /** The submitted task's id and data-set length, once the region shows it. */
  get task(): { id: string; length: number } | undefined {
    return this.#taskId === undefined ? undefined : { id: this.#taskId, length: this.#length };
  }
  #length = 0;

  async #poll(): Promise<void> {
    const region = this.#region;
    if (region === undefined) return;
    const dump = await dumpRegion(region);
    const task = dump.tasks.filter((t) => t.spec?.kind === this.#kind).at(-1);
    if (task === undefined) return;
    this.#taskId = task.id;
    this.#length = task.spec.length;
    const done = (task.counts.COMPLETE ?? 0) / Math.max(1, task.partitions);
    if (done !== this.#progress) {
      this.#progress = done;
      for (const l of [...this.#listeners]) l();
    }
  }

  #auditFile(id: number): string {
    return join(this.#o.workDir, `controller-${id}.audit`);
  }

  #audit(only?: number): AuditRecord[] {
    return this.#procs.flatMap((_, id) => (only === undefined || only === id ? readAudit(this.#auditFile(id)) : []));
  }

  /** True when controller `id` holds a claim on the current task (claimed, not yet released). */
  #holdsClaim(id: number): boolean {
    return this.#taskId !== undefined && claimsHeld(this.#audit(id), this.#taskId) > 0;
  }

  #event(controller: number, what: ControllerEvent['what'], detail?: string): void {
    this.#o.log(`controller ${controller}: ${what}${detail === undefined ? '' : ` (${detail})`}`);
    this.#events.push({ atMs: Math.round(this.#o.clock.now() - this.#started), controller, what, ...(detail === undefined ? {} : { detail }) });
  }

  /** SIGKILL once the controller holds a claim (see the module comment). */
  kill(id: number): void {
    const p = this.#procs[id];
    if (p === undefined || this.#states[id] === 'killed') return;
    this.#states[id] = 'killed';
    void this.#frozenWhileClaiming(id, p).then((holding) => {
      this.#o.processes.signal(p.pid, 'SIGKILL');
      this.#event(id, 'killed', `pid ${p.pid}, ${holding}`);
    });
  }

  /** SIGSTOP once the controller holds a claim (as a kill), SIGCONT `ms` later. */
  pause(id: number, ms: number): void {
    const p = this.#procs[id];
    if (p === undefined || this.#states[id] !== 'running') return;
    this.#states[id] = 'paused';
    void this.#frozenWhileClaiming(id, p).then(async (holding) => {
      this.#o.processes.signal(p.pid, 'SIGSTOP');
      this.#event(id, 'paused', `pid ${p.pid}, ${holding}, ${ms} ms`);
      await this.#o.clock.sleep(ms);
      this.#o.processes.signal(p.pid, 'SIGCONT');
      if (this.#states[id] === 'paused') this.#states[id] = 'running';
      this.#event(id, 'resumed');
    });
  }

  /**
   * Waits (up to 30 s) until controller `id` holds a claim on the task, and freezes it (SIGSTOP) there. A
   * claim read from a running process's audit may be released by the time a signal lands, so the process
   * is frozen first and its audit read again: still holding, it stays frozen for the kill or the pause;
   * otherwise it goes on (SIGCONT) and the wait continues.
   */
  async #frozenWhileClaiming(id: number, p: RigProcess): Promise<string> {
    const deadline = this.#o.clock.now() + 30_000;
    while (this.#running && !p.exited && this.#o.clock.now() < deadline) {
      if (this.#holdsClaim(id)) {
        this.#o.processes.signal(p.pid, 'SIGSTOP');
        await this.#o.clock.sleep(20);
        if (this.#holdsClaim(id)) return 'holding a claim';
        this.#o.processes.signal(p.pid, 'SIGCONT');
      }
      await this.#o.clock.sleep(10);
    }
    return 'holding no claim';
  }

  /** Resumes any paused controller and stops them all (SIGTERM: they leave the region). */
  async stop(): Promise<void> {
    for (const p of this.#procs) this.#o.processes.signal(p.pid, 'SIGCONT');
    for (const p of this.#procs) await this.#o.processes.stop(p.pid, this.#o.clock);
  }
}

/** The completion status JSON a `task submit --wait --json` process printed, once it is all there. */
function completionOf(output: string): unknown {
  const start = output.indexOf('\n{');
  const end = output.lastIndexOf('\n}');
  if (start < 0 || end < start) return undefined;
  try {
    return JSON.parse(output.slice(start + 1, end + 2)) as unknown;
  } catch {
    return undefined; // not complete yet, or log lines interleaved with it
  }
}
