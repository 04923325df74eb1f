/**
 * The agent's read-only view of the controllers in its cluster's metadata region: on the probe interval it
 * reads the host slots (through the metadata library's exports) and judges each live or not the way
 * controllers judge each other, by delta lease: alive while the slot's bytes keep changing as this reader
 * sees them, on its own monotonic clock, dead once they stayed the same for the region's `hostDeadMs`. The
 * list (without heartbeat counters, so it changes only when liveness or a claim changes) goes to the agent,
 * which stores it as a change like a device's state.
 */
import { openDevice } from '../../drivers/index.js';
import { repeatEvery, type Clock } from '../clock.js';
import { LivenessTracker } from '../controller/liveness.js';
import { HostRole, HostState, hostStateName, TASK_RECORD_CLAIM, type DeviceHealth } from '../metadata/host-record.js';
import { MetadataRegion } from '../metadata/region.js';
import { hexId } from '../metadata/task-record.js';
import type { ControllerView } from '../wire/index.js';

/** Options of a {@link ControllerWatcher}. */
export interface ControllerWatcherOptions {
  /** URI of the metadata region. */
  meta: string;
  clock: Clock;
  report: (controllers: ControllerView[]) => void;
  /** Receives, on every read, the device health each host publishes in its record (hosts with none left out). */
  reportHealth?: (reports: HostDeviceHealth[]) => void;
  log: (line: string) => void;
}

/** The device health one host (a controller, or a driver running partitions) publishes in its host record. */
export interface HostDeviceHealth {
  /** Tells one incarnation of one process in one slot from every other. */
  reporter: string;
  hostname: string;
  pid: number;
  health: DeviceHealth[];
}

/** Reads a region's host slots on an interval. */
export class ControllerWatcher {
  readonly #o: ControllerWatcherOptions;
  readonly #stop = new AbortController();
  #liveness: LivenessTracker | null = null;
  #lastError: string | null = null;

  constructor(options: ControllerWatcherOptions) {
    this.#o = options;
  }

  /** Reads every `intervalMs` until `stop()`. */
  start(intervalMs: number): void {
    void repeatEvery(this.#o.clock, intervalMs, this.#stop.signal, () => this.refresh());
  }

  /** Reads the host slots once and reports them; a failure is logged once per distinct message. */
  async refresh(): Promise<ControllerView[] | null> {
    const device = await openDevice(this.#o.meta, { readOnly: true }).catch((err: unknown) => this.#failed(err));
    if (device === null) return null;
    try {
      const region = await MetadataRegion.open(device);
      const liveness = (this.#liveness ??= new LivenessTracker(region.superblock.timing.hostDeadMs));
      const start = this.#o.clock.now();
      const slots = await region.readHosts();
      const end = this.#o.clock.now();
      const views: ControllerView[] = [];
      const health: HostDeviceHealth[] = [];
      for (const [slot, s] of slots.entries()) {
        liveness.observe(slot, s.raw, start, end);
        const h = s.value;
        if (h?.deviceHealth !== undefined && h.deviceHealth.length > 0) {
          health.push({ reporter: `${slot}/${h.incarnation}/${h.hostname}/${h.pid}`, hostname: h.hostname, pid: h.pid, health: h.deviceHealth });
        }
        if (h === undefined || h.state === HostState.Free || h.state === HostState.Released) continue;
        views.push({
          slot,
          hostname: h.hostname,
          pid: h.pid,
          role: h.role === HostRole.Controller ? 'controller' : 'client',
          state: hostStateName(h.state),
          live: !liveness.isDead(slot),
          incarnation: h.incarnation,
          running: h.claim === undefined ? null : { taskId: hexId(h.claim.taskId), chunk: h.claim.index === TASK_RECORD_CLAIM ? null : h.claim.index },
        });
      }
      this.#lastError = null;
      if (!this.#stop.signal.aborted) {
        this.#o.report(views);
        if (health.length > 0) this.#o.reportHealth?.(health);
      }
      return views;
    } catch (err) {
      return this.#failed(err);
    } finally {
      await device.close().catch(() => undefined);
    }
  }

  /** Stops the interval reads. */
  stop(): void {
    this.#stop.abort();
  }

  #failed(err: unknown): null {
    const message = err instanceof Error ? err.message : String(err);
    if (message !== this.#lastError) this.#o.log(`metadata region ${this.#o.meta}: ${message}`);
    this.#lastError = message;
    return null;
  }
}
