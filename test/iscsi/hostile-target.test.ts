/**
 * The initiator against a target that misbehaves on purpose (`fake-target.ts`): every broken answer ends in a
 * clear, coded error and nothing hangs; silence is cut off by timeouts on the injected clock. The same fake
 * also shows the protocol parts tgtd does not exercise: NOP-In pings, a CmdSN window of one, descriptor sense.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createIscsiDevice, type IscsiDevice } from '../../drivers/iscsi.js';
import { parseDeviceUri } from '../../drivers/uri.js';
import { ManualClock, type Clock } from '../../src/clock.js';
import { ErrorCode } from '../../src/errors.js';
import { encodePdu, RESERVED_TAG, TargetOpcode } from '../../src/iscsi/pdu.js';
import { parseIscsiUri } from '../../src/iscsi/uri.js';
import { waitFor } from '../support/processes.js';
import { FakeTarget, senseData, type FakeContext } from './fake-target.js';

let fake: FakeTarget;

beforeEach(async () => {
  fake = await FakeTarget.start();
});

function open(clock?: Clock): Promise<IscsiDevice> {
  const uri = fake.uri('?timeout=30000');
  return createIscsiDevice({ uri, address: parseIscsiUri(parseDeviceUri(uri)), reconnectDelayMs: 60_000, ...(clock && { clock }) });
}

const isRead = (ctx: FakeContext): boolean => ctx.pdu.opcode === 0x01 && ctx.pdu.bhs[32] === 0x88;
const isWrite = (ctx: FakeContext): boolean => ctx.pdu.opcode === 0x01 && ctx.pdu.bhs[32] === 0x8a;

/** Opens the device, makes the next READ meet `misbehave`, and returns the read's rejection. */
async function readAgainst(misbehave: (ctx: FakeContext) => void): Promise<{ error: unknown; dev: IscsiDevice }> {
  const dev = await open();
  fake.script = (ctx) => {
    if (!isRead(ctx)) return false;
    misbehave(ctx);
    return true;
  };
  const error = await dev.read(0, 4096).then(
    () => new Error('the read succeeded'),
    (err: unknown) => err,
  );
  await dev.close();
  return { error, dev };
}

describe('iscsi initiator against a well-behaved fake target', () => {
  it('reads and writes the fake disk', async () => {
    const dev = await open();
    await dev.write(4096, Buffer.alloc(4096, 0x5c));
    expect(fake.disk.subarray(4096, 8192).every((b) => b === 0x5c)).toBe(true);
    expect((await dev.read(4096, 4096)).every((b) => b === 0x5c)).toBe(true);
    expect(dev.describe()).toMatchObject({ vendor: 'FAKE', product: 'HOSTILE-DISK' });
    await dev.close();
  });

  it('falls back to writing zeroes when the target has no WRITE SAME, and asks only once', async () => {
    const dev = await open();
    fake.disk.fill(0xee, 0, 64 * 1024);
    await dev.writeZeroes(0, 16 * 1024);
    await dev.writeZeroes(32 * 1024, 16 * 1024, { fua: true });
    expect(fake.disk.subarray(0, 16 * 1024).every((b) => b === 0)).toBe(true);
    expect(fake.disk.subarray(16 * 1024, 32 * 1024).every((b) => b === 0xee)).toBe(true);
    expect(fake.disk.subarray(32 * 1024, 48 * 1024).every((b) => b === 0)).toBe(true);
    expect(fake.received.filter((p) => p.opcode === 0x01 && p.bhs[32] === 0x93)).toHaveLength(1);
    await dev.close();
  });

  it('answers a NOP-In ping with a NOP-Out echoing its TTT, LUN and data', async () => {
    const dev = await open();
    let pendingRead: FakeContext | undefined;
    fake.script = (ctx) => {
      if (isRead(ctx)) {
        pendingRead = ctx;
        ctx.send(TargetOpcode.NopIn, 0x80, { itt: RESERVED_TAG, words: { 20: 0x1234 }, data: Buffer.from('ping') });
        return true;
      }
      if (ctx.pdu.opcode === 0x00) pendingRead?.answerNormally();
      return ctx.pdu.opcode === 0x00;
    };
    expect((await dev.read(0, 4096)).length).toBe(4096);
    const nop = fake.received.find((p) => p.opcode === 0x00)!;
    expect(nop.itt).toBe(RESERVED_TAG);
    expect(nop.u32(20)).toBe(0x1234);
    expect(nop.bhs[0]! & 0x40).toBe(0x40);
    expect(nop.data.toString()).toBe('ping');
    await dev.close();
  });

  it('keeps within the CmdSN window: one command at a time when MaxCmdSN allows one, several when it allows four', async () => {
    for (const window of [1, 4]) {
      fake.window = window;
      const dev = await open();
      let outstanding = 0;
      let most = 0;
      fake.script = (ctx) => {
        if (!isRead(ctx)) return false;
        outstanding++;
        most = Math.max(most, outstanding);
        setTimeout(() => {
          outstanding--;
          ctx.answerNormally();
        }, 5);
        return true;
      };
      await Promise.all(Array.from({ length: 12 }, (_, i) => dev.read(i * 4096, 4096)));
      expect(most).toBe(window);
      await dev.close();
    }
  });

  it('retries a UNIT ATTENTION and reports descriptor-format sense decoded', async () => {
    const dev = await open();
    const before = dev.stats.unitAttentions;
    let reads = 0;
    fake.script = (ctx) => {
      if (!isRead(ctx)) return false;
      reads++;
      if (reads === 1) ctx.send(TargetOpcode.ScsiResponse, 0x80, { byte3: 2, data: senseData(Buffer.from([0x70, 0, 6, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x29, 0, 0, 0, 0, 0])) });
      else if (reads === 2) ctx.answerNormally();
      else {
        // Descriptor format: MEDIUM ERROR, unrecovered read error, information descriptor LBA 77.
        const sense = Buffer.from([0x72, 3, 0x11, 0, 0, 0, 0, 12, 0x00, 0x0a, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 77]);
        ctx.send(TargetOpcode.ScsiResponse, 0x80, { byte3: 2, data: senseData(sense) });
      }
      return true;
    };
    expect((await dev.read(0, 4096)).length).toBe(4096);
    expect(dev.stats.unitAttentions).toBe(before + 1);
    const error = await dev.read(0, 4096).catch((err: unknown) => err);
    expect(error).toMatchObject({ code: ErrorCode.Io, cause: { code: ErrorCode.ScsiSense, details: { senseKeyName: 'MEDIUM ERROR', asc: 0x11, senseFormat: 'descriptor', information: '77' } } });
    expect((error as Error).cause).toHaveProperty('message', expect.stringMatching(/MEDIUM ERROR: unrecovered read error .* at information 77/) as unknown);
    expect(dev.available).toBe(true);
    await dev.close();
  });
});

