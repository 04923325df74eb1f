/**
 * SCSI sense data (SPC-4 4.5): fixed format (response codes 0x70/0x71) and descriptor format (0x72/0x73),
 * decoded to key, ASC/ASCQ and the information field, with names an operator can read.
 */

/** Decoded sense. */
export interface Sense {
  /** 0x70/0x72 current, 0x71/0x73 deferred. */
  responseCode: number;
  format: 'fixed' | 'descriptor';
  deferred: boolean;
  key: number;
  keyName: string;
  asc: number;
  ascq: number;
  /** A short description of ASC/ASCQ when known. */
  description: string;
  /** The information field (often the failing LBA), when valid. */
  information?: bigint;
}

/** Sense key names (SPC-4 table 48). */
export const SENSE_KEYS = [
  'NO SENSE',
  'RECOVERED ERROR',
  'NOT READY',
  'MEDIUM ERROR',
  'HARDWARE ERROR',
  'ILLEGAL REQUEST',
  'UNIT ATTENTION',
  'DATA PROTECT',
  'BLANK CHECK',
  'VENDOR SPECIFIC',
  'COPY ABORTED',
  'ABORTED COMMAND',
  'RESERVED',
  'VOLUME OVERFLOW',
  'MISCOMPARE',
  'COMPLETED',
] as const;

/** Sense keys by name. */
export const SenseKey = {
  NoSense: 0x0,
  RecoveredError: 0x1,
  NotReady: 0x2,
  MediumError: 0x3,
  HardwareError: 0x4,
  IllegalRequest: 0x5,
  UnitAttention: 0x6,
  DataProtect: 0x7,
  AbortedCommand: 0xb,
} as const;

/** ASC/ASCQ descriptions blockrig is likely to meet (SPC-4 annex F); others print as hex. */
const ASC_TEXT: Record<number, string> = {
  0x0000: 'no additional sense information',
  0x0401: 'logical unit is in process of becoming ready',
  0x0402: 'logical unit not ready, initializing command required',
  0x0403: 'logical unit not ready, manual intervention required',
  0x1100: 'unrecovered read error',
  0x0c00: 'write error',
  0x1a00: 'parameter list length error',
  0x2000: 'invalid command operation code',
  0x2100: 'logical block address out of range',
  0x2400: 'invalid field in CDB',
  0x2500: 'logical unit not supported',
  0x2600: 'invalid field in parameter list',
  0x2700: 'write protected',
  0x2800: 'not ready to ready change, medium may have changed',
  0x2900: 'power on, reset, or bus device reset occurred',
  0x2901: 'power on occurred',
  0x2a01: 'mode parameters changed',
  0x2a09: 'capacity data has changed',
  0x3a00: 'medium not present',
  0x3f0e: 'reported luns data has changed',
  0x4400: 'internal target failure',
};

/** Decodes sense bytes; returns undefined when they are too short or of an unknown response code. */
export function parseSense(bytes: Buffer): Sense | undefined {
  if (bytes.length < 2) return undefined;
  const responseCode = bytes[0]! & 0x7f;
  if (responseCode === 0x70 || responseCode === 0x71) {
    if (bytes.length < 3) return undefined;
    const key = bytes[2]! & 0x0f;
    const asc = bytes.length > 12 ? bytes[12]! : 0;
    const ascq = bytes.length > 13 ? bytes[13]! : 0;
    const valid = (bytes[0]! & 0x80) !== 0 && bytes.length >= 7;
    return build(responseCode, 'fixed', key, asc, ascq, valid ? BigInt(bytes.readUInt32BE(3)) : undefined);
  }
  if (responseCode === 0x72 || responseCode === 0x73) {
    const key = bytes[1]! & 0x0f;
    const asc = bytes.length > 2 ? bytes[2]! : 0;
    const ascq = bytes.length > 3 ? bytes[3]! : 0;
    let information: bigint | undefined;
    // Walk the descriptors (from byte 8, bounded by the additional length) for the information descriptor.
    const end = Math.min(bytes.length, 8 + (bytes.length > 7 ? bytes[7]! : 0));
    for (let at = 8; at + 2 <= end; at += 2 + bytes[at + 1]!) {
      if (bytes[at] === 0x00 && bytes[at + 1] === 0x0a && at + 12 <= end && (bytes[at + 2]! & 0x80) !== 0) information = bytes.readBigUInt64BE(at + 4);
    }
    return build(responseCode, 'descriptor', key, asc, ascq, information);
  }
  return undefined;
}

/** One line: "MEDIUM ERROR: unrecovered read error (ASC 0x11, ASCQ 0x00) at information 1234". */
export function describeSense(sense: Sense): string {
  const info = sense.information === undefined ? '' : ` at information ${sense.information}`;
  return `${sense.keyName}: ${sense.description} (ASC 0x${hex(sense.asc)}, ASCQ 0x${hex(sense.ascq)})${info}${sense.deferred ? ', deferred' : ''}`;
}

function build(responseCode: number, format: Sense['format'], key: number, asc: number, ascq: number, information: bigint | undefined): Sense {
  const sense: Sense = {
    responseCode,
    format,
    deferred: responseCode === 0x71 || responseCode === 0x73,
    key,
    keyName: SENSE_KEYS[key] ?? 'UNKNOWN',
    asc,
    ascq,
    description: ASC_TEXT[(asc << 8) | ascq] ?? ASC_TEXT[asc << 8] ?? `additional sense 0x${hex(asc)}/0x${hex(ascq)}`,
  };
  if (information !== undefined) sense.information = information;
  return sense;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, '0');
}
