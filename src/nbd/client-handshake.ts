/**
 * The client side of the fixed newstyle handshake ("Handshake" and "Option haggling" sections of the
 * spec): negotiate structured replies and the `base:allocation` context, then NBD_OPT_GO with an
 * NBD_INFO_BLOCK_SIZE request, falling back to NBD_OPT_EXPORT_NAME on servers that answer GO with
 * NBD_REP_ERR_UNSUP. Also NBD_OPT_LIST for `blockrig nbd list`.
 */
import { connect, type Socket } from 'node:net';
import { DisconnectedError, NbdExportNotFoundError, NbdHandshakeError, TimeoutError, UnsupportedError } from '../errors.js';
import type { Clock } from '../clock.js';
import type { NbdEndpoint } from './address.js';
import {
  BASE_ALLOCATION,
  ClientFlag,
  DEFAULT_MAX_PAYLOAD,
  HandshakeFlag,
  IHAVEOPT,
  InfoType,
  MAX_STRING,
  NBD_MAGIC,
  Option,
  OPTION_REPLY_HEADER_SIZE,
  OPTION_REPLY_MAGIC,
  OptionReply,
  optionName,
  REP_FLAG_ERROR,
} from './protocol.js';
import { SocketReader } from './socket-reader.js';

/** The oldstyle magic a pre-2011 server sends after NBDMAGIC. */
const OLDSTYLE_MAGIC = 0x00420281861253n;
/** Largest option reply payload we accept; real replies are a few KiB. */
const MAX_OPTION_REPLY = 1024 * 1024;

/** What the handshake established for one connection. */
export interface NegotiatedExport {
  readonly exportName: string;
  readonly size: number;
  readonly transmissionFlags: number;
  /** 1 when the server stated no constraint. */
  readonly minimumBlockSize: number;
  readonly preferredBlockSize: number;
  readonly maximumBlockSize: number;
  readonly structuredReplies: boolean;
  /** The id the server gave `base:allocation`, when it accepted it. */
  readonly allocationContextId: number | undefined;
  /** True when NBD_OPT_GO was refused and NBD_OPT_EXPORT_NAME used instead. */
  readonly usedExportNameFallback: boolean;
}

/** An export as NBD_OPT_LIST reports it. */
export interface ListedExport {
  readonly name: string;
  readonly description: string;
}

/**
 * An open socket with its reader. Bytes arrive through `onread` into one reused buffer: during the
 * handshake they are copied to `reader`; `takeOver` then hands the stream to the transmission phase.
 */
export interface NbdSocket {
  readonly socket: Socket;
  readonly reader: SocketReader;
  /** From now on, every received byte goes to `sink` (called with the reused buffer and a length). */
  takeOver(sink: (data: Buffer, length: number) => void): void;
}

/** Size of the reused receive buffer. */
const RECEIVE_BUFFER = 256 * 1024;

/** Connects to an endpoint with TCP_NODELAY; rejects with `DisconnectedError` or `TimeoutError`. */
export function connectEndpoint(endpoint: NbdEndpoint, timeoutMs: number, clock: Clock): Promise<NbdSocket> {
  const where = endpoint.kind === 'tcp' ? `${endpoint.host}:${endpoint.port}` : endpoint.path;
  return new Promise<NbdSocket>((resolve, reject) => {
    let sink: (data: Buffer, length: number) => void = () => undefined;
    // Every read lands in this one buffer, so the transmission phase allocates nothing per socket read.
    const onread = {
      buffer: Buffer.allocUnsafe(RECEIVE_BUFFER),
      callback: (length: number, data: Uint8Array): boolean => {
        sink(data as Buffer, length);
        return true;
      },
    };
    const socket = endpoint.kind === 'tcp' ? connect({ host: endpoint.host, port: endpoint.port, noDelay: true, onread }) : connect({ path: endpoint.path, onread });
    const timer = new AbortController();
    clock.sleep(timeoutMs, timer.signal).then(
      () => {
        socket.destroy();
        reject(new TimeoutError(`connecting to the NBD server at ${where} took longer than ${timeoutMs} ms: check it is running`));
      },
      () => undefined,
    );
    socket.once('connect', () => {
      timer.abort();
      socket.removeAllListeners('error');
      socket.on('error', () => undefined); // reported through the reader
      const reader = new SocketReader(socket, `NBD server ${where}`, undefined, true);
      sink = (data, length) => reader.feed(Buffer.from(data.subarray(0, length)));
      resolve({
        socket,
        reader,
        takeOver: (next) => {
          const left = reader.takeAll();
          sink = next;
          if (left.length > 0) next(left, left.length);
        },
      });
    });
    socket.once('error', (err) => {
      timer.abort();
      reject(new DisconnectedError(`cannot connect to the NBD server at ${where}: ${err.message}; check that it is running and the address is right`, { cause: err }));
    });
  });
}

