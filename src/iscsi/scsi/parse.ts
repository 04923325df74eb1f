/**
 * Parsers for the data SCSI commands return: standard INQUIRY (SPC-4 6.6.2), the VPD pages Supported VPD
 * Pages (0x00), Unit Serial Number (0x80), Device Identification (0x83), Block Limits (SBC-3 6.6.3, 0xB0),
 * READ CAPACITY (16) (SBC-3 5.16.2) and REPORT LUNS (SPC-4 6.33). Short or inconsistent data throws
 * `IscsiProtocolError` naming the page, never reads past the buffer.
 */
import { IscsiProtocolError } from '../../errors.js';
import { decodeLun } from '../pdu.js';

/** Standard INQUIRY data. */
export interface StandardInquiry {
  peripheralQualifier: number;
  /** 0 direct access block device, 0x0c storage array controller, ... */
  deviceType: number;
  removable: boolean;
  version: number;
  vendor: string;
  product: string;
  revision: string;
}

/** Block Limits VPD page (0xB0); lengths in logical blocks, 0 meaning "no limit reported". */
export interface BlockLimits {
  maxTransferLength: number;
  optimalTransferLength: number;
  maxUnmapLbaCount: number;
  maxUnmapDescriptorCount: number;
  optimalUnmapGranularity: number;
  /** Most blocks one WRITE SAME may cover (0: not reported). */
  maxWriteSameLength: number;
}

/** What MODE SENSE (10) of the Caching page says. */
export interface ModeFacts {
  /** Write protected (device-specific parameter bit 7, SBC-3 6.4.1). */
  writeProtected: boolean;
  /** The unit honours DPO and FUA (device-specific parameter bit 4). */
  dpoFua: boolean;
  /** Write cache enabled (Caching page byte 2 bit 2, SBC-3 6.4.5); undefined when the page is absent. */
  writeCache: boolean | undefined;
}

/** Parses MODE SENSE (10) data asked for the Caching page (0x08). */
export function parseModeSense10(data: Buffer): ModeFacts {
  need(data, 8, 'MODE SENSE (10)');
  const end = Math.min(data.length, 2 + data.readUInt16BE(0));
  let at = 8 + data.readUInt16BE(6);
  let writeCache: boolean | undefined;
  while (at + 2 <= end) {
    const page = data[at]! & 0x3f;
    const length = data[at + 1]!;
    if (page === 0x08 && at + 3 <= end) writeCache = (data[at + 2]! & 0x04) !== 0;
    at += 2 + length;
  }
  return { writeProtected: (data[3]! & 0x80) !== 0, dpoFua: (data[3]! & 0x10) !== 0, writeCache };
}

/** READ CAPACITY (16) data. */
export interface Capacity {
  /** Number of logical blocks (last LBA + 1). */
  blocks: bigint;
  blockLength: number;
  /** Logical blocks per physical block, as a power of two exponent. */
  physicalExponent: number;
  /** Logical block provisioning management enabled (thin provisioning: UNMAP works). */
  lbpme: boolean;
  /** Unmapped blocks read as zeroes. */
  lbprz: boolean;
}

/** Peripheral device type names (SPC-4 table 141), the ones worth naming. */
export const DEVICE_TYPES: Record<number, string> = { 0x00: 'direct-access block device', 0x05: 'CD/DVD', 0x0c: 'storage array controller', 0x0d: 'enclosure services', 0x1f: 'unknown' };

/** Parses standard INQUIRY data (at least 36 bytes). */
export function parseStandardInquiry(data: Buffer): StandardInquiry {
  need(data, 36, 'standard INQUIRY');
  return {
    peripheralQualifier: data[0]! >> 5,
    deviceType: data[0]! & 0x1f,
    removable: (data[1]! & 0x80) !== 0,
    version: data[2]!,
    vendor: ascii(data, 8, 16),
    product: ascii(data, 16, 32),
    revision: ascii(data, 32, 36),
  };
}

