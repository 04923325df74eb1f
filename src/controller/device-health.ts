/**
 * A controller's own account of its target devices' I/O, published in its host record so that the
 * cluster's agents record a failing device unavailable from what the controller saw, not only from their
 * probes (docs/agents-and-servers.md, "Device state from controllers' I/O").
 *
 * A device is listed from its first failed I/O. It turns `unavailable` after `threshold` consecutive
 * failures, or at once on an "unavailable" error (the driver says the device is gone), and back to
 * available with the next I/O that succeeds. Lease and cancellation errors are not the device's fault and
 * are not counted; neither is a timeout, which fences the controller (it writes nothing more anyway).
 */
import { ErrorCode, isBlockrigError } from '../errors.js';
import { MAX_DEVICE_HEALTH, type DeviceHealth } from '../metadata/host-record.js';

/** Consecutive I/O errors after which a controller reports a device unavailable. */
export const DEFAULT_IO_ERROR_THRESHOLD = 3;

/** Error codes that say something about the device rather than about this controller. */
const DEVICE_FAULTS: readonly string[] = [ErrorCode.Io, ErrorCode.DeviceUnavailable, ErrorCode.Disconnected, ErrorCode.ShortRead];

interface Entry extends DeviceHealth {
  consecutive: number;
}

/** Counts I/O outcomes per device and tells its owner when the published list changes. */
export class DeviceHealthTracker {
  readonly #threshold: number;
  readonly #publish: (list: DeviceHealth[]) => void;
  readonly #entries = new Map<string, Entry>();

  /** `publish` receives the whole list whenever it changes (the host session writes it with its next heartbeat). */
  constructor(publish: (list: DeviceHealth[]) => void, threshold = DEFAULT_IO_ERROR_THRESHOLD) {
    this.#publish = publish;
    this.#threshold = Math.max(1, threshold);
  }

  /** Resolves or rejects as `op` does, counting its outcome against `uri`. */
  async watch<T>(uri: string, op: Promise<T>): Promise<T> {
    try {
      const value = await op;
      this.succeeded(uri);
      return value;
    } catch (err) {
      this.failed(uri, err);
      throw err;
    }
  }

  /** An I/O on `uri` succeeded: a device reported unavailable is available again. */
  succeeded(uri: string): void {
    const e = this.#entries.get(uri);
    if (e === undefined || (e.consecutive === 0 && !e.unavailable)) return;
    const flipped = e.unavailable;
    e.consecutive = 0;
    e.unavailable = false;
    if (flipped) this.#emit();
  }

  /** An I/O on `uri` failed with `err`; errors that are not the device's are ignored. */
  failed(uri: string, err: unknown): void {
    if (!isBlockrigError(err) || !DEVICE_FAULTS.includes(err.code)) return;
    let e = this.#entries.get(uri);
    if (e === undefined) {
      // Oldest entries make room: the list must fit the host record.
      if (this.#entries.size >= MAX_DEVICE_HEALTH) this.#entries.delete(this.#entries.keys().next().value as string);
      e = { uri: uri.slice(0, 512), errors: 0, unavailable: false, message: '', consecutive: 0 };
      this.#entries.set(uri, e);
    }
    e.errors++;
    e.consecutive++;
    e.message = err.message.slice(0, 200);
    if (err.code === ErrorCode.DeviceUnavailable || e.consecutive >= this.#threshold) e.unavailable = true;
    this.#emit();
  }

  /** The list as published. */
  list(): DeviceHealth[] {
    return [...this.#entries.values()].map(({ uri, errors, unavailable, message }) => ({ uri, errors, unavailable, message }));
  }

  #emit(): void {
    this.#publish(this.list());
  }
}