describe('iscsi initiator: target-initiated events', () => {
  it('pings an idle target, and turns unavailable when the pings go unanswered', async () => {
    const clock = new ManualClock();
    const uri = fake.uri('?timeout=30000&keepalive=10000');
    const dev = await createIscsiDevice({ uri, address: parseIscsiUri(parseDeviceUri(uri)), reconnectDelayMs: 600_000, clock });
    const reasons: string[] = [];
    dev.onAvailabilityChange((c) => reasons.push(c.reason));
    const pings = (): number => fake.received.filter((p) => p.opcode === 0x00 && p.itt !== RESERVED_TAG).length;
    // Answered: a second ping comes only after the first was answered and the link was idle again.
    await waitFor(async () => {
      await clock.advance(1000);
      return pings() >= 2;
    }, 20_000, 'two answered pings');
    expect(dev.available).toBe(true);
    // Unanswered: the session is dropped once a ping has waited the whole timeout.
    fake.script = (ctx) => ctx.pdu.opcode === 0x00;
    await waitFor(async () => {
      await clock.advance(1000);
      return !dev.available;
    }, 20_000, 'the device to give up on the silent target');
    expect(reasons[0]).toMatch(/did not answer a NOP-Out ping within 30000 ms/);
    await dev.close();
  });

  it('cancels a read in flight at once, drops its late answer, and keeps the session', async () => {
    const dev = await open();
    let held: FakeContext | undefined;
    fake.script = (ctx) => {
      if (!isRead(ctx) || held !== undefined) return false;
      held = ctx;
      return true;
    };
    const controller = new AbortController();
    const reading = dev.read(0, 4096, { signal: controller.signal }).catch((err: unknown) => err);
    await waitFor(() => held !== undefined, 5000, 'the READ to reach the target');
    controller.abort();
    expect(await reading).toMatchObject({ code: ErrorCode.Cancelled, message: expect.stringMatching(/cancelled while the target works on it/) as unknown });
    held!.answerNormally();
    fake.disk.fill(0x61, 8192, 12288);
    expect((await dev.read(8192, 4096)).every((b) => b === 0x61)).toBe(true);
    expect(dev.available).toBe(true);
    expect(dev.sessionsOpened).toBe(1);
    await dev.close();
  });

  it('maps DATA PROTECT to BLOCKRIG_E_READ_ONLY and NOT READY to BLOCKRIG_E_DEVICE_UNAVAILABLE', async () => {
    const dev = await open();
    fake.script = (ctx) => {
      if (isWrite(ctx)) ctx.send(TargetOpcode.ScsiResponse, 0x80, { byte3: 2, data: senseData(Buffer.from([0x70, 0, 7, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x27, 0, 0, 0, 0, 0])) });
      else if (isRead(ctx)) ctx.send(TargetOpcode.ScsiResponse, 0x80, { byte3: 2, data: senseData(Buffer.from([0x70, 0, 2, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x3a, 0, 0, 0, 0, 0])) });
      return isWrite(ctx) || isRead(ctx);
    };
    await expect(dev.write(0, Buffer.alloc(4096))).rejects.toMatchObject({ code: ErrorCode.ReadOnly });
    await expect(dev.read(0, 4096)).rejects.toMatchObject({ code: ErrorCode.DeviceUnavailable, message: expect.stringMatching(/NOT READY: medium not present/) as unknown });
    await dev.close();
  });

  it('ends the session when the target asks for a logout, and logs in again for the next request', async () => {
    const dev = await open();
    let asked = false;
    fake.script = (ctx) => {
      if (!isRead(ctx) || asked) return false;
      asked = true;
      ctx.send(TargetOpcode.AsyncMessage, 0x80, { itt: RESERVED_TAG, words: { 36: 0x01000000 } });
      return true;
    };
    await expect(dev.read(0, 4096)).rejects.toMatchObject({ code: ErrorCode.DeviceUnavailable, message: expect.stringMatching(/asked to end the session \(async event 1\)/) as unknown });
    expect(dev.available).toBe(false);
    expect((await dev.read(0, 4096)).length).toBe(4096);
    expect(dev.available).toBe(true);
    expect(dev.sessionsOpened).toBe(2);
    await dev.close();
  });
});

