/**
 * Where everything lives in the metadata region, and the parameters stored in its superblock.
 * The byte-by-byte specification is `docs/on-disk-format.md`; section numbers below refer to it.
 *
 * The region starts at byte 0 of the device and is a whole number of 4096-byte blocks (section 1):
 *
 *   block 0, 1                      superblock copies A and B
 *   2 + 2*h, 2 + 2*h + 1            host slot h (ping-pong copies), h = 0 .. hostSlots-1
 *   then 2 per task slot            task records (ping-pong)
 *   then 2 per chunk per task slot  chunk records (ping-pong), maxChunksPerTask per task slot
 *   then 4 per volume slot          the volume table (section 9; `docs/volumes.md`), volumeSlots of them
 *
 * Every block has exactly one writer at any time (section 2): a host slot's owner, or the holder of the
 * claim on a task slot's record or on a chunk.
 */
import { z } from 'zod';
import { InvalidArgumentError } from '../errors.js';

/** Size of every metadata block and record: the unit of atomicity we rely on only through CRCs. */
export const META_BLOCK = 4096;
/** Format version written in every record; readers refuse other versions (section 3). */
export const FORMAT_VERSION = 1;
/** Magic at byte 0 of every record; at device offset 0 it also marks the device as blockrig's own. */
export const META_MAGIC = 'BLKRIG01';
/** Most partitions one chunk record can describe (section 7). */
export const MAX_PARTITIONS_PER_CHUNK = 800;
/** Data written by tasks on the metadata device starts at this alignment after the region. */
export const DATA_ALIGNMENT = 1024 * 1024;

/** Record types (header byte 10). */
export const RecordType = { Superblock: 1, Host: 2, Task: 3, Chunk: 4 } as const;
/** A record type number. */
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

/**
 * Timing parameters of the delta leases, stored in the superblock so that every controller uses the same.
 * The safety argument (docs/coordination.md, "Timing") needs `hostDeadMs >= 1.1 * (renewTimeoutMs + 2 * ioTimeoutMs)`.
 */
export interface TimingParameters {
  /** How often a controller rewrites its host record. */
  heartbeatIntervalMs: number;
  /** Longest an I/O may take; slower I/O counts as failed (and a slow work I/O fences the controller). */
  ioTimeoutMs: number;
  /** A controller whose last successful renewal started this long ago stops all work (self-fencing). */
  renewTimeoutMs: number;
  /** A peer whose host record has not changed for this long, on the observer's clock, is dead. */
  hostDeadMs: number;
}

/** Defaults: reclaim after ~16 s, between VMFS's 16 s and sanlock's 140 s. */
export const DEFAULT_TIMING: TimingParameters = { heartbeatIntervalMs: 1000, ioTimeoutMs: 2000, renewTimeoutMs: 8000, hostDeadMs: 16000 };

const ms = (field: string) => z.number({ error: `${field} must be a number of milliseconds` }).int().min(1).max(3_600_000);

/** Zod schema of timing parameters, with the cross-field rules of the safety argument. */
export const timingSchema = z
  .object({
    heartbeatIntervalMs: ms('heartbeatIntervalMs'),
    ioTimeoutMs: ms('ioTimeoutMs'),
    renewTimeoutMs: ms('renewTimeoutMs'),
    hostDeadMs: ms('hostDeadMs'),
  })
  .refine((t) => t.renewTimeoutMs >= 2 * t.heartbeatIntervalMs + t.ioTimeoutMs, {
    message: 'renewTimeoutMs must be at least 2 * heartbeatIntervalMs + ioTimeoutMs, so one slow renewal does not fence a controller',
    path: ['renewTimeoutMs'],
  })
  .refine((t) => t.hostDeadMs >= Math.ceil(1.1 * (t.renewTimeoutMs + 2 * t.ioTimeoutMs)), {
    message: 'hostDeadMs must be at least 1.1 * (renewTimeoutMs + 2 * ioTimeoutMs): peers may reclaim only after a fenced controller has stopped and its last I/O has landed',
    path: ['hostDeadMs'],
  });

/** Validates timing parameters, throwing `InvalidArgumentError` that names the field. */
export function checkTiming(timing: TimingParameters): TimingParameters {
  const parsed = timingSchema.safeParse(timing);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = issue?.path.join('.') ?? 'timing';
    throw new InvalidArgumentError(`bad timing parameter ${field}: ${issue?.message ?? 'invalid'} (got ${JSON.stringify(timing)})`, { details: { field } });
  }
  return parsed.data;
}

