/**
 * The file driver: a regular file (a disk image) or a block device node (`/dev/loop3`, `/dev/sdb`).
 *
 * URI: a path (`/dev/loop3`, `./disk.img`) or `file:///path`, with options in the query:
 * `direct=1` (O_DIRECT through aligned buffers), `create=1&size=64MiB` (create a sparse image when the
 * file is missing), `blockSize=4096` (logical block size of a regular file; 512 by default, 4096 with
 * direct). A plain path may carry the query too; name a file whose name holds `?` with a `file:` URI.
 *
 * I/O is positional (pread/pwrite at an offset), so concurrent requests need no lock. Flush is
 * fdatasync; FUA writes go through an O_DSYNC descriptor. Trim and writeZeroes use fallocate (regular files) or
 * BLKDISCARD/BLKZEROOUT (block devices) and fall back to writing zero buffers where the filesystem says
 * EOPNOTSUPP. Safety (`signatures.ts`): a write-capable open of an existing file or device that carries
 * a foreign signature opens read-only and refuses writes with `ForeignDataError`, unless `force`.
 */
import { constants as fsConstants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { BlockDeviceBase, NO_CAPABILITIES } from './base.js';
import { allocAligned, alignedView, DIRECT_IO_ALIGNMENT, isAligned } from './native/aligned.js';
import { blockDeviceGeometry, isRotational, supportsDiscard } from './native/blockdev.js';
import { BLKDISCARD, BLKZEROOUT, FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, FALLOC_FL_ZERO_RANGE } from './native/ioctls.js';
import { fallocateAsync, ioctlWithBufferAsync } from './native/libc.js';
import type { DriverDescriptor } from './registry.js';
import { detectSignature, type Signature } from './signatures.js';
import type { BlockDevice, OpenOptions, ReadOptions } from './types.js';
import type { DeviceUri } from './uri.js';
import { fastPath, readFully, writeFully, type FastPath } from './file-io.js';
import { fileOptionsFromUri } from './file-uri.js';
import { ForeignDataError, fromSystemError, ShortReadError, UnsupportedError } from '../src/errors.js';
import type { Clock } from '../src/clock.js';

/** Options of `createFileDevice`. */
export interface FileDeviceOptions {
  /** Path of a regular file or block device node. */
  path: string;
  readOnly?: boolean;
  /** Open with O_DIRECT; all I/O then goes through aligned buffers. */
  direct?: boolean;
  /** Write even when a foreign signature is found. */
  force?: boolean;
  /** Create a sparse regular file of this many bytes when `path` does not exist. */
  createSize?: number;
  /** Logical block size of a regular file (ignored for block devices, which report their own). */
  blockSize?: number;
  /** URI to report (default: the path). */
  uri?: string;
  /** Driver name to report (the loop driver reuses this class). */
  driver?: string;
  /** Called once after the file is closed (the loop driver detaches there). */
  afterClose?: () => Promise<void>;
  clock?: Clock;
}

/** Largest request tried on the page-cache fast path (see `FastPath.maxBytes`), measured with the benches. */
const FAST_PATH_MAX = 1024 * 1024;

/** Largest zero buffer written when the kernel cannot zero a range for us. */
const ZERO_CHUNK = 1024 * 1024;

/** An open regular file or block device. */
export class FileDevice extends BlockDeviceBase {
  /** The path that was opened. */
  readonly path: string;
  /** True for a block device node, false for a regular file. */
  readonly isBlockDevice: boolean;
  /** True when opened with O_DIRECT. */
  readonly direct: boolean;
  /** The foreign signature that made this device refuse writes, if any. */
  readonly foreignSignature: Signature | undefined;
  readonly #handle: FileHandle;
  /** The page-cache fast path of buffered descriptors (`file-io.ts`); never with O_DIRECT. */
  readonly #fast: FastPath;
  /** A second descriptor on the same inode opened O_DSYNC, for FUA writes; opened on the first one. */
  #dsync: Promise<FileHandle> | undefined;
  readonly #afterClose: (() => Promise<void>) | undefined;

  /** Use `createFileDevice`; the constructor takes an already opened and examined file. */
  constructor(
    handle: FileHandle,
    geometry: { size: number; logicalBlockSize: number; physicalBlockSize: number; isBlockDevice: boolean; trim: boolean; rotational: boolean },
    options: FileDeviceOptions,
    foreignSignature: Signature | undefined,
  ) {
    super({
      uri: options.uri ?? options.path,
      driver: options.driver ?? 'file',
      size: geometry.size,
      logicalBlockSize: geometry.logicalBlockSize,
      physicalBlockSize: geometry.physicalBlockSize,
      clock: options.clock,
      capabilities: {
        ...NO_CAPABILITIES,
        readOnly: options.readOnly === true || foreignSignature !== undefined,
        flush: true,
        // Native FUA: such writes go through an O_DSYNC descriptor (a FUA write on a block device).
        fua: true,
        trim: geometry.trim,
        // Punched holes in a file read as zeroes; a block device's discard promises nothing.
        trimZeroes: !geometry.isBlockDevice,
        writeZeroes: true,
        rotational: geometry.rotational,
        multiConn: true,
      },
    });
    this.#handle = handle;
    this.path = options.path;
    this.isBlockDevice = geometry.isBlockDevice;
    this.direct = options.direct === true;
    this.#fast = fastPath(!this.direct, FAST_PATH_MAX);
    this.foreignSignature = foreignSignature;
    this.#afterClose = options.afterClose;
  }

  protected override checkRequest(offset: number, length: number, writes: boolean): void {
    // Name the signature rather than a bare "read-only": the operator needs to know why and what to do.
    if (writes && !this.closed && this.foreignSignature !== undefined) throw new ForeignDataError(this.uri, this.foreignSignature.description);
    super.checkRequest(offset, length, writes);
  }

  protected async doRead(offset: number, length: number, _options: ReadOptions): Promise<Buffer> {
    const buffer = this.direct ? allocAligned(length, DIRECT_IO_ALIGNMENT, true) : Buffer.allocUnsafe(length);
    await this.#readAt(offset, buffer);
    return buffer;
  }

  protected override async doReadInto(offset: number, target: Uint8Array): Promise<void> {
    // O_DIRECT needs aligned memory: a caller's unaligned view is read through a bounce buffer.
    if (!this.direct || isAligned(target, DIRECT_IO_ALIGNMENT)) await this.#readAt(offset, target);
    else target.set(await this.doRead(offset, target.length, {}));
  }

  async #readAt(offset: number, target: Uint8Array): Promise<void> {
    let got: number;
    try {
      got = await readFully(this.#handle.fd, target, offset, this.#fast);
    } catch (err) {
      throw fromSystemError(err, this.uri, 'read', offset, target.length);
    }
    if (got < target.length) throw new ShortReadError(this.uri, offset, target.length, got);
  }

  protected async doWrite(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    try {
      const payload = this.direct ? alignedView(data, DIRECT_IO_ALIGNMENT) : data;
      // A FUA write waits for the device by definition: it always goes to the thread pool.
      if (fua) await writeFully((await this.#dsyncHandle()).fd, payload, offset);
      else await writeFully(this.#handle.fd, payload, offset, this.#fast);
    } catch (err) {
      throw fromSystemError(err, this.uri, 'write', offset, data.length);
    }
  }

  protected async doFlush(): Promise<void> {
    try {
      await this.#handle.datasync();
    } catch (err) {
      throw fromSystemError(err, this.uri, 'flush');
    }
  }

  protected override async doTrim(offset: number, length: number): Promise<void> {
    if (this.isBlockDevice) await this.#native('discard', offset, length, () => ioctlWithBufferAsync(this.#handle.fd, BLKDISCARD, range(offset, length), 'ioctl(BLKDISCARD)'));
    else await this.#zeroRange(offset, length, [FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE]);
  }

  protected override async doWriteZeroes(offset: number, length: number, noUnmap: boolean, fua: boolean): Promise<void> {
    await this.#zeroes(offset, length, noUnmap);
    // fallocate and the zeroing ioctls are not FUA: make the range durable before resolving.
    if (fua) await this.doFlush();
  }

  async #zeroes(offset: number, length: number, noUnmap: boolean): Promise<void> {
    if (this.isBlockDevice) {
      const zeroOut = (): Promise<void> => ioctlWithBufferAsync(this.#handle.fd, BLKZEROOUT, range(offset, length), 'ioctl(BLKZEROOUT)');
      // BLKZEROOUT never unmaps; fallocate(PUNCH_HOLE) on a block device zeroes by unmapping where it can.
      if (noUnmap) await this.#native('write zeroes', offset, length, zeroOut);
      else await this.#native('write zeroes', offset, length, () => fallocateAsync(this.#handle.fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length).catch(zeroOut));
    } else {
      const modes = noUnmap ? [FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE] : [FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE];
      await this.#zeroRange(offset, length, modes);
    }
  }

  protected async doClose(): Promise<void> {
    try {
      await (await this.#dsync?.catch(() => undefined))?.close();
      await this.#handle.close();
    } finally {
      await this.#afterClose?.();
    }
  }

  /** Zeroes a file range with the first fallocate mode the filesystem supports, else with zero buffers. */
  async #zeroRange(offset: number, length: number, modes: number[]): Promise<void> {
    for (const mode of modes) {
      try {
        await fallocateAsync(this.#handle.fd, mode, offset, length);
        return;
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code !== 'EOPNOTSUPP' && code !== 'ENOTSUP' && code !== 'EINVAL') throw fromSystemError(err, this.uri, 'fallocate', offset, length);
      }
    }
    const zeroes = this.direct ? allocAligned(Math.min(length, ZERO_CHUNK)) : Buffer.alloc(Math.min(length, ZERO_CHUNK));
    for (let done = 0; done < length; done += zeroes.length) {
      const n = Math.min(zeroes.length, length - done);
      await this.doWrite(offset + done, zeroes.subarray(0, n), false);
    }
  }

  /** Reopens our own descriptor through /proc (the same inode even if the path changed) with O_DSYNC. */
  #dsyncHandle(): Promise<FileHandle> {
    const flags = fsConstants.O_WRONLY | fsConstants.O_DSYNC | (this.direct ? fsConstants.O_DIRECT : 0);
    this.#dsync ??= open(`/proc/self/fd/${this.#handle.fd}`, flags).catch((err: unknown) => {
      this.#dsync = undefined;
      throw err;
    });
    return this.#dsync;
  }

  async #native(operation: string, offset: number, length: number, call: () => Promise<void>): Promise<void> {
    try {
      await call();
    } catch (err) {
      throw fromSystemError(err, this.uri, operation, offset, length);
    }
  }
}

