/**
 * The BlockDevice contract: what every driver (memory, file, loop, nbd, iscsi, fault) promises.
 *
 * Numbers: offsets, lengths and sizes are byte counts held in a JavaScript `number`, which is exact for
 * integers up to 2^53 (8 PiB). Every value crossing this interface must be a safe, non-negative integer;
 * anything else is rejected with `OutOfRangeError` before any I/O is issued.
 *
 * Alignment: `offset` and `length` of every request must be multiples of `logicalBlockSize`; otherwise the
 * request is rejected with `UnalignedError` and nothing is read or written. Callers that need byte
 * granularity do read-modify-write above this layer. A zero-length request is valid and does nothing
 * (a read returns an empty buffer).
 *
 * Range: `offset + length` must not exceed `size`; otherwise `OutOfRangeError`, and nothing is read or
 * written (no partial I/O at the end of the device).
 *
 * Short reads: `read` resolves with exactly `length` bytes or rejects. If the medium returns fewer bytes
 * (a file truncated under us, a truncated reply) the read rejects with `ShortReadError`.
 *
 * Reading into the caller's memory: `readInto(offset, target)` keeps the same obligations as
 * `read(offset, target.length)` but fills `target` instead of allocating, so a hot path (the NBD server,
 * a copy loop) reuses its buffers and the garbage collector has nothing to reclaim. It is optional in this
 * interface so that any object can still be a `BlockDevice`; every `BlockDeviceBase` driver has it
 * (natively, or as `read` plus a copy), and `readInto()` in `base.ts` serves callers holding any device.
 * While the promise is pending the device may write into `target` at any time; once it settles the device
 * no longer touches it, so the caller may reuse it at once (after a rejection its content is unspecified).
 * `target` may be any `Uint8Array` view (any byte offset, any address): drivers that need aligned memory
 * (O_DIRECT) read through a bounce buffer when it is not aligned.
 *
 * Closing: `close()` stops new I/O at once (new requests reject with `DeviceClosedError`), waits for
 * requests already issued to settle, then releases the device (detaching a loop device, disconnecting a
 * session). It is idempotent: a second call resolves when the first finishes.
 *
 * Availability: a device that stops answering (pulled, offline, its server gone, a fault rule) rejects I/O
 * with `DeviceUnavailableError` or `DeviceIoError`, sets `available` to false and tells every listener
 * registered with `onAvailabilityChange`; when it answers again it sets `available` back to true and tells
 * them again. Listeners are called synchronously, once per change, never for a repeated state.
 *
 * Durability: a write resolves when the device has accepted it; it is durable after a later `flush()`
 * resolves, or at once when written with `{ fua: true }`. Devices without native FUA emulate it with a write
 * followed by a flush, so callers may always ask for it.
 *
 * Cancellation: an `AbortSignal` that is already aborted rejects the request with `CancelledError` before
 * any I/O. A driver may also stop a request that is in flight when the signal fires; a write stopped that way
 * may have landed in part.
 *
 * Errors: every rejection is a `BlockrigError` from `src/errors.ts` with a stable `code`.
 */

/** What a device can do. Requests for something it cannot do reject with `UnsupportedError`. */
export interface DeviceCapabilities {
  /** No write, trim, writeZeroes; they reject with `ReadOnlyError`. */
  readonly readOnly: boolean;
  /** `flush()` reaches stable storage. When false, `flush()` resolves at once (nothing is cached). */
  readonly flush: boolean;
  /** Native forced unit access. When false, FUA is emulated with write + flush. */
  readonly fua: boolean;
  /** `trim()` is supported (discard; contents of trimmed blocks are then unspecified unless `trimZeroes`). */
  readonly trim: boolean;
  /** A trimmed range reads back as zeroes. */
  readonly trimZeroes: boolean;
  /** `writeZeroes()` is done natively; when false it is emulated by writing zero buffers. */
  readonly writeZeroes: boolean;
  /** Spinning medium (seek cost); from the kernel's `queue/rotational` for block devices. */
  readonly rotational: boolean;
  /** Several connections/handles to this device see each other's writes after flush (NBD multi-conn). */
  readonly multiConn: boolean;
}

