/**
 * The 64-byte header every metadata record starts with, its CRC32C, and ping-pong copies
 * (docs/on-disk-format.md, sections 2 and 3).
 *
 *   0  char[8]  magic "BLKRIG01"          32 u8[16]  region UUID
 *   8  u16      format version            48 u32     record index (slot or chunk number)
 *  10  u16      record type               52 u32     copy (0 or 1)
 *  12  u32      payload length            56 u32     reserved, 0
 *  16  u64      sequence                  60 u32     CRC32C of the 4096-byte block, this field as 0
 *  24  u32      writer host slot + 1 (0: none)
 *  28  u32      writer incarnation
 *
 * All integers are little-endian. A record is trusted only if magic, version, type, UUID, index, copy and
 * CRC all check; anything else is reported as a problem and the copy is ignored.
 */
import { crc32c } from './crc32c.js';
import { FORMAT_VERSION, META_BLOCK, META_MAGIC, type RecordType } from './layout.js';

/** Bytes of the header; the payload follows. */
export const HEADER_BYTES = 64;
/** Largest payload a record holds. */
export const MAX_PAYLOAD = META_BLOCK - HEADER_BYTES;

const MAGIC = Buffer.from(META_MAGIC, 'latin1');

/** The decoded header of a record. */
export interface RecordHeader {
  type: RecordType;
  sequence: number;
  /** Host slot of the writer, or -1 for none (the formatter). */
  writerSlot: number;
  writerIncarnation: number;
  regionUuid: Buffer;
  index: number;
  copy: 0 | 1;
}

/** A record that passed every check. */
export interface ValidRecord {
  header: RecordHeader;
  payload: Buffer;
}

/** What reading one copy found. */
export type CopyState = { kind: 'valid'; record: ValidRecord } | { kind: 'empty' } | { kind: 'corrupt'; problem: string };