/** Performs the handshake for `exportName`; the connection is in the transmission phase afterwards. */
export async function negotiate(conn: NbdSocket, exportName: string, wants: { structuredReplies: boolean; blockStatus: boolean }): Promise<NegotiatedExport> {
  const { fixed, noZeroes } = await greet(conn);
  if (!fixed) return exportNameFallback(conn, exportName, { noZeroes, fixed: false, structuredReplies: false });
  let structuredReplies = false;
  if (wants.structuredReplies) {
    sendOption(conn.socket, Option.StructuredReply, Buffer.alloc(0));
    const reply = await readOptionReply(conn, Option.StructuredReply);
    structuredReplies = reply.type === OptionReply.Ack;
  }
  let allocationContextId: number | undefined;
  if (structuredReplies && wants.blockStatus) allocationContextId = await setAllocationContext(conn, exportName);

  const name = Buffer.from(exportName, 'utf8');
  const go = Buffer.alloc(4 + name.length + 2 + 2);
  go.writeUInt32BE(name.length, 0);
  name.copy(go, 4);
  go.writeUInt16BE(1, 4 + name.length);
  go.writeUInt16BE(InfoType.BlockSize, 6 + name.length);
  sendOption(conn.socket, Option.Go, go);
  let size: number | undefined;
  let flags = 0;
  let blockSizes = [1, 4096, DEFAULT_MAX_PAYLOAD];
  for (;;) {
    const reply = await readOptionReply(conn, Option.Go);
    if (reply.type === OptionReply.Info && reply.data.length >= 2) {
      const info = reply.data.readUInt16BE(0);
      if (info === InfoType.Export && reply.data.length >= 12) {
        size = toSafeSize(reply.data.readBigUInt64BE(2));
        flags = reply.data.readUInt16BE(10);
      } else if (info === InfoType.BlockSize && reply.data.length >= 14) {
        blockSizes = [reply.data.readUInt32BE(2), reply.data.readUInt32BE(6), reply.data.readUInt32BE(10)];
      }
    } else if (reply.type === OptionReply.Ack) {
      if (size === undefined) throw new NbdHandshakeError('the NBD server acknowledged NBD_OPT_GO without sending NBD_INFO_EXPORT (size and flags)');
      const [minimum = 1, preferred = 4096, maximum = DEFAULT_MAX_PAYLOAD] = blockSizes;
      return { exportName, size, transmissionFlags: flags, minimumBlockSize: minimum, preferredBlockSize: preferred, maximumBlockSize: maximum, structuredReplies, allocationContextId, usedExportNameFallback: false };
    } else if (reply.type === OptionReply.ErrUnsup) {
      return exportNameFallback(conn, exportName, { noZeroes, fixed: true, structuredReplies });
    } else if (reply.type === OptionReply.ErrUnknown) {
      throw new NbdExportNotFoundError(exportName, { details: { serverMessage: reply.data.toString('utf8') } });
    } else if ((reply.type & REP_FLAG_ERROR) !== 0) {
      throw optionError(Option.Go, reply);
    }
  }
}

/** Lists the server's exports with NBD_OPT_LIST, then ends the session with NBD_OPT_ABORT. */
export async function listExports(conn: NbdSocket): Promise<ListedExport[]> {
  if (!(await greet(conn)).fixed) throw new UnsupportedError('the NBD server does not speak fixed newstyle, so it cannot list its exports');
  sendOption(conn.socket, Option.List, Buffer.alloc(0));
  const exports: ListedExport[] = [];
  for (;;) {
    const reply = await readOptionReply(conn, Option.List);
    if (reply.type === OptionReply.Ack) break;
    if ((reply.type & REP_FLAG_ERROR) !== 0) throw optionError(Option.List, reply);
    if (reply.type === OptionReply.Server && reply.data.length >= 4) {
      const length = reply.data.readUInt32BE(0);
      if (4 + length > reply.data.length) throw new NbdHandshakeError('the NBD server sent an NBD_REP_SERVER whose name overruns the reply');
      exports.push({ name: reply.data.toString('utf8', 4, 4 + length), description: reply.data.toString('utf8', 4 + length) });
    }
  }
  sendOption(conn.socket, Option.Abort, Buffer.alloc(0));
  conn.socket.end();
  return exports;
}

/** Reads the server greeting and answers with our flags; returns what the server offered. */
async function greet(conn: NbdSocket): Promise<{ fixed: boolean; noZeroes: boolean }> {
  const hello = await conn.reader.read(18).catch((err: unknown) => {
    throw new NbdHandshakeError('the NBD server closed the connection before greeting: is this an NBD server?', { cause: err });
  });
  const magic = hello.readBigUInt64BE(0);
  const second = hello.readBigUInt64BE(8);
  if (magic !== NBD_MAGIC) throw new NbdHandshakeError(`the peer is not an NBD server (greeting starts 0x${magic.toString(16)}, expected NBDMAGIC)`);
  if (second === OLDSTYLE_MAGIC) throw new UnsupportedError('the NBD server speaks the oldstyle protocol, which blockrig does not support; run it in newstyle mode');
  if (second !== IHAVEOPT) throw new NbdHandshakeError(`the NBD server sent an unknown handshake magic 0x${second.toString(16)}`);
  const flags = hello.readUInt16BE(16);
  const reply = Buffer.alloc(4);
  reply.writeUInt32BE((flags & HandshakeFlag.FixedNewstyle ? ClientFlag.FixedNewstyle : 0) | (flags & HandshakeFlag.NoZeroes ? ClientFlag.NoZeroes : 0));
  conn.socket.write(reply);
  return { fixed: (flags & HandshakeFlag.FixedNewstyle) !== 0, noZeroes: (flags & HandshakeFlag.NoZeroes) !== 0 };
}

