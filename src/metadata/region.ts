/**
 * `MetadataRegion`: a device holding a formatted region, with typed reads and writes of its records.
 * It knows nothing of leases or claims; who may write which record is decided by `src/controller/`.
 * Every write is a single aligned 4096-byte block written with FUA, so that it is durable when it resolves
 * and visible to the next read of any host (the ordering the claim protocol relies on).
 */
import type { BlockDevice } from '../../drivers/types.js';
import { UnsupportedError } from '../errors.js';
import { decodeChunkRecord, encodeChunkRecord, freshChunk, type ChunkRecord } from './chunk-record.js';
import { decodeHostRecord, encodeHostRecord, type HostRecord } from './host-record.js';
import { META_BLOCK, RecordType, RegionLayout } from './layout.js';
import { copyFor, decodePingPong, encodeRecord, type PingPong } from './record.js';
import { readSuperblock, type Superblock, type SuperblockRead } from './superblock.js';
import { decodeTaskRecord, encodeTaskRecord, type TaskRecord } from './task-record.js';

/** A ping-pong record decoded to a typed value. */
export interface Slot<T> {
  /** The raw 8192 bytes of both copies, for change detection (delta leases compare bytes). */
  raw: Buffer;
  pingPong: PingPong;
  /** The decoded current copy, when one is valid and its payload decodes. */
  value: T | undefined;
  /** Problems found (damaged copy, undecodable payload). */
  problems: string[];
}

/** Who writes a record: stamped into its header. */
export interface Writer {
  slot: number;
  incarnation: number;
}

/** An opened metadata region. */
export class MetadataRegion {
  readonly device: BlockDevice;
  readonly superblock: Superblock;
  readonly layout: RegionLayout;
  /** Problems of a damaged superblock copy (the other one is in use). */
  readonly superblockProblems: string[];

  private constructor(device: BlockDevice, read: SuperblockRead) {
    this.device = device;
    this.superblock = read.superblock;
    this.superblockProblems = read.problems;
    this.layout = new RegionLayout(read.superblock.geometry);
  }

  /**
   * Opens the region on a device: reads and checks the superblock. Throws `MetaNoRegionError`,
   * `MetaVersionError` or `MetaCorruptError` (both copies damaged); nothing is written in any case.
   */
  static async open(device: BlockDevice): Promise<MetadataRegion> {
    if (META_BLOCK % device.logicalBlockSize !== 0) {
      throw new UnsupportedError(`device ${device.uri} has ${device.logicalBlockSize}-byte blocks; the metadata region needs a block size dividing 4096`);
    }
    const head = await device.read(0, 2 * META_BLOCK);
    const region = new MetadataRegion(device, readSuperblock(device.uri, head));
    if (region.superblock.regionBytes > device.size) {
      throw new UnsupportedError(`the region on ${device.uri} needs ${region.superblock.regionBytes} bytes but the device has ${device.size}`);
    }
    return region;
  }

  /** Host slots of the region. */
  get hostSlots(): number {
    return this.superblock.geometry.hostSlots;
  }

  /** Task slots of the region. */
  get taskSlots(): number {
    return this.superblock.geometry.taskSlots;
  }

