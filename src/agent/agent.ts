/**
 * An agent (`blockrig agent --config FILE --cluster C --server S`): one per configured server at each
 * cluster, forming an agent/server pair with it (claims 000/13, 19). It
 * - collects the cluster's configuration and device availability and stores them at the cluster (000/14),
 * - registers with its server and transmits the stored configuration and state (000/15-16),
 * - stores each change first, then broadcasts it to the cluster's other agents, each of which transmits
 *   it to its own server (000/17-18); a change stored but not yet transmitted is sent after a restart,
 * - executes the tasks its server forwards, and takes over tasks of dead agents (000/20-21, failover).
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { systemClock, type Clock } from '../clock.js';
import { ChangeBroadcast } from './broadcast.js';
import { clusterConfig, serverConfig, type LoadedRig } from '../cluster/config-file.js';
import { ClusterStore } from '../cluster/store.js';
import { ConflictError, isBlockrigError, ErrorCode } from '../errors.js';
import type { AgentCommand, ClusterConfig, CommandResult, Executor, StoredChange, VolumeView, ControllerView } from '../wire/index.js';
import { DeviceProber, type ProbeOutcome } from './prober.js';
import { ServerLink } from './server-link.js';
import { TaskExecutor } from './task-executor.js';
import { Transmitter } from './transmitter.js';
import { VolumeWatcher } from './volume-watcher.js';
import { ControllerWatcher, type HostDeviceHealth } from './controller-watcher.js';
import { ProcessTaskRunner, type TaskRunner } from './task-runner.js';

/** Stored changes kept for servers that fall behind; older ones are pruned (a snapshot replaces them). */
export const KEEP_CHANGES = 10_000;

/** Options of an agent. */
export interface AgentOptions {
  rig: LoadedRig;
  clusterId: string;
  serverId: string;
  /** Path of the blockrig CLI, for the default driver command. */
  cliPath: string;
  clock?: Clock;
  runner?: TaskRunner;
  /** Fault injection for tests: wait this long after storing a change before broadcasting or transmitting it. */
  holdAfterStoreMs?: number;
  log?: (line: string) => void;
}

/** The agent id of the agent for `serverId` at `clusterId`. */
export function agentIdFor(serverId: string, clusterId: string): string {
  return `${serverId}@${clusterId}`;
}

/** A running agent. */
export class Agent {
  readonly me: Executor;
  readonly store: ClusterStore;
  readonly #o: Required<Omit<AgentOptions, 'runner' | 'holdAfterStoreMs'>> & { holdAfterStoreMs: number };
  readonly #cluster: ClusterConfig;
  readonly #link: ServerLink;
  readonly #broadcast: ChangeBroadcast;
  readonly #prober: DeviceProber;
  readonly #executor: TaskExecutor;
  readonly #stop = new AbortController();
  readonly #transmitter: Transmitter;
  readonly #volumes: VolumeWatcher | null;
  readonly #controllers: ControllerWatcher | null;

