/**
 * The memory driver: a sparse in-process device. A real driver, not a mock: it keeps the whole contract,
 * and its test hooks (`MemoryDevice.store`) only observe.
 *
 * URI: `memory:?size=64MiB[&blockSize=512][&physicalBlockSize=4096]` opens a fresh device;
 * `memory://NAME?size=...` opens the named store of this process, created on first open, so several
 * opens (several simulated controllers) share one medium, as they would share a disk.
 */
import { BlockDeviceBase, NO_CAPABILITIES } from './base.js';
import type { DriverDescriptor } from './registry.js';
import type { BlockDevice, OpenOptions } from './types.js';
import { parseSize } from '../src/units.js';
import { InvalidUriError } from '../src/errors.js';
import type { DeviceUri } from './uri.js';

const PAGE = 64 * 1024;

/** Sparse pages of bytes; unwritten pages read as zeroes. */
export class MemoryStore {
  readonly size: number;
  readonly #pages = new Map<number, Buffer>();

  constructor(size: number) {
    this.size = size;
  }

  /** Bytes actually allocated. */
  get allocated(): number {
    return this.#pages.size * PAGE;
  }

  read(offset: number, length: number): Buffer {
    const out = Buffer.allocUnsafe(length);
    this.readInto(offset, out);
    return out;
  }

  /** Copies `target.length` bytes at `offset` into `target`; unwritten pages read as zeroes. */
  readInto(offset: number, target: Uint8Array): void {
    this.#forEachPage(offset, target.length, (page, pageOffset, done, n) => {
      const stored = this.#pages.get(page);
      if (stored) target.set(stored.subarray(pageOffset, pageOffset + n), done);
      else target.fill(0, done, done + n);
    });
  }

  write(offset: number, data: Uint8Array): void {
    this.#forEachPage(offset, data.length, (page, pageOffset, done, n) => {
      let stored = this.#pages.get(page);
      if (!stored) {
        stored = Buffer.alloc(PAGE);
        this.#pages.set(page, stored);
      }
      stored.set(data.subarray(done, done + n), pageOffset);
    });
  }

  /** Zeroes a range, freeing whole pages. */
  zero(offset: number, length: number): void {
    this.#forEachPage(offset, length, (page, pageOffset, _done, n) => {
      if (n === PAGE) this.#pages.delete(page);
      else this.#pages.get(page)?.fill(0, pageOffset, pageOffset + n);
    });
  }

  #forEachPage(offset: number, length: number, visit: (page: number, pageOffset: number, done: number, n: number) => void): void {
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const page = Math.floor(at / PAGE);
      const pageOffset = at % PAGE;
      const n = Math.min(PAGE - pageOffset, length - done);
      visit(page, pageOffset, done, n);
      done += n;
    }
  }
}

/** Options of `createMemoryDevice`. */
export interface MemoryDeviceOptions {
  size: number;
  logicalBlockSize?: number;
  physicalBlockSize?: number;
  readOnly?: boolean;
  /** Share an existing store (several handles on one medium). */
  store?: MemoryStore;
  uri?: string;
}

/** A device whose medium is a `MemoryStore`. */
export class MemoryDevice extends BlockDeviceBase {
  /** The medium; tests may inspect it. */
  readonly store: MemoryStore;

  constructor(options: MemoryDeviceOptions) {
    const store = options.store ?? new MemoryStore(options.size);
    super({
      uri: options.uri ?? `memory:?size=${store.size}`,
      driver: 'memory',
      size: store.size,
      logicalBlockSize: options.logicalBlockSize ?? 512,
      physicalBlockSize: options.physicalBlockSize ?? 4096,
      capabilities: { ...NO_CAPABILITIES, readOnly: options.readOnly ?? false, trim: true, trimZeroes: true, writeZeroes: true, multiConn: true },
    });
    this.store = store;
  }

  protected doRead(offset: number, length: number): Promise<Buffer> {
    return Promise.resolve(this.store.read(offset, length));
  }

  protected override doReadInto(offset: number, target: Uint8Array): Promise<void> {
    this.store.readInto(offset, target);
    return Promise.resolve();
  }

  protected doWrite(offset: number, data: Uint8Array): Promise<void> {
    this.store.write(offset, data);
    return Promise.resolve();
  }

  protected doFlush(): Promise<void> {
    return Promise.resolve();
  }

  protected override doTrim(offset: number, length: number): Promise<void> {
    this.store.zero(offset, length);
    return Promise.resolve();
  }

  protected override doWriteZeroes(offset: number, length: number): Promise<void> {
    this.store.zero(offset, length);
    return Promise.resolve();
  }

  protected doClose(): Promise<void> {
    return Promise.resolve();
  }
}

/** Creates an in-memory device. */
export function createMemoryDevice(options: MemoryDeviceOptions): MemoryDevice {
  return new MemoryDevice(options);
}

const namedStores = new Map<string, MemoryStore>();

/** Forgets every named memory store of this process (tests call it between cases). */
export function resetNamedMemoryStores(): void {
  namedStores.clear();
}

function openMemory(uri: DeviceUri, options: OpenOptions): Promise<BlockDevice> {
  const name = uri.url?.hostname ?? '';
  const sizeParam = uri.params.get('size');
  const blockSize = parseSize(uri.params.get('blockSize') ?? '512', 'blockSize');
  const physicalBlockSize = parseSize(uri.params.get('physicalBlockSize') ?? String(Math.max(blockSize, 4096)), 'physicalBlockSize');
  let store = name === '' ? undefined : namedStores.get(name);
  if (!store) {
    if (sizeParam === null) throw new InvalidUriError(uri.text, 'a new memory device needs a size, as in memory:?size=64MiB');
    store = new MemoryStore(parseSize(sizeParam));
    if (name !== '') namedStores.set(name, store);
  }
  return Promise.resolve(
    createMemoryDevice({ size: store.size, store, logicalBlockSize: blockSize, physicalBlockSize, readOnly: options.readOnly ?? false, uri: uri.text }),
  );
}

/** Registry entry of the memory driver. */
export const memoryDriver: DriverDescriptor = {
  name: 'memory',
  schemes: ['memory'],
  summary: 'sparse in-process memory; memory://NAME shares one medium between opens',
  open: openMemory,
};
