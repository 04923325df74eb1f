/**
 * Encoding the server's replies ("Simple reply message" and "Structured reply chunk message" sections).
 * With structured replies negotiated, reads and block status get one chunk carrying NBD_REPLY_FLAG_DONE
 * (data, block status or an error with its message); every other command, and everything without
 * structured replies, gets a simple reply. An aligned read's data goes out in a pooled frame that holds the
 * header too (`frame-pool.ts`), so the reply is one socket write and nothing is allocated per read; other
 * data goes out with its header; replies produced together leave together (`BatchedSocketWrites`).
 */
import type { Socket } from 'node:net';
import { BatchedSocketWrites } from '../batched-socket-writes.js';
import type { PayloadFrame, PayloadFramePool } from './frame-pool.js';
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
  /** Returns the payload's pooled memory once the device is done with it (see `frame-pool.ts`). */
  readonly releasePayload?: (() => void) | undefined;
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
  readonly #frames: PayloadFramePool;
  /** Replies produced together leave in one writev (many, at a deep queue with page-cache hits). */
  readonly #batch: BatchedSocketWrites;

  constructor(socket: Socket, structured: boolean, frames: PayloadFramePool) {
    this.#socket = socket;
    this.#structured = structured;
    this.#frames = frames;
    this.#batch = new BatchedSocketWrites(socket);
  }

  /** Lends a frame for a read of `request.length` (> 0) bytes, with room for this connection's reply header. */
  takeReadFrame(request: ServerRequest): PayloadFrame {
    return this.#frames.take(this.#structured ? STRUCTURED_READ_HEADER : SIMPLE_HEADER, request.length);
  }

  /** Sends a successful read whose data is in `frame.payload`; the frame returns to the pool once written. */
  sendReadFrame(request: ServerRequest, frame: PayloadFrame): void {
    const socket = this.#socket;
    if (socket.destroyed) {
      frame.release();
      return;
    }
    const bytes = frame.bytes;
    if (this.#structured) writeDataChunkHeader(bytes, request);
    else writeSimpleHeader(bytes, 0, request.cookie);
    this.#batch.write(bytes, () => frame.release());
  }

  /** Sends the one reply `request` gets. */
  send(request: ServerRequest, answer: Answer): void {
    const socket = this.#socket;
    if (socket.destroyed) return;
    const structured = this.#structured && (request.type === Command.Read || request.type === Command.BlockStatus);
    if (!structured) {
      const header = Buffer.allocUnsafe(SIMPLE_HEADER);
      writeSimpleHeader(header, answer.errno, request.cookie);
      if (answer.errno === 0 && answer.data !== undefined && answer.data.length > 0) this.#write(header, answer.data);
      else this.#batch.write(header);
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
      this.#batch.write(chunkHeader(request.cookie, ReplyType.None, 0));
    } else {
      const header = Buffer.alloc(STRUCTURED_READ_HEADER);
      writeDataChunkHeader(header, request);
      this.#write(header, answer.data as Buffer);
    }
  }

  #write(header: Buffer, body: Buffer): void {
    this.#batch.write(header);
    this.#batch.write(body);
  }
}

/** Bytes of a simple reply header. */
const SIMPLE_HEADER = 16;
/** Bytes of a structured chunk header plus the 8-byte offset of NBD_REPLY_TYPE_OFFSET_DATA. */
const STRUCTURED_READ_HEADER = 28;

/** A simple reply header at the start of `into`. */
function writeSimpleHeader(into: Buffer, errno: number, cookie: Buffer): void {
  into.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  into.writeUInt32BE(errno, 4);
  cookie.copy(into, 8);
}

/** A structured reply chunk header with NBD_REPLY_FLAG_DONE at the start of `into`. */
function writeChunkHeader(into: Buffer, cookie: Buffer, type: number, length: number): void {
  into.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
  into.writeUInt16BE(ReplyFlag.Done, 4);
  into.writeUInt16BE(type, 6);
  cookie.copy(into, 8);
  into.writeUInt32BE(length, 16);
}

/** The NBD_REPLY_TYPE_OFFSET_DATA chunk header and offset of the whole answer to a read. */
function writeDataChunkHeader(into: Buffer, request: ServerRequest): void {
  writeChunkHeader(into, request.cookie, ReplyType.OffsetData, 8 + request.length);
  into.writeUInt32BE(Math.floor(request.offset / 2 ** 32), 20);
  into.writeUInt32BE(request.offset % 2 ** 32, 24);
}

/** A new structured reply chunk header (NBD_REPLY_FLAG_DONE). */
function chunkHeader(cookie: Buffer, type: number, length: number): Buffer {
  const header = Buffer.alloc(20);
  writeChunkHeader(header, cookie, type, length);
  return header;
}
