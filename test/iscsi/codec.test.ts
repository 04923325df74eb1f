/**
 * The pure parts of the initiator: PDU framing and padding, LUN and CDB encoding, sense decoding (fixed and
 * descriptor), VPD and capacity parsing, and the URI form with its password redaction.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseDeviceUri, redactUri } from '../../drivers/uri.js';
import { ErrorCode } from '../../src/errors.js';
import { decodeLun, encodeLun, encodePdu, padding, snLessThan, TargetOpcode } from '../../src/iscsi/pdu.js';
import { PduReader } from '../../src/iscsi/pdu-reader.js';
import { read16, unmap, write16 } from '../../src/iscsi/scsi/cdb.js';
import { parseBlockLimits, parseCapacity16, parseDeviceIdentifiers, parseModeSense10, parseReportLuns, parseStandardInquiry, vpdPayload } from '../../src/iscsi/scsi/parse.js';
import { describeSense, parseSense } from '../../src/iscsi/scsi/sense.js';
import { decodeText } from '../../src/iscsi/text.js';
import { parseIscsiUri } from '../../src/iscsi/uri.js';

describe('iscsi PDU framing', () => {
  it('pads data segments to four bytes and frames PDUs split at any byte', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 70 }), { minLength: 1, maxLength: 5 }), fc.integer({ min: 1, max: 60 }), (payloads, step) => {
        const wire = Buffer.concat(payloads.flatMap((data, i) => encodePdu({ opcode: TargetOpcode.NopIn, flags: 0x80, itt: i, data: Buffer.from(data) })));
        expect(wire.length).toBe(payloads.reduce((n, d) => n + 48 + d.length + padding(d.length), 0));
        const reader = new PduReader(1024);
        const pdus = [];
        for (let at = 0; at < wire.length; at += step) pdus.push(...reader.push(wire.subarray(at, at + step)));
        expect(pdus.map((p) => p.itt)).toEqual(payloads.map((_, i) => i));
        pdus.forEach((p, i) => expect(Buffer.compare(p.data, Buffer.from(payloads[i]!))).toBe(0));
        expect(reader.partialBytes).toBe(0);
      }),
    );
  });

  it('skips additional header segments and refuses initiator opcodes and oversized segments', () => {
    const bhs = encodePdu({ opcode: TargetOpcode.ScsiResponse, flags: 0x80, itt: 9, data: Buffer.from('abcde') });
    bhs[0]![4] = 2; // 8 bytes of AHS
    const wire = Buffer.concat([bhs[0]!, Buffer.alloc(8, 0xaa), bhs[1]!, bhs[2]!]);
    const [pdu] = new PduReader(1024).push(wire);
    expect(pdu?.ahs.length).toBe(8);
    expect(pdu?.data.toString()).toBe('abcde');
    expect(() => new PduReader(1024).push(encodePdu({ opcode: 0x01, flags: 0x80, itt: 1 })[0]!)).toThrow(/not a target opcode/);
    expect(() => new PduReader(16).push(encodePdu({ opcode: TargetOpcode.DataIn, flags: 0x80, itt: 1, data: Buffer.alloc(20) })[0]!)).toThrow(/above the 16 bytes/);
  });

  it('encodes LUNs in peripheral and flat addressing, and compares sequence numbers modulo 2^32', () => {
    expect([...encodeLun(1)]).toEqual([0, 1, 0, 0, 0, 0, 0, 0]);
    expect([...encodeLun(300)]).toEqual([0x41, 0x2c, 0, 0, 0, 0, 0, 0]);
    expect(decodeLun(encodeLun(300))).toBe(300);
    expect(snLessThan(0xfffffff0, 5)).toBe(true);
    expect(snLessThan(5, 0xfffffff0)).toBe(false);
    expect(snLessThan(7, 7)).toBe(false);
  });

  it('decodes text and refuses pairs without a key', () => {
    expect(decodeText(Buffer.from('A=1\0B=\0\0\0'))).toEqual([{ key: 'A', value: '1' }, { key: 'B', value: '' }]);
    expect(() => decodeText(Buffer.from('=x\0'))).toThrow(/not key=value/);
    expect(() => decodeText(Buffer.from('A=1\0A=2\0'))).toThrow(/twice/);
  });
});

describe('SCSI encoding and decoding', () => {
  it('builds READ(16), WRITE(16) with FUA and UNMAP parameter lists', () => {
    const r = read16(2 ** 40 + 5, 8);
    expect(r[0]).toBe(0x88);
    expect(r.readBigUInt64BE(2)).toBe(2n ** 40n + 5n);
    expect(r.readUInt32BE(10)).toBe(8);
    expect(write16(1, 1, true)[1]).toBe(0x08);
    expect(write16(1, 1, false)[1]).toBe(0);
    const { cdb, parameters } = unmap([{ lba: 10, blocks: 20 }, { lba: 100, blocks: 1 }]);
    expect(cdb.readUInt16BE(7)).toBe(40);
    expect(parameters.readUInt16BE(0)).toBe(38);
    expect(parameters.readUInt16BE(2)).toBe(32);
    expect(parameters.readBigUInt64BE(24)).toBe(100n);
    expect(() => read16(-1, 1)).toThrow(/does not fit/);
  });

  it('decodes fixed and descriptor sense', () => {
    const fixed = parseSense(Buffer.from([0xf0, 0, 0x03, 0, 0, 0x12, 0x34, 10, 0, 0, 0, 0, 0x11, 0x00, 0, 0, 0, 0]))!;
    expect(fixed).toMatchObject({ format: 'fixed', key: 3, keyName: 'MEDIUM ERROR', asc: 0x11, ascq: 0, information: 0x1234n });
    expect(describeSense(fixed)).toBe('MEDIUM ERROR: unrecovered read error (ASC 0x11, ASCQ 0x00) at information 4660');
    const descriptor = parseSense(Buffer.from([0x72, 0x06, 0x29, 0x00, 0, 0, 0, 0]))!;
    expect(descriptor).toMatchObject({ format: 'descriptor', keyName: 'UNIT ATTENTION', description: 'power on, reset, or bus device reset occurred' });
    expect(descriptor.information).toBeUndefined();
    expect(parseSense(Buffer.from([0x72, 5, 0x21, 0, 0, 0, 0, 200, 0, 0xff]))).toMatchObject({ description: 'logical block address out of range' });
    expect(parseSense(Buffer.from([0x12, 0]))).toBeUndefined();
  });

  it('parses INQUIRY, VPD pages, READ CAPACITY(16) and REPORT LUNS, refusing short data', () => {
    const std = Buffer.alloc(36);
    std.write('IET     VIRTUAL-DISK    0001', 8, 'latin1');
    expect(parseStandardInquiry(std)).toMatchObject({ deviceType: 0, vendor: 'IET', product: 'VIRTUAL-DISK', revision: '0001' });
    expect(() => parseStandardInquiry(Buffer.alloc(10))).toThrow(/at least 36/);
    const ids = Buffer.from([0, 0x83, 0, 20, 0x01, 0x03, 0, 8, 0x60, 1, 2, 3, 4, 5, 6, 7, 0x02, 0x01, 0, 4, 0x41, 0x42, 0x43, 0x44]);
    expect(parseDeviceIdentifiers(ids)).toEqual(['naa.6001020304050607', 't10.ABCD']);
    const broken = Buffer.from(ids);
    broken[7] = 60;
    expect(() => parseDeviceIdentifiers(broken)).toThrow(/running past its end/);
    expect(() => vpdPayload(Buffer.from([0, 0x80, 0, 4]), 0x83)).toThrow(/answered VPD page 0x83 with page 0x80/);
    const limits = Buffer.alloc(64);
    limits[1] = 0xb0;
    limits.writeUInt16BE(60, 2);
    limits.writeUInt32BE(1024, 8);
    limits.writeUInt32BE(0xffffffff, 20);
    limits.writeUInt32BE(16, 24);
    expect(parseBlockLimits(limits)).toMatchObject({ maxTransferLength: 1024, maxUnmapLbaCount: 0xffffffff, maxUnmapDescriptorCount: 16 });
    const cap = Buffer.alloc(32);
    cap.writeBigUInt64BE(32767n, 0);
    cap.writeUInt32BE(512, 8);
    cap[13] = 3;
    cap[14] = 0xc0;
    expect(parseCapacity16(cap)).toEqual({ blocks: 32768n, blockLength: 512, physicalExponent: 3, lbpme: true, lbprz: true });
    const mode = Buffer.alloc(8 + 20);
    mode.writeUInt16BE(mode.length - 2, 0);
    mode[3] = 0x90;
    mode[8] = 0x08;
    mode[9] = 18;
    mode[10] = 0x04;
    expect(parseModeSense10(mode)).toEqual({ writeProtected: true, dpoFua: true, writeCache: true });
    mode[10] = 0;
    mode[3] = 0;
    expect(parseModeSense10(mode)).toEqual({ writeProtected: false, dpoFua: false, writeCache: false });
    expect(parseModeSense10(mode.subarray(0, 8))).toMatchObject({ writeCache: undefined });
    const luns = Buffer.alloc(32);
    luns.writeUInt32BE(24, 0);
    encodeLun(0).copy(luns, 8);
    encodeLun(1).copy(luns, 16);
    encodeLun(300).copy(luns, 24);
    expect(parseReportLuns(luns)).toEqual([0, 1, 300]);
  });
});

describe('iscsi URIs', () => {
  const parse = (text: string): ReturnType<typeof parseIscsiUri> => parseIscsiUri(parseDeviceUri(text));

  it("reads libiscsi's form, with user%password and user:password for CHAP", () => {
    expect(parse('iscsi://10.0.0.5/iqn.2026-01.org.example:disk1/3')).toMatchObject({ host: '10.0.0.5', port: 3260, targetName: 'iqn.2026-01.org.example:disk1', lun: 3 });
    expect(parse('iscsi://rig%s3cret@127.0.0.1:3261/iqn.x:y/1?timeout=500&initiator=iqn.2026-01.a:b')).toMatchObject({
      port: 3261,
      chap: { user: 'rig', secret: 's3cret' },
      timeoutMs: 500,
      initiatorName: 'iqn.2026-01.a:b',
    });
    expect(parse('iscsi://rig:pw@[::1]/iqn.x:y/0')).toMatchObject({ host: '::1', chap: { user: 'rig', secret: 'pw' } });
  });

  it('names what is wrong with a bad URI', () => {
    for (const [text, message] of [
      ['iscsi://host/iqn.x:y', /TARGET-IQN\/LUN/],
      ['iscsi://host/iqn.x:y/lun1', /LUN "lun1"/],
      ['iscsi://rig@host/iqn.x:y/1', /needs a password/],
      ['iscsi://host/iqn.x:y/1?timeout=-3', /timeout=-3/],
      ['iscsi://rig%s3cret@host/iqn.x:y/99999', /^(?!.*s3cret).*LUN "99999"/],
    ] as const) {
      expect(() => parse(text)).toThrow(message);
      try {
        parse(text);
      } catch (err) {
        expect(err).toMatchObject({ code: ErrorCode.InvalidUri });
      }
    }
  });

  it('redacts the password in both forms', () => {
    expect(redactUri('iscsi://rig%s3cret@host/iqn.x:y/1')).toBe('iscsi://rig%***@host/iqn.x:y/1');
    expect(redactUri('iscsi://rig:s3cret@host/iqn.x:y/1')).toBe('iscsi://rig:***@host/iqn.x:y/1');
  });
});
