/**
 * The loop driver: attaches an image file to a free kernel loop device (`/dev/loopN`), opens that through
 * the file driver, and detaches on close (also when the open fails after attaching). The device is a real
 * kernel block device, so its geometry, discard and zeroing come from the kernel, as on a disk.
 *
 * URI: `loop:///path/to/image.img`, with the file driver's `direct=1` (O_DIRECT on `/dev/loopN`) and
 * `blockSize=4096` (the loop device's logical sector size, to emulate a 4Kn disk).
 * Needs root (or access to `/dev/loop-control`).
 */
import { attachLoop } from './native/loop-control.js';
import { createFileDevice, type FileDevice } from './file.js';
import type { DriverDescriptor } from './registry.js';
import type { OpenOptions } from './types.js';
import { booleanParam, type DeviceUri } from './uri.js';
import { InvalidArgumentError, InvalidUriError } from '../src/errors.js';
import { parseSize } from '../src/units.js';
import type { Clock } from '../src/clock.js';

/** Options of `createLoopDevice`. */
export interface LoopDeviceOptions {
  /** The image file to attach. */
  image: string;
  readOnly?: boolean;
  /** O_DIRECT on the loop device. */
  direct?: boolean;
  /** Logical sector size of the loop device: 512 (default), 1024, 2048 or 4096, to emulate a 4Kn disk. */
  blockSize?: number;
  /** Write even when the image carries a foreign signature. */
  force?: boolean;
  uri?: string;
  clock?: Clock;
}

/** Attaches `image` to a free loop device and opens it. The returned device's `path` is `/dev/loopN`. */
export async function createLoopDevice(options: LoopDeviceOptions): Promise<FileDevice> {
  if (options.blockSize !== undefined && ![512, 1024, 2048, 4096].includes(options.blockSize)) {
    throw new InvalidArgumentError(`loop blockSize=${options.blockSize} must be 512, 1024, 2048 or 4096`, { details: { field: 'blockSize', value: options.blockSize } });
  }
  const loop = attachLoop(options.image, { readOnly: options.readOnly, blockSize: options.blockSize });
  return createFileDevice({
    path: loop.devicePath,
    uri: options.uri ?? `loop://${options.image}`,
    driver: 'loop',
    readOnly: options.readOnly,
    direct: options.direct,
    force: options.force,
    clock: options.clock,
    // createFileDevice calls this on close and also when its own open fails.
    afterClose: () => loop.detach(),
  });
}

async function openLoop(uri: DeviceUri, options: OpenOptions): Promise<FileDevice> {
  if (uri.path === undefined) throw new InvalidUriError(uri.text, 'a loop: URI needs an image path, as in loop:///var/lib/blockrig/disk0.img');
  const blockSize = uri.params.get('blockSize');
  return createLoopDevice({
    image: uri.path,
    uri: uri.text,
    readOnly: options.readOnly,
    force: options.force,
    direct: booleanParam(uri, 'direct'),
    blockSize: blockSize === null ? undefined : parseSize(blockSize, 'blockSize'),
  });
}

/** Registry entry of the loop driver. */
export const loopDriver: DriverDescriptor = {
  name: 'loop',
  schemes: ['loop'],
  summary: 'attach an image to a free /dev/loopN (detached on close); loop:///path/disk.img[?direct=1][&blockSize=4096]',
  open: openLoop,
};