/** A change of a device's availability. */
export interface AvailabilityChange {
  readonly available: boolean;
  /** Why, in words an operator understands ("fault rule: offline", "nbd server closed the connection"). */
  readonly reason: string;
  /** When, on the process's monotonic clock, in milliseconds. */
  readonly at: number;
}

/** Options of `read`. */
export interface ReadOptions {
  readonly signal?: AbortSignal;
}

/** Options of `write`. */
export interface WriteOptions {
  /** Forced unit access: durable when the promise resolves. */
  readonly fua?: boolean;
  readonly signal?: AbortSignal;
}

/** Options of `writeZeroes`. */
export interface WriteZeroesOptions extends WriteOptions {
  /** Do not deallocate (punch holes in) the range; write real zeroes. */
  readonly noUnmap?: boolean;
}

/** A block device. See the module comment for the obligations every implementation keeps. */
export interface BlockDevice {
  /** The URI the device was opened with, with any password removed. */
  readonly uri: string;
  /** The driver's name (`memory`, `file`, `loop`, `nbd`, `iscsi`, `fault`). */
  readonly driver: string;
  /** Size in bytes, a multiple of `logicalBlockSize`. */
  readonly size: number;
  /** The smallest unit of I/O; offsets and lengths must be multiples of it (512 or 4096 usually). */
  readonly logicalBlockSize: number;
  /** The unit the medium writes atomically; a multiple of `logicalBlockSize`. */
  readonly physicalBlockSize: number;
  /** What the device can do. */
  readonly capabilities: DeviceCapabilities;
  /** True once `close()` has been called. */
  readonly closed: boolean;
  /** False while the device is known to be offline. */
  readonly available: boolean;

  /** Reads exactly `length` bytes at `offset`. */
  read(offset: number, length: number, options?: ReadOptions): Promise<Buffer>;
  /** Optional: reads exactly `target.length` bytes at `offset` into `target` (see "Reading into the caller's memory"). */
  readInto?(offset: number, target: Uint8Array, options?: ReadOptions): Promise<void>;
  /** Writes `data` at `offset`; `data.length` is the request length. */
  write(offset: number, data: Uint8Array, options?: WriteOptions): Promise<void>;
  /** Makes every write that resolved before this call durable. */
  flush(): Promise<void>;
  /** Discards a range (TRIM/UNMAP/punch hole). Rejects with `UnsupportedError` when `capabilities.trim` is false. */
  trim(offset: number, length: number): Promise<void>;
  /** Makes a range read back as zeroes, natively or by writing zeroes. */
  writeZeroes(offset: number, length: number, options?: WriteZeroesOptions): Promise<void>;
  /** Stops new I/O, drains what is in flight, releases the device. Idempotent. */
  close(): Promise<void>;
  /** Registers a listener for availability changes; returns a function that removes it. */
  onAvailabilityChange(listener: (change: AvailabilityChange) => void): () => void;
  /**
   * Optional: what the driver knows beyond the geometry (SCSI inquiry data, an NBD export's description),
   * as labelled values in display order, for `blockrig device probe`. Never performs I/O.
   */
  describe?(): DeviceDescription;
}

/** Labelled facts about a device, in display order (see `BlockDevice.describe`). */
export type DeviceDescription = Readonly<Record<string, string | number | boolean>>;

/** Options every driver accepts when opening a device through the registry. */
export interface OpenOptions {
  /** Open without write access. */
  readonly readOnly?: boolean;
  /**
   * Allow writing to a device that carries data blockrig did not write (a filesystem, a partition table,
   * an LVM or md superblock). Without it such a device opens read-only and writes are refused with
   * `ForeignDataError`.
   */
  readonly force?: boolean;
}
