/**
 * Collects device availability by probing each configured device through the driver layer: every probe
 * opens it read-only, reads its first block, checks the driver's availability flag and closes it. Opening
 * anew each time is what notices a detached loop device, a deleted image or an NBD server that went away,
 * and their return; a probe costs one open and one block read per device per interval.
 */
import { openDevice } from '../../drivers/index.js';
import type { BlockDevice } from '../../drivers/types.js';
import { repeatEvery, type Clock } from '../clock.js';
import type { DeviceConfig } from '../wire/index.js';

/** One probe outcome for one device. */
export interface ProbeOutcome {
  name: string;
  available: boolean;
  reason: string;
}

/** Probes a cluster's devices on an interval and reports every outcome. */
export class DeviceProber {
  readonly #devices: readonly DeviceConfig[];
  readonly #clock: Clock;
  readonly #report: (outcome: ProbeOutcome) => void;
  readonly #stop = new AbortController();

  constructor(devices: readonly DeviceConfig[], clock: Clock, report: (outcome: ProbeOutcome) => void) {
    this.#devices = devices;
    this.#clock = clock;
    this.#report = report;
  }

  /** Probes every `intervalMs` until `stop()`. */
  start(intervalMs: number): void {
    void repeatEvery(this.#clock, intervalMs, this.#stop.signal, () => this.probeAll());
  }

  /** Probes each device once. */
  async probeAll(): Promise<void> {
    await Promise.all(this.#devices.map((d) => this.#probe(d)));
  }

  async #probe(config: DeviceConfig): Promise<void> {
    let device: BlockDevice | undefined;
    try {
      device = await openDevice(config.uri, { readOnly: true });
      const length = Math.min(device.size, device.logicalBlockSize);
      if (length === 0) throw new Error('the device has size 0 (detached?)');
      await device.read(0, length, { signal: AbortSignal.timeout(5000) });
      if (!device.available) throw new Error('the driver reports the device unavailable');
      this.#report({ name: config.name, available: true, reason: 'probe ok' });
    } catch (err) {
      this.#report({ name: config.name, available: false, reason: `probe failed: ${(err as Error).message}` });
    } finally {
      await device?.close().catch(() => undefined);
    }
  }

  /** Stops probing. */
  stop(): void {
    this.#stop.abort();
  }
}