async function setAllocationContext(conn: NbdSocket, exportName: string): Promise<number | undefined> {
  const name = Buffer.from(exportName, 'utf8');
  const query = Buffer.from(BASE_ALLOCATION, 'utf8');
  const data = Buffer.alloc(4 + name.length + 4 + 4 + query.length);
  data.writeUInt32BE(name.length, 0);
  name.copy(data, 4);
  data.writeUInt32BE(1, 4 + name.length);
  data.writeUInt32BE(query.length, 8 + name.length);
  query.copy(data, 12 + name.length);
  sendOption(conn.socket, Option.SetMetaContext, data);
  let id: number | undefined;
  for (;;) {
    const reply = await readOptionReply(conn, Option.SetMetaContext);
    if (reply.type === OptionReply.MetaContext && reply.data.length >= 4 && reply.data.toString('utf8', 4) === BASE_ALLOCATION) id = reply.data.readUInt32BE(0);
    else if (reply.type === OptionReply.Ack || (reply.type & REP_FLAG_ERROR) !== 0) return id;
  }
}

async function exportNameFallback(
  conn: NbdSocket,
  exportName: string,
  { noZeroes, fixed, structuredReplies }: { noZeroes: boolean; fixed: boolean; structuredReplies: boolean },
): Promise<NegotiatedExport> {
  sendOption(conn.socket, Option.ExportName, Buffer.from(exportName, 'utf8'));
  const reply = await conn.reader.read(noZeroes ? 10 : 134).catch((err: unknown) => {
    throw new NbdExportNotFoundError(exportName, { cause: err });
  });
  return {
    exportName,
    size: toSafeSize(reply.readBigUInt64BE(0)),
    transmissionFlags: reply.readUInt16BE(8),
    minimumBlockSize: 1,
    preferredBlockSize: 4096,
    maximumBlockSize: DEFAULT_MAX_PAYLOAD,
    structuredReplies,
    allocationContextId: undefined,
    usedExportNameFallback: fixed,
  };
}

function sendOption(socket: Socket, option: number, data: Buffer): void {
  const header = Buffer.alloc(16);
  header.writeBigUInt64BE(IHAVEOPT, 0);
  header.writeUInt32BE(option, 8);
  header.writeUInt32BE(data.length, 12);
  socket.write(data.length > 0 ? Buffer.concat([header, data]) : header);
}

interface OptionReplyMessage {
  readonly type: number;
  readonly data: Buffer;
}

async function readOptionReply(conn: NbdSocket, option: number): Promise<OptionReplyMessage> {
  const header = await conn.reader.read(OPTION_REPLY_HEADER_SIZE).catch((err: unknown) => {
    throw new NbdHandshakeError(`the NBD server closed the connection while answering ${optionName(option)}`, { cause: err });
  });
  if (header.readBigUInt64BE(0) !== OPTION_REPLY_MAGIC) throw new NbdHandshakeError(`the NBD server's reply to ${optionName(option)} has a bad magic`);
  if (header.readUInt32BE(8) !== option) throw new NbdHandshakeError(`the NBD server answered ${optionName(header.readUInt32BE(8))} when asked ${optionName(option)}`);
  const length = header.readUInt32BE(16);
  if (length > MAX_OPTION_REPLY) throw new NbdHandshakeError(`the NBD server's reply to ${optionName(option)} is ${length} bytes long, more than the ${MAX_OPTION_REPLY} blockrig accepts`);
  return { type: header.readUInt32BE(12), data: await conn.reader.read(length) };
}

function optionError(option: number, reply: OptionReplyMessage): NbdHandshakeError {
  const names: Record<number, string> = Object.fromEntries(Object.entries(OptionReply).map(([k, v]) => [v, `NBD_REP_${k.replace(/^Err/, 'ERR_')}`]));
  const message = reply.data.length > 0 && reply.data.length <= MAX_STRING ? `: ${reply.data.toString('utf8')}` : '';
  return new NbdHandshakeError(`the NBD server refused ${optionName(option)} with ${names[reply.type] ?? `error 0x${reply.type.toString(16)}`}${message}`, {
    details: { option, replyType: reply.type },
  });
}

function toSafeSize(value: bigint): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) throw new UnsupportedError(`the NBD export is ${value} bytes, larger than the 2^53 bytes blockrig can address`);
  return Number(value);
}