/** The u64[2] {start, length} argument of BLKDISCARD and BLKZEROOUT. */
function range(offset: number, length: number): Buffer {
  const arg = Buffer.alloc(16);
  arg.writeBigUInt64LE(BigInt(offset), 0);
  arg.writeBigUInt64LE(BigInt(length), 8);
  return arg;
}

/** Opens a regular file or block device; see the module comment. */
export async function createFileDevice(options: FileDeviceOptions): Promise<FileDevice> {
  const uri = options.uri ?? options.path;
  const created = options.createSize !== undefined && options.readOnly !== true && (await createSparseFile(options.path, options.createSize, uri));
  let flags = options.readOnly === true ? fsConstants.O_RDONLY : fsConstants.O_RDWR;
  if (options.direct === true) flags |= fsConstants.O_DIRECT;
  let handle: FileHandle;
  try {
    handle = await open(options.path, flags);
  } catch (err) {
    await options.afterClose?.();
    if (options.direct === true && (err as { code?: string }).code === 'EINVAL') {
      throw new UnsupportedError(`the filesystem holding ${options.path} does not support O_DIRECT (tmpfs before Linux 6.6, some FUSE filesystems): open it without direct=1`, { cause: err });
    }
    throw fromSystemError(err, uri, 'open');
  }
  try {
    const stat = await handle.stat();
    let geometry;
    if (stat.isBlockDevice()) {
      const kernel = blockDeviceGeometry(handle.fd);
      geometry = { ...kernel, isBlockDevice: true, trim: supportsDiscard(stat.rdev), rotational: isRotational(stat.rdev) };
    } else if (stat.isFile()) {
      const logicalBlockSize = options.blockSize ?? (options.direct === true ? 4096 : 512);
      const physicalBlockSize = Math.max(logicalBlockSize, stat.blksize > 0 && stat.blksize <= 65536 ? stat.blksize : 4096);
      geometry = { size: stat.size, logicalBlockSize, physicalBlockSize, isBlockDevice: false, trim: true, rotational: isRotational(stat.dev) };
    } else {
      throw new UnsupportedError(`${options.path} is neither a regular file nor a block device: give an image file or a /dev node such as /dev/loop3`);
    }
    let foreign: Signature | undefined;
    if (options.readOnly !== true && options.force !== true && !created) {
      const reader = rawReader(handle, options.direct === true, uri);
      const found = await detectSignature(reader, geometry.size, geometry.logicalBlockSize);
      if (found !== undefined && !found.ours) foreign = found;
    }
    return new FileDevice(handle, geometry, options, foreign);
  } catch (err) {
    await handle.close();
    await options.afterClose?.();
    throw fromSystemError(err, uri, 'open');
  }
}

