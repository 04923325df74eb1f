/**
 * Attaching an image file to a free kernel loop device and detaching it, through `/dev/loop-control`
 * and the loop ioctls (no losetup process). The binding is made with LO_FLAGS_AUTOCLEAR and we hold the
 * loop device open until `detach()`, so a process killed with -9 does not leak the loop device: the
 * kernel unbinds it when the last opener goes.
 *
 * In a container without udev a free number may have no `/dev/loopN` node; we create it with mknod from
 * the numbers sysfs gives (`/sys/devices/virtual/block/loopN/dev`).
 */
import { closeSync, constants as fsConstants, existsSync, openSync, readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { DeviceNotFoundError, fromSystemError, MissingDependencyError, UnsupportedError } from '../../src/errors.js';
import {
  LO_FLAGS_AUTOCLEAR,
  LO_FLAGS_READ_ONLY,
  LOOP_CLR_FD,
  LOOP_CONFIG_FILE_NAME_OFFSET,
  LOOP_CONFIG_FLAGS_OFFSET,
  LOOP_CONFIG_SIZE,
  LOOP_CONFIGURE,
  LOOP_CTL_GET_FREE,
  LOOP_INFO64_SIZE,
  LOOP_SET_BLOCK_SIZE,
  LOOP_SET_FD,
  LOOP_SET_STATUS64,
} from './ioctls.js';
import { ioctlValue, ioctlWithBuffer } from './libc.js';

/** A loop device bound to an image. */
export interface LoopAttachment {
  /** `/dev/loopN`. */
  readonly devicePath: string;
  readonly number: number;
  /** Unbinds the loop device; idempotent. */
  detach(): Promise<void>;
}

/** How to bind: `configure` tries LOOP_CONFIGURE first; `set-fd` goes straight to the pre-5.8 calls (tests use it). */
export type BindMethod = 'configure' | 'set-fd';

/** Options of `attachLoop`. */
export interface AttachOptions {
  readOnly?: boolean;
  /** Logical sector size of the loop device (512, 1024, 2048, 4096); the kernel default is 512. */
  blockSize?: number;
  method?: BindMethod;
  /** Where the `loopN` nodes live (`/dev`); tests point it at a scratch folder to exercise mknod. */
  deviceDir?: string;
}

/** How many times a number that another process took between GET_FREE and CONFIGURE is retried. */
const ATTACH_ATTEMPTS = 16;

/** Binds `imagePath` to a free `/dev/loopN`. Throws a blockrig error naming what to do on failure. */
export function attachLoop(imagePath: string, options: AttachOptions = {}): LoopAttachment {
  const access = options.readOnly === true ? fsConstants.O_RDONLY : fsConstants.O_RDWR;
  let backing: number;
  try {
    backing = openSync(imagePath, access);
  } catch (err) {
    throw fromSystemError(err, imagePath, 'open image');
  }
  try {
    const control = openControl();
    try {
      for (let attempt = 0; ; attempt++) {
        const number = ioctlValue(control, LOOP_CTL_GET_FREE, 0, 'ioctl(LOOP_CTL_GET_FREE)');
        const devicePath = ensureNode(number, options.deviceDir ?? '/dev');
        const loopFd = openSync(devicePath, access);
        try {
          bind(loopFd, backing, imagePath, options, options.method ?? 'configure');
        } catch (err) {
          closeSync(loopFd);
          if ((err as { code?: string }).code === 'EBUSY' && attempt < ATTACH_ATTEMPTS) continue;
          throw fromSystemError(err, devicePath, `attach ${imagePath}`);
        }
        return attachment(devicePath, number, loopFd);
      }
    } finally {
      closeSync(control);
    }
  } finally {
    // The kernel keeps its own reference to the backing file.
    closeSync(backing);
  }
}

function openControl(): number {
  try {
    return openSync('/dev/loop-control', fsConstants.O_RDWR);
  } catch (err) {
    if ((err as { code?: string }).code === 'ENOENT') {
      throw new MissingDependencyError('the kernel loop driver (/dev/loop-control)', 'kmod', { cause: err });
    }
    throw fromSystemError(err, '/dev/loop-control', 'open');
  }
}

/** Makes sure `/dev/loopN` exists, creating the node from sysfs's major:minor when it does not. */
function ensureNode(number: number, deviceDir: string): string {
  const devicePath = `${deviceDir}/loop${number}`;
  if (existsSync(devicePath)) return devicePath;
  let numbers: string;
  try {
    numbers = readFileSync(`/sys/devices/virtual/block/loop${number}/dev`, 'utf8').trim();
  } catch (err) {
    throw new DeviceNotFoundError(devicePath, { cause: err });
  }
  const [major, minor] = numbers.split(':');
  if (major === undefined || minor === undefined) throw new UnsupportedError(`sysfs gives "${numbers}" as the numbers of loop${number}; expected MAJOR:MINOR`);
  try {
    execFileSync('mknod', ['-m', '0660', devicePath, 'b', major, minor], { stdio: 'pipe' });
  } catch (err) {
    // Another process may have created it meanwhile.
    if (!existsSync(devicePath)) throw fromSystemError(err, devicePath, 'mknod');
  }
  return devicePath;
}

/**
 * Binds with LOOP_CONFIGURE (Linux 5.8+, one atomic call); older kernels answer ENOTTY/EINVAL and get
 * LOOP_SET_FD, then LOOP_SET_STATUS64 for the flags and LOOP_SET_BLOCK_SIZE (read-only follows the
 * backing fd's mode there).
 */
function bind(loopFd: number, backing: number, imagePath: string, options: AttachOptions, method: BindMethod): void {
  const config = loopConfig(backing, imagePath, options);
  if (method === 'configure') {
    try {
      ioctlWithBuffer(loopFd, LOOP_CONFIGURE, config, 'ioctl(LOOP_CONFIGURE)');
      return;
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'ENOTTY' && code !== 'EINVAL') throw err;
    }
  }
  ioctlValue(loopFd, LOOP_SET_FD, backing, 'ioctl(LOOP_SET_FD)');
  try {
    ioctlWithBuffer(loopFd, LOOP_SET_STATUS64, config.subarray(8, 8 + LOOP_INFO64_SIZE), 'ioctl(LOOP_SET_STATUS64)');
    if (options.blockSize !== undefined) ioctlValue(loopFd, LOOP_SET_BLOCK_SIZE, options.blockSize, 'ioctl(LOOP_SET_BLOCK_SIZE)');
  } catch (err) {
    ioctlValue(loopFd, LOOP_CLR_FD, 0, 'ioctl(LOOP_CLR_FD)');
    throw err;
  }
}