  constructor(options: AgentOptions) {
    const clock = options.clock ?? systemClock;
    this.#o = { ...options, clock, holdAfterStoreMs: options.holdAfterStoreMs ?? 0, log: options.log ?? (() => undefined) };
    this.#cluster = clusterConfig(options.rig, options.clusterId);
    const server = serverConfig(options.rig, options.serverId);
    this.me = { agentId: agentIdFor(options.serverId, options.clusterId), serverId: options.serverId, host: hostname(), pid: process.pid };
    this.store = new ClusterStore(this.#cluster.dataDir, this.#cluster.id);
    this.#link = new ServerLink(server, { ...this.me, clusterId: this.#cluster.id }, options.rig.secret, this.#stop.signal);
    this.#broadcast = new ChangeBroadcast(join(this.#cluster.dataDir, 'agents', `${this.me.agentId}.sock`));
    this.#prober = new DeviceProber(this.#cluster.devices, clock, (o) => this.#onProbe(o));
    const runner =
      options.runner ??
      new ProcessTaskRunner({
        outputDir: join(this.#cluster.dataDir, 'drivers'),
        command: this.#cluster.driverCommand ?? [
          process.execPath, '{cli}', 'driver', 'run', '{kind}', '--meta', '{meta}', '--json',
          // Volume tasks find their volume in the cluster's volume table.
          ...(this.#cluster.volumes === undefined ? [] : ['--volumes', this.#cluster.volumes]),
          ...(this.#cluster.controllers === 0 ? ['--run-partitions'] : []),
        ],
        cliPath: options.cliPath,
        meta: this.#cluster.meta,
        clock,
        // The default driver pauses and re-attaches in the region; a custom command has no region task.
        regionDriver: this.#cluster.driverCommand === undefined,
      });
    this.#transmitter = new Transmitter({
      link: this.#link,
      store: this.store,
      serverId: options.serverId,
      agentId: this.me.agentId,
      clock,
      timing: options.rig.config.timing,
      holdAfterStoreMs: this.#o.holdAfterStoreMs,
      signal: this.#stop.signal,
      log: this.#o.log,
    });
    const volumeTable = this.#cluster.volumes ?? this.#cluster.meta;
    this.#volumes =
      volumeTable === undefined
        ? null
        : new VolumeWatcher({ table: volumeTable, devices: this.#cluster.devices, clock, report: (volumes) => this.#onVolumes(volumes), log: this.#o.log });
    const meta = this.#cluster.meta;
    this.#controllers =
      meta === undefined
        ? null
        : new ControllerWatcher({ meta, clock, report: (list) => this.#onControllers(list), reportHealth: (reports) => this.#onDeviceHealth(reports), log: this.#o.log });
    this.store.ioErrorHoldMs = Math.max(2000, 5 * options.rig.config.timing.probeMs);
    this.#executor = new TaskExecutor({
      store: this.store,
      runner,
      me: this.me,
      clock,
      takeoverMs: options.rig.config.timing.takeoverMs,
      stored: (changes) => this.#afterStore(changes),
      log: this.#o.log,
    });
  }

  get #timing(): LoadedRig['config']['timing'] {
    return this.#o.rig.config.timing;
  }

  /** Starts every loop; resolves once the agent is listening for broadcasts and has stored its config. */
  async start(): Promise<void> {
    await this.#broadcast.listen(() => this.#transmitter.kick());
    this.#beatStore();
    const config = { clusterId: this.#cluster.id, deviceCount: this.#cluster.devices.length, devices: this.#cluster.devices, ...(this.#cluster.meta === undefined ? {} : { meta: this.#cluster.meta }) };
    this.#afterStore(this.store.storeConfig(config, this.#nowIso()));
    this.#prober.start(this.#timing.probeMs);
    this.#volumes?.start(this.#timing.probeMs);
    this.#controllers?.start(this.#timing.probeMs);
    let beats = 0;
    void this.#loop(this.#timing.heartbeatMs, () => {
      this.#beatStore();
      this.#executor.reconcile();
      if (++beats % 60 === 0) this.store.pruneChanges(KEEP_CHANGES);
    });
    this.#transmitter.start();
    void this.#commandLoop();
    this.#o.log(`agent ${this.me.agentId} started (pid ${this.me.pid}); cluster ${this.#cluster.id} has ${this.#cluster.devices.length} devices`);
  }

  /** Stops the agent (running driver processes keep running; another agent or a restart adopts them). */
  async stop(): Promise<void> {
    this.#stop.abort();
    this.#prober.stop();
    this.#volumes?.stop();
    this.#controllers?.stop();
    await this.#broadcast.close();
    await this.#transmitter.settled();
    this.store.close();
  }

  #nowIso(): string {
    return new Date(this.#o.clock.wallTime()).toISOString();
  }

  #beatStore(): void {
    this.store.beatAgent({ ...this.me, socketPath: this.#broadcast.socketPath, beatAt: this.#o.clock.wallTime() });
  }

  async #loop(intervalMs: number, tick: () => void | Promise<void>): Promise<void> {
    while (!this.#stop.signal.aborted) {
      try {
        await tick();
      } catch (err) {
        this.#o.log(`agent ${this.me.agentId}: ${(err as Error).message}`);
      }
      await this.#o.clock.sleep(intervalMs, this.#stop.signal).catch(() => undefined);
    }
  }

  #onProbe(outcome: ProbeOutcome): void {
    if (this.#stop.signal.aborted) return;
    const change = this.store.storeDeviceState(outcome.name, outcome.available, outcome.reason, this.#nowIso(), outcome.available ? 0 : 1);
    if (change) {
      this.#o.log(`device ${outcome.name}: ${outcome.available ? 'available' : 'unavailable'} (${outcome.reason}); stored as change ${change.seq}`);
      this.#afterStore([change]);
    }
  }

  #onVolumes(volumes: VolumeView[]): void {
    if (this.#stop.signal.aborted) return;
    const change = this.store.storeVolumes(volumes, this.#nowIso());
    if (change) {
      this.#o.log(`volumes: ${volumes.map((v) => `${v.name} ${v.state}`).join(', ') || 'none'}; stored as change ${change.seq}`);
      this.#afterStore([change]);
    }
  }

  #onControllers(controllers: ControllerView[]): void {
    if (this.#stop.signal.aborted) return;
    const change = this.store.storeControllers(controllers, this.#nowIso());
    if (change) this.#afterStore([change]);
  }

  /**
   * Folds what controllers report of their target devices' I/O into the devices' state: a configured
   * device (matched by URI) that a controller found failing is stored unavailable with its reason, and
   * available again when that controller's I/O succeeds again.
   */
  #onDeviceHealth(reports: HostDeviceHealth[]): void {
    if (this.#stop.signal.aborted) return;
    const changes: StoredChange[] = [];
    for (const r of reports) {
      for (const h of r.health) {
        const device = this.#cluster.devices.find((d) => d.uri === h.uri);
        if (device === undefined) continue;
        const report = { reporter: r.reporter, by: `${r.hostname}/${r.pid}`, errors: h.errors, unavailable: h.unavailable, message: h.message };
        const change = this.store.storeIoReport(device.name, report, this.#nowIso());
        if (change === null) continue;
        this.#o.log(`device ${device.name}: ${h.unavailable ? 'unavailable' : 'available'} from controller ${report.by}'s I/O; stored as change ${change.seq}`);
        changes.push(change);
      }
    }
    this.#afterStore(changes);
  }

  /** After a change is stored: broadcast it to the cluster's other agents, then transmit it to our server. */
  #afterStore(changes: StoredChange[]): void {
    if (changes.length === 0) return;
    const seq = Math.max(...changes.map((c) => c.seq));
    const spread = async (): Promise<void> => {
      if (this.#o.holdAfterStoreMs > 0) await this.#o.clock.sleep(this.#o.holdAfterStoreMs, this.#stop.signal).catch(() => undefined);
      const others = this.store.agents().filter((a) => a.agentId !== this.me.agentId && a.host === this.me.host);
      await ChangeBroadcast.notify(others.map((a) => a.socketPath), seq);
      this.#transmitter.kick();
    };
    void spread();
  }

  async #commandLoop(): Promise<void> {
    while (!this.#stop.signal.aborted) {
      if (!this.#transmitter.ready) {
        await this.#o.clock.sleep(this.#timing.retryMs, this.#stop.signal).catch(() => undefined);
        continue;
      }
      try {
        const commands = await this.#link.poll(Math.min(10_000, Math.max(500, Math.floor(this.#timing.agentExpiryMs / 2))));
        for (const command of commands) await this.#answer(command);
      } catch (err) {
        if (isBlockrigError(err, ErrorCode.AgentUnavailable)) this.#transmitter.reconnect();
        await this.#o.clock.sleep(this.#timing.retryMs, this.#stop.signal).catch(() => undefined);
      }
    }
  }

  async #answer(command: AgentCommand): Promise<void> {
    let result: CommandResult;
    try {
      if (command.type === 'task.issue') {
        if (command.issue.cluster !== this.#cluster.id) throw new Error(`this agent serves cluster ${this.#cluster.id}, not ${command.issue.cluster}`);
        if (this.#cluster.meta === undefined && this.#cluster.driverCommand === undefined) {
          throw new ConflictError(`cluster ${this.#cluster.id} has no metadata region ("meta") to run tasks on: add one to the rig configuration`, { details: { field: 'cluster' } });
        }
        const { task, created } = this.#executor.accept(command.taskId, command.issue);
        result = { ok: true, task, created };
      } else if (command.type === 'volume.action') {
        if (command.action.cluster !== this.#cluster.id) throw new Error(`this agent serves cluster ${this.#cluster.id}, not ${command.action.cluster}`);
        if (this.#volumes === null) throw new ConflictError(`cluster ${this.#cluster.id} has no volume table ("volumes" or "meta") in the rig configuration`, { details: { field: 'cluster' } });
        result = { ok: true, volume: await this.#volumes.perform(command.action) };
      } else {
        result = { ok: true, task: this.#executor.control(command.taskId, command.control) };
      }
    } catch (err) {
      const code = isBlockrigError(err) ? err.code : ErrorCode.Internal;
      const field = isBlockrigError(err) && typeof err.details.field === 'string' ? { field: err.details.field } : {};
      result = { ok: false, error: { code, message: (err as Error).message, ...field } };
    }
    await this.#link.answer(command.id, result);
  }
}
