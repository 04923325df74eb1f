/**
 * A small iSCSI target written for the tests, to be hostile on purpose. It logs initiators in (echoing every
 * offered key, which every result function accepts), serves a 1 MiB in-memory disk at LUN 1 (INQUIRY, TEST
 * UNIT READY, READ CAPACITY (16), READ (16), WRITE (16) with immediate data, SYNCHRONIZE CACHE (16)), and lets a test replace the
 * answer to any command or the login with raw bytes: wrong ITTs, truncated PDUs, unknown opcodes, silence.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll } from 'vitest';
import { encodePdu, RESERVED_TAG, TargetOpcode, type Pdu } from '../../src/iscsi/pdu.js';
import { PduReader } from '../../src/iscsi/pdu-reader.js';
import { decodeText, encodeText } from '../../src/iscsi/text.js';

/** What a script gets for each PDU the initiator sends after login. */
export interface FakeContext {
  readonly pdu: Pdu;
  readonly socket: Socket;
  /** Sends a target PDU with sequence numbers filled in (StatSN at 24, ExpCmdSN at 28, MaxCmdSN at 32). */
  send(opcode: number, flags: number, fields: { itt?: number; byte2?: number; byte3?: number; words?: Record<number, number>; data?: Buffer; lun?: Buffer }): void;
  /** The built-in disk's answer to this PDU. */
  answerNormally(): void;
  /** Next StatSN (incremented by `send` for status-bearing PDUs when `advance` is true). */
  statSn: number;
  maxCmdSn: number;
}

/** A script: return true when it handled the PDU, false to let the built-in disk answer. */
export type FakeScript = (ctx: FakeContext) => boolean;

const DISK_BYTES = 1024 * 1024;
const BLOCK = 512;

/** A fake target on 127.0.0.1. */
export class FakeTarget {
  readonly disk = Buffer.alloc(DISK_BYTES);
  /** Every SCSI Command and NOP-Out PDU received after login, in order. */
  readonly received: Pdu[] = [];
  /** Window size (MaxCmdSN - ExpCmdSN + 1) the target opens. */
  window = 32;
  /** Replaces the login response bytes when set. */
  loginScript: ((socket: Socket, request: Pdu) => void) | undefined;
  script: FakeScript = () => false;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  readonly #writes = new Map<number, { base: number; expected: number; received: number; ctx: FakeContext }>();

  private constructor(server: Server) {
    this.#server = server;
  }