/** `struct loop_config` for LOOP_CONFIGURE: fd, block size (0: default), flags, file name for losetup -l. */
function loopConfig(backing: number, imagePath: string, options: AttachOptions): Buffer {
  const config = Buffer.alloc(LOOP_CONFIG_SIZE);
  config.writeUInt32LE(backing, 0);
  config.writeUInt32LE(options.blockSize ?? 0, 4);
  config.writeUInt32LE(LO_FLAGS_AUTOCLEAR | (options.readOnly === true ? LO_FLAGS_READ_ONLY : 0), LOOP_CONFIG_FLAGS_OFFSET);
  config.write(imagePath.slice(-63), LOOP_CONFIG_FILE_NAME_OFFSET, 63, 'utf8');
  return config;
}

function attachment(devicePath: string, number: number, loopFd: number): LoopAttachment {
  let detached: Promise<void> | undefined;
  return {
    devicePath,
    number,
    detach: () => {
      detached ??= (async () => {
        try {
          ioctlValue(loopFd, LOOP_CLR_FD, 0, 'ioctl(LOOP_CLR_FD)');
        } catch (err) {
          // ENXIO: already unbound. Anything else still leaves autoclear to unbind at our close below.
          if ((err as { code?: string }).code !== 'ENXIO') process.emitWarning(`detaching ${devicePath}: ${String(err)}`);
        } finally {
          closeSync(loopFd);
        }
        await waitUnbound(number);
      })();
      return detached;
    },
  };
}

/** The kernel unbinds at the last close; wait briefly so a caller's next step sees the device free. */
async function waitUnbound(number: number): Promise<void> {
  for (let i = 0; i < 500 && existsSync(`/sys/block/loop${number}/loop/backing_file`); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
