/**
 * iSCSI PDUs (RFC 7143 section 11): the 48-byte Basic Header Segment, additional header segments and the
 * data segment, padded to a multiple of four bytes. Digests are never negotiated (HeaderDigest=None,
 * DataDigest=None), so a PDU on the wire is exactly BHS + AHS + data + padding.
 *
 * The codec is deliberately generic: a `Pdu` keeps the raw BHS and exposes the fields every opcode shares;
 * opcode-specific fields are read with the `u32`/`u16`/`u8` helpers at the offsets RFC 7143 gives, which the
 * builders and the session cite by section.
 */
import { IscsiProtocolError } from '../errors.js';

/** Bytes in a Basic Header Segment (RFC 7143 11.2.1). */
export const BHS_LENGTH = 48;

/** The reserved tag: "no task" for ITT and TTT (RFC 7143 11.18, 11.19). */
export const RESERVED_TAG = 0xffffffff;

/** Opcodes sent by the initiator (RFC 7143 11.2.1.2). */
export const InitiatorOpcode = {
  NopOut: 0x00,
  ScsiCommand: 0x01,
  TaskManagement: 0x02,
  LoginRequest: 0x03,
  TextRequest: 0x04,
  DataOut: 0x05,
  LogoutRequest: 0x06,
  Snack: 0x10,
} as const;

/** Opcodes sent by the target (RFC 7143 11.2.1.2). */
export const TargetOpcode = {
  NopIn: 0x20,
  ScsiResponse: 0x21,
  TaskManagementResponse: 0x22,
  LoginResponse: 0x23,
  TextResponse: 0x24,
  DataIn: 0x25,
  LogoutResponse: 0x26,
  R2T: 0x31,
  AsyncMessage: 0x32,
  Reject: 0x3f,
} as const;

const TARGET_OPCODES = new Set<number>(Object.values(TargetOpcode));

/** Name of an opcode for error messages. */
export function opcodeName(opcode: number): string {
  for (const table of [InitiatorOpcode, TargetOpcode]) {
    for (const [name, value] of Object.entries(table)) if (value === opcode) return name;
  }
  return `0x${opcode.toString(16).padStart(2, '0')}`;
}

/** One decoded PDU. `bhs` is the raw header; the getters read the fields common to every opcode. */
export class Pdu {
  constructor(
    readonly bhs: Buffer,
    readonly ahs: Buffer,
    readonly data: Buffer,
  ) {}

  /** Opcode, without the immediate bit. */
  get opcode(): number {
    return this.bhs[0]! & 0x3f;
  }
  /** Byte 1: the final bit and opcode-specific flags. */
  get flags(): number {
    return this.bhs[1]!;
  }
  /** The F (final) bit. */
  get final(): boolean {
    return (this.bhs[1]! & 0x80) !== 0;
  }
  /** Initiator Task Tag, bytes 16-19. */
  get itt(): number {
    return this.bhs.readUInt32BE(16);
  }
  /** Reads a big-endian 32-bit field. */
  u32(offset: number): number {
    return this.bhs.readUInt32BE(offset);
  }
  /** Reads a big-endian 16-bit field. */
  u16(offset: number): number {
    return this.bhs.readUInt16BE(offset);
  }
  /** Reads one byte. */
  u8(offset: number): number {
    return this.bhs[offset]!;
  }
}

/** Fields of a PDU to encode; anything not given is zero. */
export interface PduFields {
  opcode: number;
  immediate?: boolean;
  /** Byte 1 (final bit and flags). */
  flags: number;
  /** Bytes 2-3, opcode-specific. */
  byte2?: number;
  byte3?: number;
  /** Bytes 8-15: LUN, or ISID+TSIH for login. */
  lun?: Buffer;
  itt: number;
  /** 32-bit fields at byte offsets 20..44. */
  words?: Readonly<Record<number, number>>;
  /** Bytes 32-47 of a SCSI Command: the CDB (at most 16 bytes; longer CDBs need an AHS, which we never send). */
  cdb?: Buffer;
  data?: Buffer;
}

/** Bytes of padding after a data segment of `length` bytes. */
export function padding(length: number): number {
  return (4 - (length % 4)) % 4;
}

/** Encodes a PDU into the buffers to write (header, then data and padding when there is data). */
export function encodePdu(fields: PduFields): Buffer[] {
  const bhs = Buffer.alloc(BHS_LENGTH);
  const data = fields.data ?? Buffer.alloc(0);
  if (data.length > 0xffffff) throw new IscsiProtocolError(`data segment of ${data.length} bytes does not fit 24 bits`);
  bhs[0] = (fields.immediate === true ? 0x40 : 0) | (fields.opcode & 0x3f);
  bhs[1] = fields.flags & 0xff;
  bhs[2] = fields.byte2 ?? 0;
  bhs[3] = fields.byte3 ?? 0;
  bhs.writeUIntBE(data.length, 5, 3);
  fields.lun?.copy(bhs, 8, 0, 8);
  bhs.writeUInt32BE(fields.itt >>> 0, 16);
  for (const [offset, value] of Object.entries(fields.words ?? {})) bhs.writeUInt32BE(value >>> 0, Number(offset));
  if (fields.cdb !== undefined) {
    if (fields.cdb.length > 16) throw new IscsiProtocolError(`CDB of ${fields.cdb.length} bytes needs an AHS, which blockrig does not send`);
    fields.cdb.copy(bhs, 32);
  }
  if (data.length === 0) return [bhs];
  const pad = padding(data.length);
  return pad === 0 ? [bhs, data] : [bhs, data, Buffer.alloc(pad)];
}

/** Lengths a BHS announces: AHS bytes and data segment bytes (before padding). */
export function announcedLengths(bhs: Buffer): { ahs: number; data: number } {
  return { ahs: bhs[4]! * 4, data: bhs.readUIntBE(5, 3) };
}

/** Throws unless the opcode is one a target may send. */
export function checkTargetOpcode(bhs: Buffer): void {
  const opcode = bhs[0]! & 0x3f;
  if (!TARGET_OPCODES.has(opcode)) {
    throw new IscsiProtocolError(`the target sent a PDU with opcode ${opcodeName(opcode)}, which is not a target opcode (RFC 7143 11.2.1.2)`, {
      details: { opcode },
    });
  }
}

/** Encodes a LUN in single-level format (SAM-5 4.7): peripheral addressing below 256, flat space up to 16383. */
export function encodeLun(lun: number): Buffer {
  const out = Buffer.alloc(8);
  if (!Number.isInteger(lun) || lun < 0 || lun > 0x3fff) throw new IscsiProtocolError(`LUN ${lun} is outside 0..16383`);
  if (lun < 256) out[1] = lun;
  else out.writeUInt16BE(0x4000 | lun, 0);
  return out;
}

/** Decodes a single-level LUN as written by REPORT LUNS; undefined for forms blockrig does not address. */
export function decodeLun(bytes: Buffer): number | undefined {
  const method = bytes[0]! >> 6;
  if (method === 0 && bytes[0] === 0) return bytes[1];
  if (method === 1) return bytes.readUInt16BE(0) & 0x3fff;
  return undefined;
}

/** Serial number arithmetic on 32-bit sequence numbers (RFC 1982, used by RFC 7143 for CmdSN/StatSN). */
export function snLessThan(a: number, b: number): boolean {
  return a !== b && ((b - a) >>> 0) < 0x80000000;
}