  /** Reads every host slot with one I/O. */
  async readHosts(signal?: AbortSignal): Promise<Slot<HostRecord>[]> {
    const buf = await this.device.read(this.layout.hostAreaOffset, this.layout.hostAreaBytes, { signal });
    const out: Slot<HostRecord>[] = [];
    for (let h = 0; h < this.hostSlots; h++) out.push(this.#decode(buf.subarray(h * 2 * META_BLOCK, (h + 1) * 2 * META_BLOCK), RecordType.Host, h, decodeHostRecord));
    return out;
  }

  /** Reads one host slot. */
  async readHost(slot: number, signal?: AbortSignal): Promise<Slot<HostRecord>> {
    const buf = await this.device.read(this.layout.hostOffset(slot, 0), 2 * META_BLOCK, { signal });
    return this.#decode(buf, RecordType.Host, slot, decodeHostRecord);
  }

  /** Writes host record `slot` with sequence `sequence` into the copy that sequence selects. */
  writeHost(slot: number, record: HostRecord, sequence: number, writer: Writer, signal?: AbortSignal): Promise<void> {
    const copy = copyFor(sequence);
    const block = encodeRecord({ type: RecordType.Host, sequence, writerSlot: writer.slot, writerIncarnation: writer.incarnation, regionUuid: this.superblock.regionUuid, index: slot, copy }, encodeHostRecord(record));
    return this.device.write(this.layout.hostOffset(slot, copy), block, { fua: true, signal });
  }

  /** Reads every task slot with one I/O. */
  async readTasks(signal?: AbortSignal): Promise<Slot<TaskRecord>[]> {
    const n = this.taskSlots;
    const buf = await this.device.read(this.layout.taskAreaOffset, n * 2 * META_BLOCK, { signal });
    const out: Slot<TaskRecord>[] = [];
    for (let t = 0; t < n; t++) out.push(this.#decode(buf.subarray(t * 2 * META_BLOCK, (t + 1) * 2 * META_BLOCK), RecordType.Task, t, decodeTaskRecord));
    return out;
  }

  /** Reads one task slot. */
  async readTask(slot: number, signal?: AbortSignal): Promise<Slot<TaskRecord>> {
    const buf = await this.device.read(this.layout.taskOffset(slot, 0), 2 * META_BLOCK, { signal });
    return this.#decode(buf, RecordType.Task, slot, decodeTaskRecord);
  }

  /** Writes a task record. */
  writeTask(slot: number, record: TaskRecord, sequence: number, writer: Writer, signal?: AbortSignal): Promise<void> {
    const copy = copyFor(sequence);
    const block = encodeRecord({ type: RecordType.Task, sequence, writerSlot: writer.slot, writerIncarnation: writer.incarnation, regionUuid: this.superblock.regionUuid, index: slot, copy }, encodeTaskRecord(record));
    return this.device.write(this.layout.taskOffset(slot, copy), block, { fua: true, signal });
  }

  /** Record index of a chunk in headers: unique across the chunk area. */
  chunkIndex(taskSlot: number, chunk: number): number {
    return taskSlot * this.superblock.geometry.maxChunksPerTask + chunk;
  }

  /** Reads chunks `[first, first + count)` of a task slot with one I/O. */
  async readChunks(taskSlot: number, first: number, count: number, signal?: AbortSignal): Promise<Slot<ChunkRecord>[]> {
    if (count === 0) return [];
    const buf = await this.device.read(this.layout.chunkOffset(taskSlot, first, 0), count * 2 * META_BLOCK, { signal });
    const out: Slot<ChunkRecord>[] = [];
    for (let i = 0; i < count; i++) {
      out.push(this.#decode(buf.subarray(i * 2 * META_BLOCK, (i + 1) * 2 * META_BLOCK), RecordType.Chunk, this.chunkIndex(taskSlot, first + i), decodeChunkRecord));
    }
    return out;
  }

  /** Writes a chunk record. */
  writeChunk(taskSlot: number, record: ChunkRecord, sequence: number, writer: Writer, signal?: AbortSignal): Promise<void> {
    const copy = copyFor(sequence);
    const block = encodeRecord(
      { type: RecordType.Chunk, sequence, writerSlot: writer.slot, writerIncarnation: writer.incarnation, regionUuid: this.superblock.regionUuid, index: this.chunkIndex(taskSlot, record.chunk), copy },
      encodeChunkRecord(record),
    );
    return this.device.write(this.layout.chunkOffset(taskSlot, record.chunk, copy), block, { fua: true, signal });
  }

  #decode<T>(raw: Buffer, type: RecordType, index: number, decode: (p: Buffer) => T | string): Slot<T> {
    const pingPong = decodePingPong(raw, { type, index, regionUuid: this.superblock.regionUuid });
    const problems = [...pingPong.problems];
    let value: T | undefined;
    if (pingPong.current) {
      const decoded = decode(pingPong.current.payload);
      if (typeof decoded === 'string') problems.push(`copy ${pingPong.current.header.copy}: ${decoded}`);
      else value = decoded;
    }
    return { raw: Buffer.from(raw), pingPong, value, problems };
  }
}

/**
 * The state of a chunk as a task sees it: the stored record when it belongs to this task, otherwise
 * a fresh all-READY record (a chunk never written, or left from an older task in the same slot).
 */
export function chunkForTask(slot: Slot<ChunkRecord> | undefined, task: TaskRecord, chunk: number): ChunkRecord {
  const first = chunk * task.chunkPartitions;
  const count = Math.min(task.chunkPartitions, task.partitions - first);
  const v = slot?.value;
  if (v !== undefined && v.taskId === task.taskId && v.chunk === chunk && v.firstPartition === first && v.partitionCount === count) return v;
  return freshChunk(task.taskId, chunk, first, count);
}