/** Creates a sparse file of `size` bytes unless it exists; true when it was created. */
async function createSparseFile(path: string, size: number, uri: string): Promise<boolean> {
  let handle: FileHandle;
  try {
    handle = await open(path, 'wx');
  } catch (err) {
    if ((err as { code?: string }).code === 'EEXIST') return false;
    throw fromSystemError(err, uri, 'create');
  }
  try {
    await handle.truncate(size);
  } finally {
    await handle.close();
  }
  return true;
}

/** Reads for the signature check, before the device object exists. */
function rawReader(handle: FileHandle, direct: boolean, uri: string): (offset: number, length: number) => Promise<Buffer> {
  return async (offset, length) => {
    const buffer = direct ? allocAligned(length, DIRECT_IO_ALIGNMENT, true) : Buffer.allocUnsafe(length);
    const got = await readFully(handle.fd, buffer, offset);
    if (got < length) throw new ShortReadError(uri, offset, length, got);
    return buffer;
  };
}

/** Registry entry of the file driver. */
export const fileDriver: DriverDescriptor = {
  name: 'file',
  schemes: ['file'],
  summary: 'a regular file or block device path (/dev/loop3, ./disk.img); ?direct=1 for O_DIRECT, ?create=1&size=64MiB',
  // async so that a bad option rejects the returned promise rather than throwing at the caller.
  open: async (uri: DeviceUri, options: OpenOptions): Promise<BlockDevice> => createFileDevice(fileOptionsFromUri(uri, options)),
};