  /** Starts listening on a free port; closed when the test file ends. */
  static async start(): Promise<FakeTarget> {
    const server = createServer();
    const target = new FakeTarget(server);
    server.on('connection', (socket) => target.#serve(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    afterAll(() => target.close());
    return target;
  }

  get port(): number {
    const address = this.#server.address();
    return typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** The URI of LUN 1. */
  uri(query = ''): string {
    return `iscsi://127.0.0.1:${this.port}/iqn.2026-01.dev.blockrig:fake/1${query}`;
  }

  /** Stops listening and drops every connection. */
  async close(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #serve(socket: Socket): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => undefined);
    const reader = new PduReader(1 << 24, 'initiator');
    let expCmdSn = 0;
    let statSn = 1;
    let loggedIn = false;
    socket.on('data', (chunk: Buffer) => {
      for (const pdu of reader.push(chunk)) {
        if (!loggedIn) {
          expCmdSn = pdu.u32(24);
          if (this.loginScript) {
            this.loginScript(socket, pdu);
            continue;
          }
          const csg = (pdu.flags >> 2) & 3;
          const nsg = csg === 0 ? 1 : 3;
          const answers = decodeText(pdu.data)
            .filter((p) => !['InitiatorName', 'TargetName', 'SessionType'].includes(p.key))
            .map((p) => (p.key === 'AuthMethod' ? { key: p.key, value: 'None' } : p.key === 'MaxRecvDataSegmentLength' ? { key: p.key, value: '8192' } : p));
          socket.write(Buffer.concat(encodePdu({ opcode: TargetOpcode.LoginResponse, flags: 0x80 | (csg << 2) | nsg, lun: pdu.bhs.subarray(8, 16), itt: pdu.itt, words: { 24: statSn++, 28: expCmdSn, 32: expCmdSn + this.window - 1 }, data: encodeText(answers) })));
          if (nsg === 3) loggedIn = true;
          continue;
        }
        if (pdu.opcode === 0x01 && (pdu.bhs[0]! & 0x40) === 0) expCmdSn = (pdu.u32(24) + 1) >>> 0;
        this.received.push(pdu);
        const ctx: FakeContext = {
          pdu,
          socket,
          statSn,
          maxCmdSn: expCmdSn + this.window - 1,
          send: (opcode, flags, fields) => {
            const statusBearing = opcode === TargetOpcode.ScsiResponse || opcode === TargetOpcode.LogoutResponse || (opcode === TargetOpcode.NopIn && (fields.itt ?? pdu.itt) !== RESERVED_TAG) || (opcode === TargetOpcode.DataIn && (flags & 1) !== 0) || opcode === TargetOpcode.Reject;
            socket.write(Buffer.concat(encodePdu({ opcode, flags, itt: fields.itt ?? pdu.itt, byte2: fields.byte2, byte3: fields.byte3, lun: fields.lun, data: fields.data, words: { 24: statusBearing ? statSn++ : statSn, 28: expCmdSn, 32: (expCmdSn + this.window - 1) >>> 0, ...fields.words } })));
            ctx.statSn = statSn;
          },
          answerNormally: () => this.#answer(ctx),
        };
        if (!this.script(ctx)) this.#answer(ctx);
      }
    });
  }

  /** The built-in disk. */
  #answer(ctx: FakeContext): void {
    const { pdu } = ctx;
    if (pdu.opcode === 0x06) {
      ctx.send(TargetOpcode.LogoutResponse, 0x80, {});
      return;
    }
    if (pdu.opcode === 0x05) {
      // Unsolicited Data-Out of a write whose immediate data did not carry it all.
      const write = this.#writes.get(pdu.itt);
      if (write === undefined) return;
      pdu.data.copy(this.disk, write.base + pdu.u32(40));
      write.received += pdu.data.length;
      if (write.received >= write.expected) {
        this.#writes.delete(pdu.itt);
        write.ctx.send(TargetOpcode.ScsiResponse, 0x80, {});
      }
      return;
    }
    if (pdu.opcode === 0x00 && pdu.itt !== RESERVED_TAG) {
      // An initiator's ping: answer with a NOP-In carrying its ITT and data (RFC 7143 11.19).
      ctx.send(TargetOpcode.NopIn, 0x80, { words: { 20: RESERVED_TAG }, data: pdu.data });
      return;
    }
    if (pdu.opcode !== 0x01) return; // NOP-Out echoes of our own pings need no answer
    const cdb = pdu.bhs.subarray(32, 48);
    const good = (data?: Buffer): void => {
      // Less data than the allocation length is an underflow: U bit and the residual count (RFC 7143 11.7.5).
      const short = data === undefined ? 0 : Math.max(0, allocation - data.length);
      if (data && data.length > 0) ctx.send(TargetOpcode.DataIn, 0x81 | (short > 0 ? 0x02 : 0), { byte3: 0, data, words: { 36: 0, 40: 0, 44: short } });
      else ctx.send(TargetOpcode.ScsiResponse, 0x80, {});
    };
    const allocation = pdu.u32(20);
    switch (cdb[0]) {
      case 0x00:
      case 0x91:
        return good();
      case 0x12: {
        const page = (cdb[1]! & 1) === 1 ? cdb[2]! : -1;
        const data = page === -1 ? Buffer.alloc(36) : Buffer.from([0, page, 0, page === 0 ? 1 : 0, 0]);
        if (page === -1) {
          data[2] = 5;
          data.write('FAKE    HOSTILE-DISK    0001', 8, 'latin1');
        }
        return good(data.subarray(0, Math.min(allocation, page === 0 ? 5 : data.length)));
      }
      case 0x9e: {
        const data = Buffer.alloc(32);
        data.writeBigUInt64BE(BigInt(DISK_BYTES / BLOCK - 1), 0);
        data.writeUInt32BE(BLOCK, 8);
        return good(data);
      }
      case 0x88: {
        const lba = Number(cdb.readBigUInt64BE(2));
        const blocks = cdb.readUInt32BE(10);
        return good(this.disk.subarray(lba * BLOCK, (lba + blocks) * BLOCK));
      }
      case 0x8a: {
        const base = Number(cdb.readBigUInt64BE(2)) * BLOCK;
        pdu.data.copy(this.disk, base);
        if (pdu.data.length >= allocation) return good();
        this.#writes.set(pdu.itt, { base, expected: allocation, received: pdu.data.length, ctx });
        return;
      }
      default:
        // CHECK CONDITION, ILLEGAL REQUEST, invalid command operation code, in fixed format.
        ctx.send(TargetOpcode.ScsiResponse, 0x80, { byte3: 2, data: senseData(Buffer.from([0x70, 0, 5, 0, 0, 0, 0, 10, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0])) });
    }
  }
}

/** A SCSI Response data segment: SenseLength then the sense bytes. */
export function senseData(sense: Buffer): Buffer {
  const out = Buffer.alloc(2 + sense.length);
  out.writeUInt16BE(sense.length, 0);
  sense.copy(out, 2);
  return out;
}
