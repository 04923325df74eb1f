/**
 * The superblock (docs/on-disk-format.md, section 4): geometry and timing of the region, written twice
 * (blocks 0 and 1) by `meta format` and never rewritten afterwards, so that a torn write can damage at
 * most one copy. Readers use either valid copy; when both are damaged the region is unusable and nothing
 * is written to it.
 *
 * Payload (after the 64-byte header), little-endian:
 *    0 u32 metadata block size (4096)      24 u32 ioTimeoutMs
 *    4 u32 hostSlots                       28 u32 renewTimeoutMs
 *    8 u32 taskSlots                       32 u32 hostDeadMs
 *   12 u32 maxChunksPerTask                36 u32 volumeSlots (0 in regions formatted before the table)
 *   16 u32 maxPartitionsPerChunk           40 u64 region bytes (including the volume table)
 *   20 u32 heartbeatIntervalMs             48 u64 data offset (first byte after the region, 1 MiB aligned)
 *   56 u64 formatted at (wall ms, display only)     64 char[64] label, UTF-8, zero padded
 */
import { randomBytes } from 'node:crypto';
import { MetaCorruptError, MetaNoRegionError, MetaVersionError } from '../errors.js';
import { FORMAT_VERSION, MAX_PARTITIONS_PER_CHUNK, META_BLOCK, META_MAGIC, RecordType, RegionLayout, checkTiming, type RegionGeometry, type TimingParameters } from './layout.js';
import { decodeRecord, encodeRecord, readText, writeText, type CopyState } from './record.js';

/** The decoded superblock. */
export interface Superblock {
  regionUuid: Buffer;
  geometry: RegionGeometry;
  maxPartitionsPerChunk: number;
  timing: TimingParameters;
  regionBytes: number;
  dataOffset: number;
  formattedAt: number;
  label: string;
}

/** Builds a fresh superblock for a geometry and timing. */
export function newSuperblock(geometry: RegionGeometry, timing: TimingParameters, label: string, wallTime: number): Superblock {
  const layout = new RegionLayout(geometry);
  return {
    regionUuid: randomBytes(16),
    geometry,
    maxPartitionsPerChunk: MAX_PARTITIONS_PER_CHUNK,
    timing: checkTiming(timing),
    regionBytes: layout.regionBytes,
    dataOffset: layout.dataOffset,
    formattedAt: wallTime,
    label,
  };
}

/** Encodes copy `copy` of a superblock. */
export function encodeSuperblock(sb: Superblock, copy: 0 | 1): Buffer {
  const p = Buffer.alloc(128);
  p.writeUInt32LE(META_BLOCK, 0);
  p.writeUInt32LE(sb.geometry.hostSlots, 4);
  p.writeUInt32LE(sb.geometry.taskSlots, 8);
  p.writeUInt32LE(sb.geometry.maxChunksPerTask, 12);
  p.writeUInt32LE(sb.maxPartitionsPerChunk, 16);
  p.writeUInt32LE(sb.timing.heartbeatIntervalMs, 20);
  p.writeUInt32LE(sb.timing.ioTimeoutMs, 24);
  p.writeUInt32LE(sb.timing.renewTimeoutMs, 28);
  p.writeUInt32LE(sb.timing.hostDeadMs, 32);
  p.writeUInt32LE(sb.geometry.volumeSlots ?? 0, 36);
  p.writeBigUInt64LE(BigInt(sb.regionBytes), 40);
  p.writeBigUInt64LE(BigInt(sb.dataOffset), 48);
  p.writeBigUInt64LE(BigInt(Math.floor(sb.formattedAt)), 56);
  writeText(p, 64, 64, sb.label);
  return encodeRecord({ type: RecordType.Superblock, sequence: 1, writerSlot: -1, writerIncarnation: 0, regionUuid: sb.regionUuid, index: 0, copy }, p);
}

