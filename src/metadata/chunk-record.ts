/**
 * Chunk records (docs/on-disk-format.md, section 7): the per-partition states of a run of partitions
 * of one task, written only by the host that holds the claim on that chunk. A partition is READY,
 * IN PROGRESS or COMPLETE (or FAILED); IN PROGRESS carries a checkpoint so a reclaimed partition resumes.
 *
 * Payload, little-endian:
 *    0 u32 task id (a record of another task id describes an older task: read as all READY)
 *    4 u32 chunk number within the task
 *    8 u32 first partition
 *   12 u32 partition count (<= 800)
 *   16 u32 checkpoint partition (absolute), 0xFFFFFFFF for none
 *   20 u32 reserved
 *   24 u64 checkpoint bytes done within that partition
 *   32 u8[200] states, 2 bits per partition, partition i of the chunk at bits 2*(i%4) of byte i/4
 *  232 u32[800] results, one per partition (mismatch count, CRC32C, ... as the task kind defines)
 */
import { MAX_PARTITIONS_PER_CHUNK } from './layout.js';

/** The state of one partition. Stored in 2 bits; READY is 0 so a never-written record reads as all READY. */
export const PartitionState = { Ready: 0, InProgress: 1, Complete: 2, Failed: 3 } as const;
/** A partition state number. */
export type PartitionState = (typeof PartitionState)[keyof typeof PartitionState];

/** Printed names of the states. */
export const PARTITION_STATE_NAMES = ['READY', 'IN PROGRESS', 'COMPLETE', 'FAILED'] as const;

const NO_CHECKPOINT = 0xffffffff;
const STATES_AT = 32;
const RESULTS_AT = STATES_AT + MAX_PARTITIONS_PER_CHUNK / 4;
/** Bytes of a chunk record payload. */
export const CHUNK_PAYLOAD_BYTES = RESULTS_AT + 4 * MAX_PARTITIONS_PER_CHUNK;

/** A decoded chunk record. */
export interface ChunkRecord {
  taskId: number;
  chunk: number;
  firstPartition: number;
  partitionCount: number;
  states: PartitionState[];
  results: number[];
  /** The partition being worked on and how far it got, when one is IN PROGRESS. */
  checkpoint: { partition: number; bytesDone: number } | undefined;
}

/** A chunk record with every partition READY, as a fresh task's chunks are. */
export function freshChunk(taskId: number, chunk: number, firstPartition: number, partitionCount: number): ChunkRecord {
  return {
    taskId,
    chunk,
    firstPartition,
    partitionCount,
    states: new Array<PartitionState>(partitionCount).fill(PartitionState.Ready),
    results: new Array<number>(partitionCount).fill(0),
    checkpoint: undefined,
  };
}

/** Encodes a chunk record payload. */
export function encodeChunkRecord(c: ChunkRecord): Buffer {
  const p = Buffer.alloc(CHUNK_PAYLOAD_BYTES);
  p.writeUInt32LE(c.taskId >>> 0, 0);
  p.writeUInt32LE(c.chunk, 4);
  p.writeUInt32LE(c.firstPartition, 8);
  p.writeUInt32LE(c.partitionCount, 12);
  p.writeUInt32LE(c.checkpoint?.partition ?? NO_CHECKPOINT, 16);
  p.writeBigUInt64LE(BigInt(c.checkpoint?.bytesDone ?? 0), 24);
  for (let i = 0; i < c.partitionCount; i++) {
    const at = STATES_AT + (i >> 2);
    p[at] = (p[at] as number) | ((c.states[i] ?? 0) << (2 * (i & 3)));
    p.writeUInt32LE((c.results[i] ?? 0) >>> 0, RESULTS_AT + 4 * i);
  }
  return p;
}

/** Decodes a chunk record payload; returns a problem string when fields are impossible. */
export function decodeChunkRecord(p: Buffer): ChunkRecord | string {
  if (p.length < CHUNK_PAYLOAD_BYTES) return `chunk record payload is ${p.length} bytes, expected ${CHUNK_PAYLOAD_BYTES}`;
  const partitionCount = p.readUInt32LE(12);
  if (partitionCount > MAX_PARTITIONS_PER_CHUNK) return `chunk claims ${partitionCount} partitions, more than ${MAX_PARTITIONS_PER_CHUNK}`;
  const states: PartitionState[] = [];
  const results: number[] = [];
  for (let i = 0; i < partitionCount; i++) {
    states.push((((p[STATES_AT + (i >> 2)] as number) >> (2 * (i & 3))) & 3) as PartitionState);
    results.push(p.readUInt32LE(RESULTS_AT + 4 * i));
  }
  const cp = p.readUInt32LE(16);
  return {
    taskId: p.readUInt32LE(0),
    chunk: p.readUInt32LE(4),
    firstPartition: p.readUInt32LE(8),
    partitionCount,
    states,
    results,
    checkpoint: cp === NO_CHECKPOINT ? undefined : { partition: cp, bytesDone: Number(p.readBigUInt64LE(24)) },
  };
}
