/**
 * Command descriptor blocks for the SCSI commands blockrig issues (SPC-4, SBC-3). Every builder returns the
 * CDB bytes; LBAs and lengths are checked to fit their fields, since a silently truncated LBA would write
 * somewhere else.
 */
import { InvalidArgumentError } from '../../errors.js';

/** Operation codes used. */
export const ScsiOp = {
  TestUnitReady: 0x00,
  Inquiry: 0x12,
  ModeSense10: 0x5a,
  Unmap: 0x42,
  Read16: 0x88,
  Write16: 0x8a,
  SynchronizeCache16: 0x91,
  WriteSame16: 0x93,
  ServiceActionIn16: 0x9e,
  ReportLuns: 0xa0,
} as const;

/** TEST UNIT READY (SPC-4 6.47). */
export function testUnitReady(): Buffer {
  return Buffer.alloc(6);
}

/** INQUIRY (SPC-4 6.6): standard data, or the VPD page `page` when given. */
export function inquiry(allocationLength: number, page?: number): Buffer {
  const cdb = Buffer.alloc(6);
  cdb[0] = ScsiOp.Inquiry;
  if (page !== undefined) {
    cdb[1] = 0x01;
    cdb[2] = page;
  }
  cdb.writeUInt16BE(checkField(allocationLength, 0xffff, 'allocation length'), 3);
  return cdb;
}

/** MODE SENSE (10) (SPC-4 6.12) of one page, current values, without block descriptors (DBD). */
export function modeSense10(page: number, allocationLength: number): Buffer {
  const cdb = Buffer.alloc(10);
  cdb[0] = ScsiOp.ModeSense10;
  cdb[1] = 0x08;
  cdb[2] = page & 0x3f;
  cdb.writeUInt16BE(checkField(allocationLength, 0xffff, 'allocation length'), 7);
  return cdb;
}

/** REPORT LUNS (SPC-4 6.33), select report 0 (all logical units). */
export function reportLuns(allocationLength: number): Buffer {
  const cdb = Buffer.alloc(12);
  cdb[0] = ScsiOp.ReportLuns;
  cdb.writeUInt32BE(checkField(allocationLength, 0xffffffff, 'allocation length'), 6);
  return cdb;
}

/** READ CAPACITY (16) (SBC-3 5.16): SERVICE ACTION IN (16) with service action 0x10. */
export function readCapacity16(allocationLength = 32): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = ScsiOp.ServiceActionIn16;
  cdb[1] = 0x10;
  cdb.writeUInt32BE(allocationLength, 10);
  return cdb;
}

/** READ (16) (SBC-3 5.8). */
export function read16(lba: number, blocks: number): Buffer {
  return rw16(ScsiOp.Read16, lba, blocks, false);
}

/** WRITE (16) (SBC-3 5.40), with FUA (bit 3 of byte 1) when asked. */
export function write16(lba: number, blocks: number, fua: boolean): Buffer {
  return rw16(ScsiOp.Write16, lba, blocks, fua);
}

/** WRITE SAME (16) (SBC-3 5.45) of one block of data-out over `blocks` blocks; `unmap` may deallocate them. */
export function writeSame16(lba: number, blocks: number, unmap: boolean): Buffer {
  const cdb = rw16(ScsiOp.WriteSame16, lba, blocks, false);
  if (unmap) cdb[1] = 0x08;
  return cdb;
}

/** SYNCHRONIZE CACHE (16) (SBC-3 5.23) of the whole medium (LBA 0, 0 blocks). */
export function synchronizeCache16(): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = ScsiOp.SynchronizeCache16;
  return cdb;
}

/** UNMAP (SBC-3 5.28) and its parameter list with one descriptor per range. */
export function unmap(ranges: readonly { lba: number; blocks: number }[]): { cdb: Buffer; parameters: Buffer } {
  const parameters = Buffer.alloc(8 + 16 * ranges.length);
  parameters.writeUInt16BE(parameters.length - 2, 0);
  parameters.writeUInt16BE(16 * ranges.length, 2);
  ranges.forEach((range, i) => {
    parameters.writeBigUInt64BE(BigInt(checkField(range.lba, Number.MAX_SAFE_INTEGER, 'LBA')), 8 + 16 * i);
    parameters.writeUInt32BE(checkField(range.blocks, 0xffffffff, 'block count'), 16 + 16 * i);
  });
  const cdb = Buffer.alloc(10);
  cdb[0] = ScsiOp.Unmap;
  cdb.writeUInt16BE(checkField(parameters.length, 0xffff, 'parameter list length'), 7);
  return { cdb, parameters };
}

function rw16(op: number, lba: number, blocks: number, fua: boolean): Buffer {
  const cdb = Buffer.alloc(16);
  cdb[0] = op;
  if (fua) cdb[1] = 0x08;
  cdb.writeBigUInt64BE(BigInt(checkField(lba, Number.MAX_SAFE_INTEGER, 'LBA')), 2);
  cdb.writeUInt32BE(checkField(blocks, 0xffffffff, 'transfer length'), 10);
  return cdb;
}

function checkField(value: number, max: number, field: string): number {
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new InvalidArgumentError(`SCSI ${field} ${value} does not fit its field (0..${max})`, { details: { field, value } });
  }
  return value;
}
