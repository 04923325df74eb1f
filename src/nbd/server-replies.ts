/**
 * Encoding the server's replies ("Simple reply message" and "Structured reply chunk message" sections).
 * With structured replies negotiated, reads and block status get one chunk carrying NBD_REPLY_FLAG_DONE
 * (data, block status or an error with its message); every other command, and everything without
 * structured replies, gets a simple reply. Data goes out with the header in one corked write.
 */
import type { Socket } from 'node:net';
import { Command, ReplyFlag, ReplyType, SIMPLE_REPLY_MAGIC, STRUCTURED_REPLY_MAGIC } from './protocol.js';
import { ALLOCATION_CONTEXT_ID } from './server-negotiation.js';

/** A decoded request header. */
export interface ServerRequest {
  readonly flags: number;
  readonly type: number;
  readonly cookie: Buffer;
  readonly offset: number;
  readonly length: number;
  readonly payload: Buffer | undefined;
}

/** An answer to send: an errno (0 = success), optional read data or extents, optional message. */
export interface Answer {
  readonly errno: number;
  readonly message?: string;
  readonly data?: Buffer;
  readonly extents?: readonly { length: number; flags: number }[];
}

/** Writes replies on one connection. */
export class ReplyWriter {
  readonly #socket: Socket;
  readonly #structured: boolean;

  constructor(socket: Socket, structured: boolean) {
    this.#socket = socket;
    this.#structured = structured;
  }

  /** Sends the one reply `request` gets. */
  send(request: ServerRequest, answer: Answer): void {
    const socket = this.#socket;
    if (socket.destroyed) return;
    const structured = this.#structured && (request.type === Command.Read || request.type === Command.BlockStatus);
    if (!structured) {
      const header = Buffer.allocUnsafe(16);
      header.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
      header.writeUInt32BE(answer.errno, 4);
      request.cookie.copy(header, 8);
      if (answer.errno === 0 && answer.data !== undefined && answer.data.length > 0) this.#write(header, answer.data);
      else socket.write(header);
      return;
    }
    if (answer.errno !== 0) {
      const message = Buffer.from((answer.message ?? '').slice(0, 200), 'utf8');
      const payload = Buffer.alloc(6 + message.length);
      payload.writeUInt32BE(answer.errno, 0);
      payload.writeUInt16BE(message.length, 4);
      message.copy(payload, 6);
      this.#write(chunkHeader(request.cookie, ReplyType.Error, payload.length), payload);
    } else if (request.type === Command.BlockStatus) {
      const extents = answer.extents ?? [];
      const payload = Buffer.alloc(4 + 8 * extents.length);
      payload.writeUInt32BE(ALLOCATION_CONTEXT_ID, 0);
      extents.forEach((e, i) => {
        payload.writeUInt32BE(e.length, 4 + 8 * i);
        payload.writeUInt32BE(e.flags, 8 + 8 * i);
      });
      this.#write(chunkHeader(request.cookie, ReplyType.BlockStatus, payload.length), payload);
    } else if (request.length === 0) {
      socket.write(chunkHeader(request.cookie, ReplyType.None, 0));
    } else {
      const header = chunkHeader(request.cookie, ReplyType.OffsetData, 8 + request.length, 8);
      header.writeUInt32BE(Math.floor(request.offset / 2 ** 32), 20);
      header.writeUInt32BE(request.offset % 2 ** 32, 24);
      this.#write(header, answer.data as Buffer);
    }
  }

  #write(header: Buffer, body: Buffer): void {
    this.#socket.cork();
    this.#socket.write(header);
    this.#socket.write(body);
    this.#socket.uncork();
  }
}

/** A structured reply chunk header with NBD_REPLY_FLAG_DONE, with `extra` spare bytes after it. */
function chunkHeader(cookie: Buffer, type: number, length: number, extra = 0): Buffer {
  const header = Buffer.alloc(20 + extra);
  header.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
  header.writeUInt16BE(ReplyFlag.Done, 4);
  header.writeUInt16BE(type, 6);
  cookie.copy(header, 8);
  header.writeUInt32BE(length, 16);
  return header;
}
