/**
 * The fault timeline: fires each scenario fault at its time (milliseconds after the task starts) or at its
 * progress point (the task's completed fraction), undoes it after its duration, and records when each
 * happened for the report. A fault that never fired (the task finished before its progress point) is
 * reported as such, since a scenario whose fault did not happen tested nothing.
 */
import type { Clock } from '../../src/clock.js';
import { inject, type BuiltDevice } from '../rig/devices.js';
import type { ProcessSupervisor } from '../rig/processes.js';
import type { RigRelay } from '../rig/relay.js';
import type { RigServers } from '../rig/servers.js';
import type { Fault } from '../scenario/schema.js';
import type { TaskControl } from './fleet.js';
import type { RegionTask } from './region.js';
import { seededRandom } from '../../src/random.js';

/** What happened to one fault of the scenario. */
export interface FaultRecord {
  readonly index: number;
  readonly fault: Fault;
  readonly label: string;
  firedAtMs: number | undefined;
  undoneAtMs: number | undefined;
  /** Task progress (0..1) when it fired. */
  progressAtFire: number | undefined;
  error: string | undefined;
}

/** What faults act on. */
export interface FaultTargets {
  readonly task: TaskControl;
  /** The metadata region's task (task kind region), for tear-metadata. */
  readonly region?: RegionTask;
  readonly devices: ReadonlyMap<string, BuiltDevice>;
  readonly relay: RigRelay | undefined;
  /** Resolves once the relay's power changes reached every process holding the devices. */
  readonly powerSettled: () => Promise<void>;
  readonly servers: RigServers | undefined;
  readonly processes: ProcessSupervisor;
  readonly clock: Clock;
  readonly seed: number;
  /** Notes a line in the run log. */
  readonly log: (line: string) => void;
}

/** A short human name of a fault, for logs, the chart and JUnit. */
export function describeFault(f: Fault): string {
  const at = f.at.kind === 'time' ? `${f.at.ms} ms` : `${f.at.percent}%`;
  const target = 'controller' in f ? `controller ${f.controller}` : 'server' in f ? `server ${f.server}` : 'device' in f ? `device ${f.device}` : 'between the hosts';
  if (f.action === 'tear-metadata') return `tear-metadata ${f.record === 'chunk' ? `chunk ${f.chunk}` : f.record} (${f.keepBytes} bytes landed) on device ${f.device} at ${at}`;
  const extra = f.action === 'slow-device' ? ` +${f.latency} ms` : f.action === 'corrupt' ? ` ${f.length} bytes at ${f.offset}` : f.action === 'rule' ? ` ${f.rule.kind}` : '';
  const dur = 'duration' in f && f.duration !== undefined ? ` for ${f.duration} ms` : '';
  return `${f.action} ${target}${extra}${dur} at ${at}`;
}

/** See the module comment. */
export class FaultTimeline {
  readonly records: FaultRecord[];
  readonly #t: FaultTargets;
  readonly #pending = new Set<Promise<void>>();
  #startedAt = 0;
  #signal: AbortSignal | undefined;

  constructor(faults: readonly Fault[], targets: FaultTargets) {
    this.#t = targets;
    this.records = faults.map((fault, index) => ({ index, fault, label: describeFault(fault), firedAtMs: undefined, undoneAtMs: undefined, progressAtFire: undefined, error: undefined }));
  }