describe('iscsi initiator against a hostile fake target', () => {
  const cases: [string, (ctx: FakeContext) => void, RegExp][] = [
    ['Data-In for an ITT of no outstanding command', (ctx) => ctx.send(TargetOpcode.DataIn, 0x81, { itt: ctx.pdu.itt + 1000, data: Buffer.alloc(4096) }), /names no outstanding command/],
    ['a SCSI Response for a wrong ITT', (ctx) => ctx.send(TargetOpcode.ScsiResponse, 0x80, { itt: 0x7777 }), /ITT 0x7777, which names no outstanding command/],
    ['an opcode no target sends', (ctx) => ctx.socket.write(Buffer.concat(encodePdu({ opcode: 0x3a, flags: 0x80, itt: ctx.pdu.itt }))), /not a target opcode/],
    ['Data-In past the end of the buffer', (ctx) => ctx.send(TargetOpcode.DataIn, 0x81, { data: Buffer.alloc(4096), words: { 40: 8192 } }), /expected offset 0 within 4096 bytes/],
    ['Data-In with a DataSN gap', (ctx) => ctx.send(TargetOpcode.DataIn, 0x81, { data: Buffer.alloc(4096), words: { 36: 5 } }), /DataSN 5; expected 0/],
    ['success after half the data', (ctx) => ctx.send(TargetOpcode.DataIn, 0x81, { data: Buffer.alloc(2048) }), /reported success after sending 2048 of 4096 bytes/],
    ['a header announcing 16 MiB of data', (ctx) => {
      const bhs = encodePdu({ opcode: TargetOpcode.DataIn, flags: 0x81, itt: ctx.pdu.itt })[0]!;
      bhs.writeUIntBE(0xffffff, 5, 3);
      ctx.socket.write(bhs);
    }, /announced a data segment of 16777215 bytes/],
    ['half a header, then a closed connection', (ctx) => ctx.socket.end(Buffer.alloc(20, 0x25)), /closed the connection in the middle of a PDU/],
    ['a Reject of the command', (ctx) => ctx.send(TargetOpcode.Reject, 0x80, { itt: RESERVED_TAG, byte2: 0x04, data: ctx.pdu.bhs }), /rejected a PDU \(reason 0x4/],
    ['a SCSI Response whose sense length overruns its data', (ctx) => ctx.send(TargetOpcode.ScsiResponse, 0x80, { byte3: 2, data: Buffer.from([0, 200, 0x70, 0]) }), /announces 200 bytes of sense/],
  ];
  for (const [name, misbehave, message] of cases) {
    it(`fails the I/O clearly on ${name}`, async () => {
      const { error, dev } = await readAgainst(misbehave);
      expect(error).toMatchObject({ code: ErrorCode.DeviceUnavailable });
      expect((error as Error).message).toMatch(message);
      expect(dev.available).toBe(false);
    });
  }

  it('fails a write clearly when an R2T asks for data past its end', async () => {
    const dev = await open();
    fake.script = (ctx) => {
      if (isWrite(ctx)) ctx.send(TargetOpcode.R2T, 0x80, { words: { 20: 9, 36: 0, 40: 4096, 44: 65536 } });
      return isWrite(ctx) || ctx.pdu.opcode === 0x05;
    };
    await expect(dev.write(0, Buffer.alloc(4096))).rejects.toMatchObject({ code: ErrorCode.DeviceUnavailable, message: expect.stringMatching(/asked for 65536 bytes at offset 4096 of a 4096-byte write/) as unknown });
    await dev.close();
  });

  it('times out a command the target never answers, on the injected clock', async () => {
    const clock = new ManualClock();
    const dev = await open(clock);
    fake.script = (ctx) => isRead(ctx);
    const reading = dev.read(0, 4096).catch((err: unknown) => err);
    await waitFor(() => fake.received.some((p) => p.bhs[32] === 0x88), 5000, 'the READ to reach the target');
    await clock.advance(30_000);
    expect(await reading).toMatchObject({ code: ErrorCode.DeviceUnavailable, cause: { code: ErrorCode.Timeout }, message: expect.stringMatching(/did not complete SCSI command 0x88 within 30000 ms/) as unknown });
    await dev.close();
  });

  it('times out commands held back by a CmdSN window the target never opens again', async () => {
    const clock = new ManualClock();
    const dev = await open(clock);
    // From now on every answer says MaxCmdSN = ExpCmdSN - 1. A window cannot shrink (RFC 7143 4.2.2.1), so
    // the slots granted before still go out; the commands beyond them wait, and must time out.
    fake.window = 0;
    const commands = (): number => fake.received.filter((p) => p.opcode === 0x01).length;
    const sentBefore = commands();
    const reads = Array.from({ length: 48 }, (_, i) => dev.read(i * 4096, 4096).then(() => 'done', (err: unknown) => err));
    // Give wrongly sent READs time to reach the fake over loopback before they are counted below.
    await waitFor(() => commands() > sentBefore, 5000, 'the granted READs');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await clock.advance(30_000);
    const outcomes = await Promise.all(reads);
    const done = outcomes.filter((o) => o === 'done').length;
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(48);
    for (const o of outcomes.filter((x) => x !== 'done')) {
      expect(o).toMatchObject({ code: ErrorCode.DeviceUnavailable, message: expect.stringMatching(/did not complete SCSI command 0x88 within 30000 ms/) as unknown });
    }
    expect(commands() - sentBefore).toBe(done); // no held READ went out
    await dev.close();
  });

  it('times out a login the target never answers, on the injected clock', async () => {
    const clock = new ManualClock();
    let asked = false;
    fake.loginScript = () => (asked = true);
    const opening = open(clock).catch((err: unknown) => err);
    await waitFor(() => asked, 5000, 'the login request');
    await clock.advance(30_000);
    expect(await opening).toMatchObject({ code: ErrorCode.Timeout, message: expect.stringMatching(/sent no login response within 30000 ms/) as unknown });
  });

  it('refuses login text that is not key=value, and a login response with a wrong ITT', async () => {
    fake.loginScript = (socket, request) =>
      socket.write(Buffer.concat(encodePdu({ opcode: TargetOpcode.LoginResponse, flags: 0x81, lun: request.bhs.subarray(8, 16), itt: request.itt, data: Buffer.from('garbage\0') })));
    await expect(open()).rejects.toMatchObject({ code: ErrorCode.IscsiProtocol, message: expect.stringMatching(/"garbage", which is not key=value/) as unknown });
    fake.loginScript = (socket, request) =>
      socket.write(Buffer.concat(encodePdu({ opcode: TargetOpcode.LoginResponse, flags: 0x81, lun: request.bhs.subarray(8, 16), itt: request.itt ^ 1 })));
    await expect(open()).rejects.toMatchObject({ code: ErrorCode.IscsiProtocol, message: expect.stringMatching(/login response carries ITT/) as unknown });
  });

  it('refuses a target that demands header digests', async () => {
    fake.loginScript = (socket, request) =>
      socket.write(
        Buffer.concat(encodePdu({ opcode: TargetOpcode.LoginResponse, flags: 0x81, lun: request.bhs.subarray(8, 16), itt: request.itt, data: Buffer.from('HeaderDigest=CRC32C\0') })),
      );
    await expect(open()).rejects.toMatchObject({ code: ErrorCode.IscsiLogin, message: expect.stringMatching(/HeaderDigest=CRC32C/) as unknown });
  });
});
