/**
 * The built-in drivers and `openDevice`, the one way the rest of blockrig opens a device.
 * A new driver adds its descriptor to `BUILTIN_DRIVERS`.
 */
import { faultDriver } from './fault.js';
import { fileDriver } from './file.js';
import { iscsiDriver } from './iscsi.js';
import { loopDriver } from './loop.js';
import { memoryDriver } from './memory.js';
import { nbdDriver } from './nbd.js';
import { DriverRegistry, type DriverDescriptor } from './registry.js';
import type { BlockDevice, OpenOptions } from './types.js';
import { volumeDriver } from '../src/volume/volume-driver.js';

/** Every driver shipped with blockrig. */
export const BUILTIN_DRIVERS: readonly DriverDescriptor[] = [memoryDriver, fileDriver, loopDriver, faultDriver, nbdDriver, iscsiDriver, volumeDriver];

/** The process-wide registry of built-in drivers. */
export const defaultRegistry = new DriverRegistry(BUILTIN_DRIVERS);

/** Opens a device by URI or path with the built-in drivers. */
export function openDevice(uri: string, options?: OpenOptions): Promise<BlockDevice> {
  return defaultRegistry.open(uri, options);
}

export type { BlockDevice, OpenOptions } from './types.js';