  /**
   * Starts the clock of the timeline (the task's start) and schedules the timed faults; resolves once the
   * faults due at 0% are in place, so that "at: 0%" means before the task does any I/O.
   */
  async start(signal: AbortSignal): Promise<void> {
    this.#startedAt = this.#t.clock.now();
    this.#signal = signal;
    for (const r of this.records) {
      if (r.fault.at.kind !== 'time') continue;
      const ms = r.fault.at.ms;
      this.#track(this.#t.clock.sleep(ms, signal).then(() => this.#fire(r), () => undefined));
    }
    const applied: Promise<void>[] = [];
    for (const r of this.records) {
      if (r.fault.at.kind !== 'progress' || r.fault.at.percent !== 0) continue;
      applied.push(new Promise<void>((resolve) => this.#track(this.#fire(r, resolve))));
    }
    await Promise.all(applied);
  }

  /** Fires the progress-point faults whose point the task reached. */
  onProgress(progress: number): void {
    for (const r of this.records) {
      if (r.fault.at.kind === 'progress' && r.firedAtMs === undefined && progress * 100 >= r.fault.at.percent) this.#track(this.#fire(r));
    }
  }

  /** Waits for every fault and undo in flight (undos still pending are cut short by the run's abort). */
  async settle(): Promise<void> {
    while (this.#pending.size > 0) await Promise.allSettled([...this.#pending]);
  }

  #elapsed(): number {
    return Math.round(this.#t.clock.now() - this.#startedAt);
  }

  #track(p: Promise<void>): void {
    const tracked = p.catch(() => undefined).finally(() => this.#pending.delete(tracked));
    this.#pending.add(tracked);
  }

  /** Injects `r`, calls `applied` once it is in place (or failed), and undoes it after its duration. */
  async #fire(r: FaultRecord, applied: () => void = () => undefined): Promise<void> {
    if (r.firedAtMs !== undefined || this.#signal?.aborted === true) {
      applied();
      return;
    }
    r.firedAtMs = this.#elapsed();
    r.progressAtFire = this.#t.task.progress;
    this.#t.log(`fault ${r.index}: ${r.label} (fired at ${r.firedAtMs} ms, task ${(r.progressAtFire * 100).toFixed(0)}%)`);
    try {
      const undo = await this.#apply(r.fault, r.index).finally(applied);
      const duration = 'duration' in r.fault ? r.fault.duration : undefined;
      if (undo !== undefined && duration !== undefined) {
        await this.#t.clock.sleep(duration, this.#signal).catch(() => undefined);
        await undo();
        r.undoneAtMs = this.#elapsed();
        this.#t.log(`fault ${r.index}: undone at ${r.undoneAtMs} ms`);
      }
    } catch (err) {
      r.error = (err as Error).message;
      this.#t.log(`fault ${r.index}: could not be injected: ${r.error}`);
    }
  }

  /** Injects one fault; returns how to undo it, for faults that last a duration. */
  async #apply(f: Fault, faultIndex: number): Promise<(() => Promise<void>) | undefined> {
    const t = this.#t;
    if (f.action === 'kill-controller') {
      t.task.kill(f.controller);
      return undefined;
    }
    if (f.action === 'pause-controller') {
      t.task.pause(f.controller, f.duration);
      return undefined;
    }
    if (f.action === 'cut-link') {
      const servers = t.servers;
      if (servers === undefined) throw new Error('the rig has no servers');
      servers.cutLink(true);
      return () => Promise.resolve(servers.cutLink(false));
    }
    if (f.action === 'kill-server' || f.action === 'kill-agent') {
      if (t.servers === undefined) throw new Error('the rig has no servers');
      if (f.action === 'kill-server') t.servers.killServer(f.server);
      else t.servers.killAgent(f.server);
      return undefined;
    }
    if (f.action === 'tear-metadata') {
      if (t.region === undefined) throw new Error('the task does not run on a metadata region');
      t.log(`fault: ${await t.region.tearRecord(f.record, f.chunk, f.keepBytes, t.seed ^ 0x7ea2)}`);
      return undefined;
    }
    const built = t.devices.get(f.device);
    if (built === undefined) throw new Error(`no device ${f.device}`);
    const dev = built.device;
    // Device faults go through the control channel, so that every process holding the device (the
    // harness and each controller process) sees the same fault; a rule keeps one id everywhere.
    const send = async (command: Parameters<typeof inject>[1]): Promise<void> => {
      const { applied, silent } = await inject(built, command);
      t.log(`fault: ${command.op} on device ${f.device}: applied by ${applied} openers${silent.length > 0 ? `, not yet by stopped pids ${silent.join(' ')}` : ''}`);
    };
    const addRule = async (rule: Record<string, unknown>): Promise<() => Promise<void>> => {
      const id = `scenario-fault-${faultIndex}`;
      await send({ op: 'add', rule: { ...rule, id } as never });
      return () => send({ op: 'remove', id });
    };
    switch (f.action) {
      case 'fail-device':
        return addRule({ kind: 'error', errno: 'EIO' });
      case 'slow-device':
        return addRule({ kind: 'latency', ms: f.latency });
      case 'rule':
        return addRule(f.rule);
      case 'pull-device':
        await send({ op: 'offline', reason: 'pulled by scenario fault' });
        return () => send({ op: 'online' });
      case 'corrupt': {
        // Straight onto the medium under the fault wrapper: nothing above sees an error.
        const random = seededRandom(t.seed ^ (f.offset >>> 0));
        const bytes = Buffer.alloc(f.length);
        for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(random() * 256);
        await dev.inner.write(f.offset, bytes);
        await dev.inner.flush();
        return undefined;
      }
      case 'power-cycle': {
        const relay = t.relay;
        const channel = built.spec.power;
        if (relay === undefined || channel === undefined) throw new Error(`device ${f.device} has no relay channel`);
        await relay.setPower(channel, false);
        await t.powerSettled();
        return async () => {
          await relay.setPower(channel, true);
          await t.powerSettled();
        };
      }
      case 'kill-export': {
        if (built.server === undefined) throw new Error(`device ${f.device} has no export process`);
        t.processes.signal(built.server.pid, 'SIGKILL');
        return undefined;
      }
    }
  }
}