/** The payload of a VPD page after its 4-byte header, checked against the expected page code. */
export function vpdPayload(data: Buffer, page: number): Buffer {
  need(data, 4, `VPD page 0x${page.toString(16)}`);
  if (data[1] !== page) throw new IscsiProtocolError(`the target answered VPD page 0x${page.toString(16)} with page 0x${data[1]!.toString(16)}`);
  const length = data.readUInt16BE(2);
  need(data, 4 + length, `VPD page 0x${page.toString(16)}`);
  return data.subarray(4, 4 + length);
}

/** Supported VPD Pages (0x00): the page codes. */
export function parseSupportedPages(data: Buffer): number[] {
  return [...vpdPayload(data, 0x00)];
}

/** Unit Serial Number (0x80). */
export function parseSerialNumber(data: Buffer): string {
  return vpdPayload(data, 0x80).toString('latin1').replace(/\0/g, '').trim();
}

/**
 * Device Identification (0x83): the logical unit's designators as text. NAA and EUI-64 print as hex
 * (`naa.60000000...`), T10 vendor IDs and SCSI names as their text.
 */
export function parseDeviceIdentifiers(data: Buffer): string[] {
  const payload = vpdPayload(data, 0x83);
  const ids: string[] = [];
  for (let at = 0; at + 4 <= payload.length; ) {
    const codeSet = payload[at]! & 0x0f;
    const association = (payload[at + 1]! >> 4) & 0x03;
    const type = payload[at + 1]! & 0x0f;
    const length = payload[at + 3]!;
    if (at + 4 + length > payload.length) throw new IscsiProtocolError('the Device Identification VPD page has a designator running past its end');
    const value = payload.subarray(at + 4, at + 4 + length);
    at += 4 + length;
    if (association !== 0) continue; // only the logical unit's own designators
    const text = codeSet === 1 ? value.toString('hex') : value.toString('latin1').replace(/\0/g, '').trim();
    const prefix = type === 3 ? 'naa.' : type === 2 ? 'eui.' : type === 1 ? 't10.' : type === 8 ? '' : `type${type}.`;
    ids.push(`${prefix}${text}`);
  }
  return ids;
}

/** Block Limits (0xB0). */
export function parseBlockLimits(data: Buffer): BlockLimits {
  const p = vpdPayload(data, 0xb0);
  const u32 = (offset: number): number => (p.length >= offset + 4 ? p.readUInt32BE(offset) : 0);
  // Offsets are page offsets minus the 4-byte header (SBC-3 table 203).
  return {
    maxTransferLength: u32(4),
    optimalTransferLength: u32(8),
    maxUnmapLbaCount: u32(16),
    maxUnmapDescriptorCount: u32(20),
    optimalUnmapGranularity: u32(24),
    maxWriteSameLength: p.length >= 40 ? Number(BigInt.asUintN(53, p.readBigUInt64BE(32))) : 0,
  };
}

/** READ CAPACITY (16) data (at least 32 bytes are asked for; 14 are needed). */
export function parseCapacity16(data: Buffer): Capacity {
  need(data, 14, 'READ CAPACITY (16)');
  const blockLength = data.readUInt32BE(8);
  if (blockLength === 0) throw new IscsiProtocolError('the target reported a logical block length of 0');
  return {
    blocks: data.readBigUInt64BE(0) + 1n,
    blockLength,
    physicalExponent: data[13]! & 0x0f,
    lbpme: (data[14]! & 0x80) !== 0,
    lbprz: (data[14]! & 0x40) !== 0,
  };
}

/** REPORT LUNS data: the LUN numbers blockrig can address. */
export function parseReportLuns(data: Buffer): number[] {
  need(data, 8, 'REPORT LUNS');
  const length = Math.min(data.readUInt32BE(0), data.length - 8);
  const luns: number[] = [];
  for (let at = 8; at + 8 <= 8 + length; at += 8) {
    const lun = decodeLun(data.subarray(at, at + 8));
    if (lun !== undefined) luns.push(lun);
  }
  return luns;
}

function need(data: Buffer, bytes: number, what: string): void {
  if (data.length < bytes) throw new IscsiProtocolError(`the target returned ${data.length} bytes of ${what} data; at least ${bytes} are needed`);
}

function ascii(data: Buffer, start: number, end: number): string {
  return data.toString('latin1', start, end).replace(/\0/g, '').trim();
}