/** How many slots of each kind a region has. */
export interface RegionGeometry {
  /** Host slots: controllers and clients (task submitters) that may be joined at once. */
  hostSlots: number;
  /** Task slots: tasks kept in the region at once (finished ones are replaced, oldest first). */
  taskSlots: number;
  /** Chunk records per task slot; a task has at most this many chunks. */
  maxChunksPerTask: number;
  /**
   * Volume table slots (section 9): volumes whose configuration the region holds. 0 or absent: no volume
   * table (regions formatted before it was part of the layout read as 0).
   */
  volumeSlots?: number;
}

/** Blocks of one volume table slot: an intent and a state record, each ping-pong. */
export const VOLUME_SLOT_BLOCKS = 4;

/** Defaults of `meta format`: 16 hosts, 8 tasks, 256 chunks of up to 800 partitions each, 16 volumes. */
export const DEFAULT_GEOMETRY: RegionGeometry = { hostSlots: 16, taskSlots: 8, maxChunksPerTask: 256, volumeSlots: 16 };

/** Validates a geometry, throwing `InvalidArgumentError` naming the field. */
export function checkGeometry(g: RegionGeometry): RegionGeometry {
  const limits: [keyof RegionGeometry, number, number][] = [
    ['hostSlots', 1, 255],
    ['taskSlots', 1, 64],
    ['maxChunksPerTask', 1, 4096],
    ['volumeSlots', 0, 64],
  ];
  for (const [field, min, max] of limits) {
    const v = g[field] ?? 0;
    if (!Number.isInteger(v) || v < min || v > max) {
      throw new InvalidArgumentError(`${field} must be an integer from ${min} to ${max}, got ${v}`, { details: { field, value: v } });
    }
  }
  return g;
}

/** Byte offsets of every record of a region with the given geometry. */
export class RegionLayout {
  readonly geometry: RegionGeometry;

  constructor(geometry: RegionGeometry) {
    this.geometry = checkGeometry(geometry);
  }

  /** Offset of superblock copy 0 or 1. */
  superblockOffset(copy: 0 | 1): number {
    return copy * META_BLOCK;
  }

  /** First byte of the host area. */
  get hostAreaOffset(): number {
    return 2 * META_BLOCK;
  }

  /** Bytes of the host area (all slots, both copies). */
  get hostAreaBytes(): number {
    return this.geometry.hostSlots * 2 * META_BLOCK;
  }

  /** Offset of host slot `slot`, copy `copy`. */
  hostOffset(slot: number, copy: 0 | 1): number {
    return this.hostAreaOffset + (slot * 2 + copy) * META_BLOCK;
  }

  /** First byte of the task area. */
  get taskAreaOffset(): number {
    return this.hostAreaOffset + this.hostAreaBytes;
  }

  /** Offset of task slot `slot`, copy `copy`. */
  taskOffset(slot: number, copy: 0 | 1): number {
    return this.taskAreaOffset + (slot * 2 + copy) * META_BLOCK;
  }

  /** First byte of the chunk area. */
  get chunkAreaOffset(): number {
    return this.taskAreaOffset + this.geometry.taskSlots * 2 * META_BLOCK;
  }

  /** Offset of chunk `chunk` of task slot `taskSlot`, copy `copy`. */
  chunkOffset(taskSlot: number, chunk: number, copy: 0 | 1): number {
    return this.chunkAreaOffset + ((taskSlot * this.geometry.maxChunksPerTask + chunk) * 2 + copy) * META_BLOCK;
  }

  /** First byte of the volume table (section 9), right after the chunk area. */
  get volumeAreaOffset(): number {
    return this.chunkAreaOffset + this.geometry.taskSlots * this.geometry.maxChunksPerTask * 2 * META_BLOCK;
  }

  /** Bytes of the volume table: 0 when the region has none. */
  get volumeAreaBytes(): number {
    return (this.geometry.volumeSlots ?? 0) * VOLUME_SLOT_BLOCKS * META_BLOCK;
  }

  /** Bytes of the whole region. */
  get regionBytes(): number {
    return this.volumeAreaOffset + this.volumeAreaBytes;
  }

  /** Where task data may start on the metadata device itself: the region's end, rounded up to 1 MiB. */
  get dataOffset(): number {
    return Math.ceil(this.regionBytes / DATA_ALIGNMENT) * DATA_ALIGNMENT;
  }
}