/** Builds a 4096-byte block from a header and payload, computing the CRC. */
export function encodeRecord(header: RecordHeader, payload: Uint8Array): Buffer {
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`record payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const block = Buffer.alloc(META_BLOCK);
  MAGIC.copy(block, 0);
  block.writeUInt16LE(FORMAT_VERSION, 8);
  block.writeUInt16LE(header.type, 10);
  block.writeUInt32LE(payload.length, 12);
  block.writeBigUInt64LE(BigInt(header.sequence), 16);
  block.writeUInt32LE(header.writerSlot + 1, 24);
  block.writeUInt32LE(header.writerIncarnation >>> 0, 28);
  header.regionUuid.copy(block, 32, 0, 16);
  block.writeUInt32LE(header.index, 48);
  block.writeUInt32LE(header.copy, 52);
  block.set(payload, HEADER_BYTES);
  block.writeUInt32LE(blockCrc(block), 60);
  return block;
}

const ZERO_CRC_FIELD = new Uint8Array(4);

/** CRC32C of a 4096-byte block with its CRC field (bytes 60-63) taken as zero, without copying it. */
export function blockCrc(block: Buffer): number {
  return crc32c(block.subarray(64), crc32c(ZERO_CRC_FIELD, crc32c(block.subarray(0, 60))));
}

/** What a reader expects of a copy; anything else makes it corrupt. */
export interface RecordExpectation {
  type: RecordType;
  index: number;
  copy: 0 | 1;
  /** The region's UUID; omitted only when reading the superblock that tells us the UUID. */
  regionUuid?: Buffer;
}

/** Checks and decodes one 4096-byte copy. Never throws for bad bytes: returns what is wrong instead. */
export function decodeRecord(block: Buffer, expect: RecordExpectation): CopyState {
  if (block.length !== META_BLOCK) return { kind: 'corrupt', problem: `block is ${block.length} bytes, not ${META_BLOCK}` };
  if (isAllZero(block)) return { kind: 'empty' };
  if (!block.subarray(0, 8).equals(MAGIC)) return { kind: 'corrupt', problem: 'bad magic' };
  const stored = block.readUInt32LE(60);
  const actual = blockCrc(block);
  if (stored !== actual) return { kind: 'corrupt', problem: `CRC32C mismatch (stored ${hex(stored)}, computed ${hex(actual)}): torn or damaged write` };
  const version = block.readUInt16LE(8);
  if (version !== FORMAT_VERSION) return { kind: 'corrupt', problem: `format version ${version}; this build reads version ${FORMAT_VERSION}` };
  const type = block.readUInt16LE(10);
  if (type !== expect.type) return { kind: 'corrupt', problem: `record type ${type}, expected ${expect.type} (misdirected write?)` };
  const length = block.readUInt32LE(12);
  if (length > MAX_PAYLOAD) return { kind: 'corrupt', problem: `payload length ${length} exceeds ${MAX_PAYLOAD}` };
  const index = block.readUInt32LE(48);
  if (index !== expect.index) return { kind: 'corrupt', problem: `record index ${index}, expected ${expect.index} (misdirected write?)` };
  const copyNo = block.readUInt32LE(52);
  if (copyNo !== expect.copy) return { kind: 'corrupt', problem: `copy number ${copyNo}, expected ${expect.copy}` };
  const regionUuid = Buffer.from(block.subarray(32, 48));
  if (expect.regionUuid !== undefined && !regionUuid.equals(expect.regionUuid)) {
    return { kind: 'corrupt', problem: 'region UUID differs from the superblock (left over from an earlier format)' };
  }
  const sequence = Number(block.readBigUInt64LE(16));
  return {
    kind: 'valid',
    record: {
      header: {
        type: expect.type,
        sequence,
        writerSlot: block.readUInt32LE(24) - 1,
        writerIncarnation: block.readUInt32LE(28),
        regionUuid,
        index,
        copy: expect.copy,
      },
      payload: Buffer.from(block.subarray(HEADER_BYTES, HEADER_BYTES + length)),
    },
  };
}

/** The two copies of a ping-pong record and which one is current. */
export interface PingPong {
  copies: [CopyState, CopyState];
  /** The valid copy with the higher sequence, if any copy is valid. */
  current: ValidRecord | undefined;
  /** Highest sequence seen on a valid copy (0 when none), so the next write can continue from it. */
  sequence: number;
  /** True when both copies are all zeroes (never written since format). */
  empty: boolean;
  /** Problems of the copies, for dump and check ("copy 1: CRC32C mismatch"). */
  problems: string[];
}

/** Decodes the two adjacent copies of a ping-pong record (8192 bytes). */
export function decodePingPong(both: Buffer, expect: Omit<RecordExpectation, 'copy'>): PingPong {
  const copies: [CopyState, CopyState] = [
    decodeRecord(both.subarray(0, META_BLOCK), { ...expect, copy: 0 }),
    decodeRecord(both.subarray(META_BLOCK, 2 * META_BLOCK), { ...expect, copy: 1 }),
  ];
  let current: ValidRecord | undefined;
  const problems: string[] = [];
  copies.forEach((c, i) => {
    if (c.kind === 'valid' && (current === undefined || c.record.header.sequence > current.header.sequence)) current = c.record;
    if (c.kind === 'corrupt') problems.push(`copy ${i}: ${c.problem}`);
  });
  return {
    copies,
    current,
    sequence: current?.header.sequence ?? 0,
    empty: copies[0].kind === 'empty' && copies[1].kind === 'empty',
    problems,
  };
}

/** Which copy the write of sequence `sequence` goes to: alternate, so the previous copy survives a torn write. */
export function copyFor(sequence: number): 0 | 1 {
  return (sequence % 2) as 0 | 1;
}

/** Reads a fixed-size zero-padded UTF-8 string field. */
export function readText(buf: Buffer, offset: number, length: number): string {
  const raw = buf.subarray(offset, offset + length);
  const end = raw.indexOf(0);
  return raw.subarray(0, end === -1 ? raw.length : end).toString('utf8');
}

/** Writes a string into a fixed-size zero-padded field, cutting it at a character boundary if too long. */
export function writeText(buf: Buffer, offset: number, length: number, text: string): void {
  let bytes = Buffer.from(text, 'utf8');
  while (bytes.length > length) {
    text = text.slice(0, -1);
    bytes = Buffer.from(text, 'utf8');
  }
  buf.fill(0, offset, offset + length);
  bytes.copy(buf, offset);
}

function isAllZero(buf: Buffer): boolean {
  for (let i = 0; i < buf.length; i += 8) if (buf.readBigUInt64LE(i) !== 0n) return false;
  return true;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}
