/**
 * `BlockDeviceBase` owns everything the contract in `types.ts` asks of every driver that is not I/O:
 * argument, range and alignment checks, read-only refusal, the closed state and draining on close,
 * availability events, FUA emulation and writeZeroes emulation. A driver extends it and writes only
 * the `do*` methods, which are called with requests already checked.
 */
import { systemClock, type Clock } from '../src/clock.js';
import {
  CancelledError,
  DeviceClosedError,
  OutOfRangeError,
  ReadOnlyError,
  UnalignedError,
  UnsupportedError,
} from '../src/errors.js';
import type {
  AvailabilityChange,
  BlockDevice,
  DeviceCapabilities,
  ReadOptions,
  WriteOptions,
  WriteZeroesOptions,
} from './types.js';

/** Capabilities with every flag false; drivers spread it and turn on what they have. */
export const NO_CAPABILITIES: DeviceCapabilities = {
  readOnly: false,
  flush: false,
  fua: false,
  trim: false,
  trimZeroes: false,
  writeZeroes: false,
  rotational: false,
  multiConn: false,
};

/** What a driver tells the base class about its device. */
export interface DeviceGeometry {
  uri: string;
  driver: string;
  size: number;
  logicalBlockSize: number;
  physicalBlockSize?: number;
  capabilities: DeviceCapabilities;
  clock?: Clock;
}

/** Largest buffer used when emulating writeZeroes. */
const ZERO_CHUNK = 1024 * 1024;

/** The base of every driver; see the module comment. */
export abstract class BlockDeviceBase implements BlockDevice {
  readonly uri: string;
  readonly driver: string;
  readonly size: number;
  readonly logicalBlockSize: number;
  readonly physicalBlockSize: number;
  readonly capabilities: DeviceCapabilities;
  protected readonly clock: Clock;

  #closed = false;
  #closing: Promise<void> | undefined;
  #inFlight = new Set<Promise<unknown>>();
  #available = true;
  #listeners = new Set<(change: AvailabilityChange) => void>();

  protected constructor(geometry: DeviceGeometry) {
    const physical = geometry.physicalBlockSize ?? geometry.logicalBlockSize;
    if (!isPowerOfTwo(geometry.logicalBlockSize) || physical % geometry.logicalBlockSize !== 0) {
      throw new UnsupportedError(
        `device ${geometry.uri} reports block sizes ${geometry.logicalBlockSize}/${physical}; blockrig needs a power-of-two logical size dividing the physical size`,
      );
    }
    this.uri = geometry.uri;
    this.driver = geometry.driver;
    this.size = geometry.size - (geometry.size % geometry.logicalBlockSize);
    this.logicalBlockSize = geometry.logicalBlockSize;
    this.physicalBlockSize = physical;
    this.capabilities = geometry.capabilities;
    this.clock = geometry.clock ?? systemClock;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get available(): boolean {
    return this.#available;
  }

  read(offset: number, length: number, options: ReadOptions = {}): Promise<Buffer> {
    return this.#run(offset, length, false, options.signal, () =>
      length === 0 ? Promise.resolve(Buffer.alloc(0)) : this.doRead(offset, length, options),
    );
  }

