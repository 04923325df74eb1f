/**
 * The driver registry: `openDevice(uri)` picks the driver by the URI's scheme. Each driver file exports
 * one `DriverDescriptor`; `drivers/index.ts` lists them. Wrapper drivers (fault) open their inner device
 * through the `openDevice` they are given.
 */
import { UnknownDriverError } from '../src/errors.js';
import type { BlockDevice, OpenOptions } from './types.js';
import { parseDeviceUri, type DeviceUri } from './uri.js';

/** What a driver's file exports for the registry. */
export interface DriverDescriptor {
  /** Driver name, as in `BlockDevice.driver`. */
  readonly name: string;
  /** URI schemes it opens (`file` also takes plain paths). */
  readonly schemes: readonly string[];
  /** One line for `blockrig device drivers`. */
  readonly summary: string;
  /** Opens the device. `openInner` opens another URI (for wrappers). */
  open(uri: DeviceUri, options: OpenOptions, openInner: (uri: string, options?: OpenOptions) => Promise<BlockDevice>): Promise<BlockDevice>;
}

/** A set of drivers by scheme. */
export class DriverRegistry {
  readonly #bySchema = new Map<string, DriverDescriptor>();

  constructor(drivers: readonly DriverDescriptor[] = []) {
    for (const driver of drivers) this.register(driver);
  }

  /** Adds a driver; a later registration of a scheme replaces an earlier one. */
  register(driver: DriverDescriptor): void {
    for (const scheme of driver.schemes) this.#bySchema.set(scheme, driver);
  }

  /** The registered drivers, each once. */
  get drivers(): DriverDescriptor[] {
    return [...new Set(this.#bySchema.values())];
  }

  /** Opens the device named by `uri`. */
  open(uri: string, options: OpenOptions = {}): Promise<BlockDevice> {
    const parsed = parseDeviceUri(uri);
    const driver = this.#bySchema.get(parsed.scheme);
    if (!driver) return Promise.reject(new UnknownDriverError(parsed.scheme, [...this.#bySchema.keys()].sort()));
    return driver.open(parsed, options, (inner, innerOptions) => this.open(inner, innerOptions ?? options));
  }
}