/** Decodes a valid superblock copy's payload; throws `MetaCorruptError` when its fields are inconsistent. */
function decodePayload(regionUuid: Buffer, p: Buffer): Superblock {
  if (p.length < 128) throw new MetaCorruptError(`superblock payload is ${p.length} bytes, expected 128`);
  const geometry = { hostSlots: p.readUInt32LE(4), taskSlots: p.readUInt32LE(8), maxChunksPerTask: p.readUInt32LE(12), volumeSlots: p.readUInt32LE(36) };
  const sb: Superblock = {
    regionUuid,
    geometry,
    maxPartitionsPerChunk: p.readUInt32LE(16),
    timing: { heartbeatIntervalMs: p.readUInt32LE(20), ioTimeoutMs: p.readUInt32LE(24), renewTimeoutMs: p.readUInt32LE(28), hostDeadMs: p.readUInt32LE(32) },
    regionBytes: Number(p.readBigUInt64LE(40)),
    dataOffset: Number(p.readBigUInt64LE(48)),
    formattedAt: Number(p.readBigUInt64LE(56)),
    label: readText(p, 64, 64),
  };
  try {
    const layout = new RegionLayout(geometry);
    checkTiming(sb.timing);
    if (p.readUInt32LE(0) !== META_BLOCK || layout.regionBytes !== sb.regionBytes || layout.dataOffset !== sb.dataOffset || sb.maxPartitionsPerChunk !== MAX_PARTITIONS_PER_CHUNK) {
      throw new Error('sizes do not match the geometry');
    }
  } catch (err) {
    throw new MetaCorruptError(`superblock fields are inconsistent: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
  return sb;
}

/** What reading both superblock copies found. */
export interface SuperblockRead {
  superblock: Superblock;
  copies: [CopyState, CopyState];
  /** Problems of a damaged copy, when the other one was used. */
  problems: string[];
}

/**
 * Reads and checks the superblock from the first two blocks of a device.
 * Throws `MetaNoRegionError` when neither block carries the magic, `MetaVersionError` for another format
 * version, and `MetaCorruptError` when the magic is there but neither copy checks.
 */
export function readSuperblock(uri: string, head: Buffer): SuperblockRead {
  const blocks = [head.subarray(0, META_BLOCK), head.subarray(META_BLOCK, 2 * META_BLOCK)];
  const magic = Buffer.from(META_MAGIC, 'latin1');
  const hasMagic = blocks.map((b) => b.subarray(0, 8).equals(magic));
  if (!hasMagic[0] && !hasMagic[1]) throw new MetaNoRegionError(uri);
  for (const [i, b] of blocks.entries()) {
    const version = b.readUInt16LE(8);
    if (hasMagic[i] && version !== FORMAT_VERSION && version !== 0) {
      throw new MetaVersionError(`${uri}: metadata region has format version ${version}; this blockrig reads version ${FORMAT_VERSION}: use a matching blockrig build`, {
        details: { uri, version, supported: FORMAT_VERSION },
      });
    }
  }
  const copies: [CopyState, CopyState] = [
    decodeRecord(Buffer.from(blocks[0] as Buffer), { type: RecordType.Superblock, index: 0, copy: 0 }),
    decodeRecord(Buffer.from(blocks[1] as Buffer), { type: RecordType.Superblock, index: 0, copy: 1 }),
  ];
  const problems: string[] = [];
  let found: Superblock | undefined;
  for (const [i, c] of copies.entries()) {
    if (c.kind === 'valid') {
      try {
        const sb = decodePayload(c.record.header.regionUuid, c.record.payload);
        found ??= sb;
        continue;
      } catch (err) {
        problems.push(`superblock copy ${i}: ${err instanceof Error ? err.message : String(err)}`);
        continue;
      }
    }
    problems.push(`superblock copy ${i}: ${c.kind === 'empty' ? 'all zeroes' : c.problem}`);
  }
  if (found === undefined) {
    throw new MetaCorruptError(
      `${uri}: both superblock copies of the metadata region are damaged (${problems.join('; ')}); nothing was written. Restore the device, or reformat it with blockrig meta format --force (which loses all tasks)`,
      { details: { uri, problems } },
    );
  }
  return { superblock: found, copies, problems };
}