  readInto(offset: number, target: Uint8Array, options: ReadOptions = {}): Promise<void> {
    return this.#run(offset, target.length, false, options.signal, () =>
      target.length === 0 ? Promise.resolve() : this.doReadInto(offset, target, options),
    );
  }

  write(offset: number, data: Uint8Array, options: WriteOptions = {}): Promise<void> {
    return this.#run(offset, data.length, true, options.signal, async () => {
      if (data.length === 0) return;
      const nativeFua = options.fua === true && this.capabilities.fua;
      await this.doWrite(offset, data, nativeFua);
      if (options.fua === true && !nativeFua) await this.#flushIfCached();
    });
  }

  flush(): Promise<void> {
    return this.#run(0, 0, false, undefined, () => this.#flushIfCached());
  }

  trim(offset: number, length: number): Promise<void> {
    return this.#run(offset, length, true, undefined, () => {
      if (!this.capabilities.trim) throw new UnsupportedError(`device ${this.uri} does not support trim`);
      return length === 0 ? Promise.resolve() : this.doTrim(offset, length);
    });
  }

  writeZeroes(offset: number, length: number, options: WriteZeroesOptions = {}): Promise<void> {
    return this.#run(offset, length, true, options.signal, async () => {
      if (length === 0) return;
      const nativeFua = options.fua === true && this.capabilities.fua;
      if (this.capabilities.writeZeroes) {
        await this.doWriteZeroes(offset, length, options.noUnmap === true, nativeFua);
      } else {
        const zeroes = Buffer.alloc(Math.min(length, ZERO_CHUNK));
        for (let done = 0; done < length; done += zeroes.length) {
          const n = Math.min(zeroes.length, length - done);
          await this.doWrite(offset + done, n === zeroes.length ? zeroes : zeroes.subarray(0, n), nativeFua);
        }
      }
      if (options.fua === true && !nativeFua) await this.#flushIfCached();
    });
  }

  close(): Promise<void> {
    if (this.#closing !== undefined) return this.#closing;
    this.#closed = true;
    this.#closing = (async () => {
      await Promise.allSettled([...this.#inFlight]);
      await this.doClose();
    })();
    return this.#closing;
  }

  onAvailabilityChange(listener: (change: AvailabilityChange) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Drivers call this when they learn the device went away or came back; repeats are ignored. */
  protected setAvailable(available: boolean, reason: string): void {
    if (available === this.#available) return;
    this.#available = available;
    const change: AvailabilityChange = { available, reason, at: this.clock.now() };
    for (const listener of [...this.#listeners]) listener(change);
  }

  /** Reads exactly `length` (> 0) bytes; checks are done. */
  protected abstract doRead(offset: number, length: number, options: ReadOptions): Promise<Buffer>;
  /** Writes `data` (non-empty); with `fua` only when `capabilities.fua` is true. */
  protected abstract doWrite(offset: number, data: Uint8Array, fua: boolean): Promise<void>;
  /** Makes completed writes durable; called only when `capabilities.flush` is true. */
  protected abstract doFlush(): Promise<void>;
  /** Releases the device; called once, after in-flight I/O settled. */
  protected abstract doClose(): Promise<void>;

  /**
   * Fills `target` (non-empty) from `offset`; checks are done. This fallback is `doRead` plus a copy, so
   * every driver has `readInto`; drivers that can read into the caller's memory override it.
   */
  protected async doReadInto(offset: number, target: Uint8Array, options: ReadOptions): Promise<void> {
    target.set(await this.doRead(offset, target.length, options));
  }

  /** Discards a range; called only when `capabilities.trim` is true. */
  protected doTrim(_offset: number, _length: number): Promise<void> {
    return Promise.reject(new UnsupportedError(`device ${this.uri} does not support trim`));
  }

  /** Zeroes a range natively; called only when `capabilities.writeZeroes` is true. */
  protected doWriteZeroes(_offset: number, _length: number, _noUnmap: boolean, _fua: boolean): Promise<void> {
    return Promise.reject(new UnsupportedError(`device ${this.uri} does not support native write zeroes`));
  }

  /** Throws the contract's error for a bad request; used by `#run` and by wrappers that pre-check. */
  protected checkRequest(offset: number, length: number, writes: boolean): void {
    if (this.#closed) throw new DeviceClosedError(this.uri);
    if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0 || offset + length > this.size) {
      throw new OutOfRangeError(this.uri, offset, length, this.size);
    }
    if (offset % this.logicalBlockSize !== 0 || length % this.logicalBlockSize !== 0) {
      throw new UnalignedError(this.uri, offset, length, this.logicalBlockSize);
    }
    if (writes && this.capabilities.readOnly) throw new ReadOnlyError(this.uri);
  }

  #flushIfCached(): Promise<void> {
    return this.capabilities.flush ? this.doFlush() : Promise.resolve();
  }

  #run<T>(offset: number, length: number, writes: boolean, signal: AbortSignal | undefined, io: () => Promise<T>): Promise<T> {
    // The checks run synchronously (an async function runs until its first await), so a request issued
    // after close() is refused even though close() has not finished.
    const request = (async () => {
      this.checkRequest(offset, length, writes);
      if (signal?.aborted === true) throw new CancelledError(`request on ${this.uri} cancelled before it was issued`);
      return io();
    })();
    this.#inFlight.add(request);
    const forget = (): void => {
      this.#inFlight.delete(request);
    };
    request.then(forget, forget);
    return request;
  }

}

/**
 * Reads `target.length` bytes at `offset` into `target` on any `BlockDevice`: its `readInto` when it has
 * one (every `BlockDeviceBase` driver), otherwise `read` and a copy.
 */
export async function readInto(device: BlockDevice, offset: number, target: Uint8Array, options?: ReadOptions): Promise<void> {
  if (device.readInto !== undefined) return device.readInto(offset, target, options);
  target.set(await device.read(offset, target.length, options));
}

/** True for 1, 2, 4, 8, ... */
export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n > 0 && (n & (n - 1)) === 0;
}
