/**
 * What blockrig learns about a logical unit when it opens it: standard INQUIRY, TEST UNIT READY (which
 * takes the session's first UNIT ATTENTION), the VPD pages the unit lists among 0x80, 0x83 and 0xB0, and
 * READ CAPACITY (16).
 */
import type { Clock } from '../../clock.js';
import { DeviceNotFoundError, ScsiSenseError, UnsupportedError } from '../../errors.js';
import type { IscsiSession } from '../session.js';
import { inquiry, modeSense10, readCapacity16, reportLuns, testUnitReady } from './cdb.js';
import { executeScsi, type ExecuteStats } from './execute.js';
import {
  DEVICE_TYPES,
  parseBlockLimits,
  parseCapacity16,
  parseDeviceIdentifiers,
  parseModeSense10,
  parseReportLuns,
  parseSerialNumber,
  parseStandardInquiry,
  parseSupportedPages,
  type BlockLimits,
  type Capacity,
  type ModeFacts,
  type StandardInquiry,
} from './parse.js';

/** A logical unit's identity and geometry. */
export interface LunIdentity {
  inquiry: StandardInquiry;
  supportedVpdPages: number[];
  serialNumber: string | undefined;
  identifiers: string[];
  blockLimits: BlockLimits | undefined;
  capacity: Capacity;
  /** From MODE SENSE; undefined when the unit refused it. */
  mode: ModeFacts | undefined;
  /** Every LUN of the target (REPORT LUNS); undefined when the unit refused it. */
  targetLuns: number[] | undefined;
}

/** Identifies `lun`; rejects with `UnsupportedError` when it is not a direct-access block device. */
export async function identifyLun(session: IscsiSession, lun: number, clock: Clock, stats?: ExecuteStats): Promise<LunIdentity> {
  const run = (cdb: Buffer, readLength: number, name: string): Promise<Buffer> => executeScsi(session, { lun, cdb, readLength }, name, clock, stats);
  // INQUIRY first: it works on a LUN that does not exist (qualifier 3) and never reports a UNIT ATTENTION.
  const standard = parseStandardInquiry(await run(inquiry(96), 96, 'INQUIRY'));
  if (standard.peripheralQualifier === 3) {
    // Peripheral qualifier 3: the target has no logical unit at this LUN (SPC-4 6.6.2).
    throw new DeviceNotFoundError(`iSCSI LUN ${lun}`, {
      details: { lun, peripheralQualifier: 3 },
    });
  }
  if (standard.peripheralQualifier !== 0 || standard.deviceType !== 0) {
    const type = DEVICE_TYPES[standard.deviceType] ?? `peripheral type 0x${standard.deviceType.toString(16)}`;
    throw new UnsupportedError(`iSCSI LUN ${lun} is a ${type}, not a direct-access block device (on tgt, LUN 0 is the controller; use LUN 1 or above)`, {
      details: { lun, deviceType: standard.deviceType, peripheralQualifier: standard.peripheralQualifier },
    });
  }
  await run(testUnitReady(), 0, 'TEST UNIT READY');
  const supportedVpdPages = parseSupportedPages(await run(inquiry(255, 0x00), 255, 'INQUIRY VPD 0x00'));
  const serialNumber = supportedVpdPages.includes(0x80) ? parseSerialNumber(await run(inquiry(255, 0x80), 255, 'INQUIRY VPD 0x80')) : undefined;
  const identifiers = supportedVpdPages.includes(0x83) ? parseDeviceIdentifiers(await run(inquiry(1024, 0x83), 1024, 'INQUIRY VPD 0x83')) : [];
  const blockLimits = supportedVpdPages.includes(0xb0) ? parseBlockLimits(await run(inquiry(64, 0xb0), 64, 'INQUIRY VPD 0xB0')) : undefined;
  const capacity = parseCapacity16(await run(readCapacity16(32), 32, 'READ CAPACITY(16)'));
  // MODE SENSE and REPORT LUNS are optional for a unit: one that refuses MODE SENSE is taken as writable,
  // with a write cache.
  const mode = await run(modeSense10(0x08, 64), 64, 'MODE SENSE(10)').then(parseModeSense10, refused);
  const targetLuns = await run(reportLuns(4096), 4096, 'REPORT LUNS').then(parseReportLuns, refused);
  return { inquiry: standard, supportedVpdPages, serialNumber, identifiers, blockLimits, capacity, mode, targetLuns };
}

/** An optional command the unit refused (any CHECK CONDITION) gives undefined; session failures still throw. */
function refused(err: unknown): undefined {
  if (err instanceof ScsiSenseError) return undefined;
  throw err;
}

/** REPORT LUNS: the logical units of the target (addressed through LUN 0, which every target has). */
export async function listLuns(session: IscsiSession, clock: Clock): Promise<number[]> {
  const data = await executeScsi(session, { lun: 0, cdb: reportLuns(4096), readLength: 4096 }, 'REPORT LUNS', clock);
  return parseReportLuns(data);
}
