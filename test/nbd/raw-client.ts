/**
 * A byte-level NBD client for tests that must send what a well-behaved client never would: bad magics,
 * lying lengths, unknown options and commands, a connection cut mid-request.
 */
import { connect, type Socket } from 'node:net';
import { SocketReader } from '../../src/nbd/socket-reader.js';
import { ClientFlag, IHAVEOPT, InfoType, Option, OptionReply, REQUEST_MAGIC } from '../../src/nbd/protocol.js';

/** One option reply. */
export interface RawOptionReply {
  option: number;
  type: number;
  data: Buffer;
}

/** A raw connection; see the module comment. */
export class RawNbdClient {
  readonly socket: Socket;
  readonly reader: SocketReader;
  readonly #closed: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.reader = new SocketReader(socket, 'server under test');
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Connects to a unix socket and reads the 18-byte greeting. */
  static async connect(path: string): Promise<{ client: RawNbdClient; greeting: Buffer }> {
    const socket = connect({ path });
    socket.on('error', () => undefined);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const client = new RawNbdClient(socket);
    return { client, greeting: await client.reader.read(18) };
  }

  /** Connects, sends fixed-newstyle + no-zeroes flags. */
  static async handshake(path: string): Promise<RawNbdClient> {
    const { client } = await RawNbdClient.connect(path);
    client.send(u32(ClientFlag.FixedNewstyle | ClientFlag.NoZeroes));
    return client;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Sends an option whose header says `length` (default: the data's length). */
  option(option: number, data: Buffer = Buffer.alloc(0), length = data.length): void {
    const header = Buffer.alloc(16);
    header.writeBigUInt64BE(IHAVEOPT, 0);
    header.writeUInt32BE(option, 8);
    header.writeUInt32BE(length, 12);
    this.send(Buffer.concat([header, data]));
  }

  async optionReply(): Promise<RawOptionReply> {
    const header = await this.reader.read(20);
    return { option: header.readUInt32BE(8), type: header.readUInt32BE(12), data: await this.reader.read(header.readUInt32BE(16)) };
  }

  /** NBD_OPT_STRUCTURED_REPLY then NBD_OPT_GO asking for block sizes; returns the export size. */
  async go(name: string, structured = false): Promise<number> {
    if (structured) {
      this.option(Option.StructuredReply);
      await this.optionReply();
    }
    const n = Buffer.from(name);
    this.option(Option.Go, Buffer.concat([u32(n.length), n, u16(1), u16(InfoType.BlockSize)]));
    let size = -1;
    for (;;) {
      const reply = await this.optionReply();
      if (reply.type === OptionReply.Info && reply.data.readUInt16BE(0) === InfoType.Export) size = Number(reply.data.readBigUInt64BE(2));
      if (reply.type === OptionReply.Ack) return size;
      if (reply.type !== OptionReply.Info) throw new Error(`GO refused with 0x${reply.type.toString(16)}`);
    }
  }

  /** Sends a transmission request. */
  request(type: number, offset: number, length: number, options: { flags?: number; cookie?: number; payload?: Buffer; magic?: number } = {}): void {
    const header = Buffer.alloc(28);
    header.writeUInt32BE(options.magic ?? REQUEST_MAGIC, 0);
    header.writeUInt16BE(options.flags ?? 0, 4);
    header.writeUInt16BE(type, 6);
    header.writeBigUInt64BE(BigInt(options.cookie ?? 1), 8);
    header.writeBigUInt64BE(BigInt(offset), 16);
    header.writeUInt32BE(length, 24);
    this.send(options.payload ? Buffer.concat([header, options.payload]) : header);
  }

  /** Reads a simple reply: its errno and cookie, and `dataLength` bytes of data when the errno is 0. */
  async simpleReply(dataLength = 0): Promise<{ errno: number; cookie: number; data: Buffer }> {
    const header = await this.reader.read(16);
    const errno = header.readUInt32BE(4);
    const data = errno === 0 && dataLength > 0 ? await this.reader.read(dataLength) : Buffer.alloc(0);
    return { errno, cookie: Number(header.readBigUInt64BE(8)), data };
  }

  /** Resolves true if the server closes the connection within `ms`. */
  async closedWithin(ms: number): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const result = await Promise.race([this.#closed.then(() => true), new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), ms)))]);
    clearTimeout(timer);
    return result;
  }

  close(): void {
    this.socket.destroy();
  }
}

export function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b;
}

export function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value, 0);
  return b;
}
