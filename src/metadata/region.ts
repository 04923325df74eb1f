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
  readHosts(signal?: AbortSignal): Promise<Slot<HostRecord>[]> {
    return this.#readSlots(this.layout.hostAreaOffset, this.hostSlots, RecordType.Host, (h) => h, decodeHostRecord, signal);
  }

  /** Reads one host slot. */
  async readHost(slot: number, signal?: AbortSignal): Promise<Slot<HostRecord>> {
    return this.#decode(await this.device.read(this.layout.hostOffset(slot, 0), 2 * META_BLOCK, { signal }), RecordType.Host, slot, decodeHostRecord);
  }

  /** Writes host record `slot` with sequence `sequence` into the copy that sequence selects. */
  writeHost(slot: number, record: HostRecord, sequence: number, writer: Writer, signal?: AbortSignal): Promise<void> {
    return this.#write(RecordType.Host, slot, (copy) => this.layout.hostOffset(slot, copy), encodeHostRecord(record), sequence, writer, signal);
  }

  /** Reads every task slot with one I/O. */
  readTasks(signal?: AbortSignal): Promise<Slot<TaskRecord>[]> {
    return this.#readSlots(this.layout.taskAreaOffset, this.taskSlots, RecordType.Task, (t) => t, decodeTaskRecord, signal);
  }

  /** Reads one task slot. */
  async readTask(slot: number, signal?: AbortSignal): Promise<Slot<TaskRecord>> {
    return this.#decode(await this.device.read(this.layout.taskOffset(slot, 0), 2 * META_BLOCK, { signal }), RecordType.Task, slot, decodeTaskRecord);
  }

  /** Writes a task record. */
  writeTask(slot: number, record: TaskRecord, sequence: number, writer: Writer, signal?: AbortSignal): Promise<void> {
    return this.#write(RecordType.Task, slot, (copy) => this.layout.taskOffset(slot, copy), encodeTaskRecord(record), sequence, writer, signal);
  }

  /** Record index of a chunk in headers: unique across the chunk area. */
  chunkIndex(taskSlot: number, chunk: number): number {
    return taskSlot * this.superblock.geometry.maxChunksPerTask + chunk;
  }

  /** Reads chunks `[first, first + count)` of a task slot with one I/O. */
  async readChunks(taskSlot: number, first: number, count: number, signal?: AbortSignal): Promise<Slot<ChunkRecord>[]> {
    if (count === 0) return [];
    return this.#readSlots(this.layout.chunkOffset(taskSlot, first, 0), count, RecordType.Chunk, (i) => this.chunkIndex(taskSlot, first + i), decodeChunkRecord, signal);
  }

  /** Writes a chunk record. */
  writeChunk(taskSlot: number, record: ChunkRecord, sequence: number, writer: Writer, signal?: AbortSignal): Promise<void> {
    const index = this.chunkIndex(taskSlot, record.chunk);
    return this.#write(RecordType.Chunk, index, (copy) => this.layout.chunkOffset(taskSlot, record.chunk, copy), encodeChunkRecord(record), sequence, writer, signal);
  }

  /** Reads `count` consecutive slots (two copies each) at `offset` with one I/O; slot i has header index `indexOf(i)`. */
  async #readSlots<T>(offset: number, count: number, type: RecordType, indexOf: (i: number) => number, decode: (p: Buffer) => T | string, signal: AbortSignal | undefined): Promise<Slot<T>[]> {
    const buf = await this.device.read(offset, count * 2 * META_BLOCK, { signal });
    const out: Slot<T>[] = [];
    for (let i = 0; i < count; i++) out.push(this.#decode(buf.subarray(i * 2 * META_BLOCK, (i + 1) * 2 * META_BLOCK), type, indexOf(i), decode));
    return out;
  }

  /** Writes a record into the copy its sequence selects (FUA: it is durable when this resolves). */
  #write(type: RecordType, index: number, offsetOf: (copy: 0 | 1) => number, payload: Buffer, sequence: number, writer: Writer, signal: AbortSignal | undefined): Promise<void> {
    const copy = copyFor(sequence);
    const block = encodeRecord({ type, sequence, writerSlot: writer.slot, writerIncarnation: writer.incarnation, regionUuid: this.superblock.regionUuid, index, copy }, payload);
    return this.device.write(offsetOf(copy), block, { fua: true, signal });
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
