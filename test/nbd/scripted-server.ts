/**
 * A scripted NBD server for client tests: it negotiates like an old server (no NBD_OPT_GO, no structured
 * replies, so clients must fall back to NBD_OPT_EXPORT_NAME) or like a modern one, and then hands every
 * request to a test-supplied function that writes whatever replies it wants (split, reordered, late,
 * never, or a dropped connection).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll } from 'vitest';
import { SocketReader } from '../../src/nbd/socket-reader.js';
import { IHAVEOPT, NBD_MAGIC, Option, OPTION_REPLY_MAGIC, OptionReply, InfoType, HandshakeFlag, TransmissionFlag } from '../../src/nbd/protocol.js';

/** A request as the scripted server received it. */
export interface ScriptedRequest {
  readonly type: number;
  readonly flags: number;
  readonly cookie: Buffer;
  readonly offset: number;
  readonly length: number;
  readonly payload: Buffer | undefined;
}

/** How the scripted server behaves. */
export interface Script {
  /** Answer GO and STRUCTURED_REPLY (modern) or refuse both with ERR_UNSUP (old). */
  readonly modern: boolean;
  readonly size: number;
  readonly flags?: number;
  /** Called for each request, with the connection to answer on. */
  onRequest(request: ScriptedRequest, socket: Socket, connection: number): void;
}

const servers = new Set<Server>();
afterAll(async () => {
  await Promise.all([...servers].map((s) => new Promise((resolve) => s.close(resolve))));
});

/** Starts a scripted server on a unix socket in `dir`; returns its socket path and its open sockets. */
export async function startScriptedServer(dir: string, tag: string, script: Script): Promise<{ socketPath: string; sockets: Set<Socket>; server: Server }> {
  const socketPath = join(dir, `scripted-${tag}.sock`);
  const sockets = new Set<Socket>();
  let connections = 0;
  const server = createServer((socket) => {
    const connection = connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    void serve(socket, script, connection).catch(() => socket.destroy());
  });
  servers.add(server);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return { socketPath, sockets, server };
}

async function serve(socket: Socket, script: Script, connection: number): Promise<void> {
  const reader = new SocketReader(socket, 'test client');
  const hello = Buffer.alloc(18);
  hello.writeBigUInt64BE(NBD_MAGIC, 0);
  hello.writeBigUInt64BE(IHAVEOPT, 8);
  hello.writeUInt16BE(HandshakeFlag.FixedNewstyle | HandshakeFlag.NoZeroes, 16);
  socket.write(hello);
  await reader.read(4);
  const flags = script.flags ?? TransmissionFlag.HasFlags | TransmissionFlag.SendFlush;
  for (;;) {
    const header = await reader.read(16);
    const option = header.readUInt32BE(8);
    await reader.discard(header.readUInt32BE(12));
    if (option === Option.ExportName) {
      const tail = Buffer.alloc(10);
      tail.writeBigUInt64BE(BigInt(script.size), 0);
      tail.writeUInt16BE(flags, 8);
      socket.write(tail);
      break;
    }
    if (script.modern && option === Option.StructuredReply) {
      reply(socket, option, OptionReply.Ack, Buffer.alloc(0));
    } else if (script.modern && option === Option.Go) {
      const info = Buffer.alloc(12);
      info.writeUInt16BE(InfoType.Export, 0);
      info.writeBigUInt64BE(BigInt(script.size), 2);
      info.writeUInt16BE(flags, 10);
      reply(socket, option, OptionReply.Info, info);
      reply(socket, option, OptionReply.Ack, Buffer.alloc(0));
      break;
    } else reply(socket, option, OptionReply.ErrUnsup, Buffer.alloc(0));
  }
  for (;;) {
    const header = await reader.read(28);
    const type = header.readUInt16BE(6);
    const length = header.readUInt32BE(24);
    const payload = type === 1 ? await reader.read(length) : undefined;
    if (type === 2) {
      socket.end();
      return;
    }
    script.onRequest(
      { type, flags: header.readUInt16BE(4), cookie: Buffer.from(header.subarray(8, 16)), offset: Number(header.readBigUInt64BE(16)), length, payload },
      socket,
      connection,
    );
  }
}

function reply(socket: Socket, option: number, type: number, data: Buffer): void {
  const header = Buffer.alloc(20);
  header.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
  header.writeUInt32BE(option, 8);
  header.writeUInt32BE(type >>> 0, 12);
  header.writeUInt32BE(data.length, 16);
  socket.write(Buffer.concat([header, data]));
}

/** A simple reply header (errno 0 unless given), optionally followed by data. */
export function simpleReply(cookie: Buffer, errno = 0, data?: Buffer): Buffer {
  const header = Buffer.alloc(16);
  header.writeUInt32BE(0x67446698, 0);
  header.writeUInt32BE(errno, 4);
  cookie.copy(header, 8);
  return data ? Buffer.concat([header, data]) : header;
}

/** A structured reply chunk. */
export function chunk(cookie: Buffer, type: number, payload: Buffer, done: boolean): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt32BE(0x668e33ef, 0);
  header.writeUInt16BE(done ? 1 : 0, 4);
  header.writeUInt16BE(type, 6);
  cookie.copy(header, 8);
  header.writeUInt32BE(payload.length, 16);
  return Buffer.concat([header, payload]);
}
