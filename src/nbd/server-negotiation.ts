/**
 * The server side of the fixed newstyle handshake ("Option haggling"). Every option is read whole (or, when
 * longer than `MAX_OPTION_LENGTH`, discarded as it arrives and refused with NBD_REP_ERR_TOO_BIG), checked
 * against its exact layout (a bad layout gets NBD_REP_ERR_INVALID), and unknown options get
 * NBD_REP_ERR_UNSUP; negotiation goes on after every error reply. Only a bad magic, unknown client flags
 * or a client gone away end the connection, as the spec asks.
 */
import type { Socket } from 'node:net';
import type { SocketReader } from './socket-reader.js';
import {
  BASE_ALLOCATION,
  ClientFlag,
  HandshakeFlag,
  IHAVEOPT,
  InfoType,
  MAX_STRING,
  NBD_MAGIC,
  Option,
  OPTION_REPLY_MAGIC,
  OptionReply,
} from './protocol.js';
import type { ServedExport } from './server-export.js';

/** Longest option payload read into memory. */
export const MAX_OPTION_LENGTH = 64 * 1024;
/** The context id blockrig gives `base:allocation`. */
export const ALLOCATION_CONTEXT_ID = 1;

/** What negotiation settled, for the transmission phase. */
export interface SessionTerms {
  readonly export: ServedExport;
  readonly structuredReplies: boolean;
  /** True when the client asked for `base:allocation` with NBD_OPT_SET_META_CONTEXT. */
  readonly allocationContext: boolean;
  /** True when the client asked for NBD_INFO_BLOCK_SIZE, so it promised to honour the constraints. */
  readonly blockSizesAgreed: boolean;
}

/** Looks up exports by name; `''` is the default export. */
export interface ExportLookup {
  find(name: string): ServedExport | undefined;
  list(): readonly ServedExport[];
}

/** Runs the handshake; resolves with the terms, or undefined when the client ended it (ABORT, close). */
export async function negotiateServer(socket: Socket, reader: SocketReader, exports: ExportLookup): Promise<SessionTerms | undefined> {
  const greeting = Buffer.alloc(18);
  greeting.writeBigUInt64BE(NBD_MAGIC, 0);
  greeting.writeBigUInt64BE(IHAVEOPT, 8);
  greeting.writeUInt16BE(HandshakeFlag.FixedNewstyle | HandshakeFlag.NoZeroes, 16);
  socket.write(greeting);
  const clientFlags = (await reader.read(4)).readUInt32BE(0);
  if ((clientFlags & ~(ClientFlag.FixedNewstyle | ClientFlag.NoZeroes)) !== 0) return undefined; // spec: close on unknown flags
  const fixed = (clientFlags & ClientFlag.FixedNewstyle) !== 0;
  const noZeroes = (clientFlags & ClientFlag.NoZeroes) !== 0;
  let structuredReplies = false;
  // A context set for one export does not carry over to another ("Metadata querying").
  let allocationExport: string | undefined;

  for (;;) {
    const header = await reader.read(16);
    if (header.readBigUInt64BE(0) !== IHAVEOPT) return undefined;
    const option = header.readUInt32BE(8);
    const length = header.readUInt32BE(12);
    const reply = (type: number, data: Buffer = Buffer.alloc(0)): void => sendOptionReply(socket, option, type, data);
    const refuse = (type: number, message: string): void => reply(type, Buffer.from(message, 'utf8'));
    if (length > MAX_OPTION_LENGTH) {
      await reader.discard(length);
      if (!fixed) return undefined;
      refuse(OptionReply.ErrTooBig, `option data of ${length} bytes is longer than the ${MAX_OPTION_LENGTH} this server accepts`);
      continue;
    }
    const data = await reader.read(length);

    if (option === Option.ExportName) {
      const found = exports.find(data.toString('utf8'));
      if (found === undefined) return undefined; // the spec's only answer to an unknown name here
      const tail = Buffer.alloc(noZeroes ? 10 : 134);
      tail.writeBigUInt64BE(BigInt(found.size), 0);
      tail.writeUInt16BE(found.transmissionFlags(structuredReplies), 8);
      socket.write(tail);
      return { export: found, structuredReplies, allocationContext: allocationExport === found.name, blockSizesAgreed: false };
    }
    if (!fixed) return undefined; // a non-fixed client cannot be sent error replies
    switch (option) {
      case Option.Abort:
        reply(OptionReply.Ack);
        return undefined;
      case Option.List:
        if (length !== 0) refuse(OptionReply.ErrInvalid, 'NBD_OPT_LIST carries no data');
        else {
          for (const e of exports.list()) reply(OptionReply.Server, Buffer.concat([u32(Buffer.byteLength(e.name)), Buffer.from(e.name), Buffer.from(e.description)]));
          reply(OptionReply.Ack);
        }
        break;
      case Option.StructuredReply:
        if (length !== 0) refuse(OptionReply.ErrInvalid, 'NBD_OPT_STRUCTURED_REPLY carries no data');
        else {
          structuredReplies = true;
          reply(OptionReply.Ack);
        }
        break;
      case Option.Info:
      case Option.Go: {
        const request = parseInfoRequest(data);
        if (request === undefined) {
          refuse(OptionReply.ErrInvalid, 'malformed NBD_OPT_INFO/GO: name length and information requests do not match the option length');
          break;
        }
        const found = exports.find(request.name);
        if (found === undefined) {
          refuse(OptionReply.ErrUnknown, `no export named "${request.name}"`);
          break;
        }
        reply(OptionReply.Info, found.exportInfo(structuredReplies));
        if (request.infos.includes(InfoType.Name)) reply(OptionReply.Info, Buffer.concat([u16(InfoType.Name), Buffer.from(found.name)]));
        if (request.infos.includes(InfoType.Description) && found.description !== '') reply(OptionReply.Info, Buffer.concat([u16(InfoType.Description), Buffer.from(found.description)]));
        reply(OptionReply.Info, found.blockSizeInfo());
        reply(OptionReply.Ack);
        if (option === Option.Go) {
          const allocationContext = allocationExport === found.name;
          return { export: found, structuredReplies, allocationContext, blockSizesAgreed: request.infos.includes(InfoType.BlockSize) };
        }
        break;
      }
      case Option.ListMetaContext:
      case Option.SetMetaContext: {
        const request = parseMetaContextRequest(data);
        if (request === undefined) refuse(OptionReply.ErrInvalid, 'malformed meta context option: lengths do not match the option length');
        else if (option === Option.SetMetaContext && !structuredReplies) refuse(OptionReply.ErrInvalid, 'negotiate NBD_OPT_STRUCTURED_REPLY before NBD_OPT_SET_META_CONTEXT');
        else if (exports.find(request.name) === undefined) refuse(OptionReply.ErrUnknown, `no export named "${request.name}"`);
        else {
          const target = exports.find(request.name) as ServedExport;
          const listAll = option === Option.ListMetaContext && request.queries.length === 0;
          const matches = listAll || request.queries.some((q) => q === BASE_ALLOCATION || (option === Option.ListMetaContext && q === 'base:'));
          if (option === Option.SetMetaContext) allocationExport = matches ? target.name : undefined;
          if (matches) reply(OptionReply.MetaContext, Buffer.concat([u32(ALLOCATION_CONTEXT_ID), Buffer.from(BASE_ALLOCATION)]));
          reply(OptionReply.Ack);
        }
        break;
      }
      default:
        refuse(OptionReply.ErrUnsup, `option ${option} is not supported by this server`);
    }
  }
}

/** Writes one option reply. */
export function sendOptionReply(socket: Socket, option: number, type: number, data: Buffer): void {
  const header = Buffer.alloc(20);
  header.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
  header.writeUInt32BE(option, 8);
  header.writeUInt32BE(type >>> 0, 12);
  header.writeUInt32BE(data.length, 16);
  socket.write(data.length > 0 ? Buffer.concat([header, data]) : header);
}

function parseInfoRequest(data: Buffer): { name: string; infos: number[] } | undefined {
  if (data.length < 6) return undefined;
  const nameLength = data.readUInt32BE(0);
  if (nameLength > MAX_STRING || 4 + nameLength + 2 > data.length) return undefined;
  const count = data.readUInt16BE(4 + nameLength);
  if (data.length !== 4 + nameLength + 2 + 2 * count) return undefined;
  const infos: number[] = [];
  for (let i = 0; i < count; i++) infos.push(data.readUInt16BE(6 + nameLength + 2 * i));
  return { name: data.toString('utf8', 4, 4 + nameLength), infos };
}

function parseMetaContextRequest(data: Buffer): { name: string; queries: string[] } | undefined {
  if (data.length < 8) return undefined;
  const nameLength = data.readUInt32BE(0);
  if (nameLength > MAX_STRING || 4 + nameLength + 4 > data.length) return undefined;
  const count = data.readUInt32BE(4 + nameLength);
  const queries: string[] = [];
  let at = 8 + nameLength;
  for (let i = 0; i < count; i++) {
    if (at + 4 > data.length) return undefined;
    const length = data.readUInt32BE(at);
    if (length > MAX_STRING || at + 4 + length > data.length) return undefined;
    queries.push(data.toString('utf8', at + 4, at + 4 + length));
    at += 4 + length;
  }
  return at === data.length ? { name: data.toString('utf8', 4, 4 + nameLength), queries } : undefined;
}

function u32(value: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(value, 0);
  return b;
}

function u16(value: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(value, 0);
  return b;
}
