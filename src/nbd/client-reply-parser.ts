/**
 * A push parser for the server-to-client stream of the transmission phase. It is fed the socket's bytes
 * as they arrive (from a reused read buffer, so they must be copied before `push` returns) and copies read
 * data straight into the buffer the request will resolve with: one copy and one allocation per read,
 * instead of a buffer per socket read plus a concatenation. Everything else (headers, error and block
 * status chunks) is small and collected whole.
 */
import { NbdProtocolError } from '../errors.js';
import { ReplyType, SIMPLE_REPLY_MAGIC, STRUCTURED_REPLY_MAGIC } from './protocol.js';

/** Where the bytes of a payload go. */
export interface CopyTarget {
  readonly buffer: Uint8Array;
  readonly offset: number;
}

/** What the parser asks of the connection. Any of these may throw `NbdProtocolError`. */
export interface ReplyHandler {
  /** A simple reply header; returns where its read data goes, or undefined when it carries none. */
  simpleReply(cookie: number, errno: number): CopyTarget | undefined;
  /** After the data of a simple reply was copied. */
  simpleDone(cookie: number): void;
  /** An NBD_REPLY_TYPE_OFFSET_DATA chunk carrying `length` bytes at device `offset`; returns where they go. */
  dataChunk(cookie: number, offset: number, length: number): CopyTarget;
  /** Any other chunk, whole. */
  otherChunk(cookie: number, type: number, payload: Buffer): void;
  /** After each chunk; `flags` holds NBD_REPLY_FLAG_DONE on the last one. */
  chunkDone(cookie: number, flags: number): void;
}

/** Longest non-data chunk accepted (block status of many extents, an error message). */
const MAX_OTHER_CHUNK = 16 * 1024 * 1024;

type State = 'header' | 'structured' | 'offset' | 'copy' | 'collect';

/** Parses replies pushed to it; see the module comment. */
export class ReplyParser {
  readonly #handler: ReplyHandler;
  readonly #scratch = Buffer.alloc(28);
  #state: State = 'header';
  #need = 16;
  #fill = 0;
  #cookie = 0;
  #flags = 0;
  #type = 0;
  #length = 0;
  #simple = false;
  #target: Uint8Array | undefined;
  #targetAt = 0;
  #left = 0;
  #collected: Buffer | undefined;

  constructor(handler: ReplyHandler) {
    this.#handler = handler;
  }

  /** Consumes `data[start, end)`; throws `NbdProtocolError` when the stream breaks the protocol. */
  push(data: Buffer, start = 0, end = data.length): void {
    let at = start;
    while (at < end) {
      if (this.#state === 'copy' || this.#state === 'collect') {
        const n = Math.min(this.#left, end - at);
        const into = this.#state === 'copy' ? (this.#target as Uint8Array) : (this.#collected as Buffer);
        data.copy(into, this.#targetAt, at, at + n);
        this.#targetAt += n;
        this.#left -= n;
        at += n;
        if (this.#left === 0) this.#payloadDone();
        continue;
      }
      const n = Math.min(this.#need - this.#fill, end - at);
      data.copy(this.#scratch, this.#fill, at, at + n);
      this.#fill += n;
      at += n;
      if (this.#fill === this.#need) this.#headerDone();
    }
  }

  #headerDone(): void {
    const s = this.#scratch;
    if (this.#state === 'header') {
      const magic = s.readUInt32BE(0);
      this.#cookie = s.readUInt32BE(8) * 2 ** 32 + s.readUInt32BE(12);
      if (magic === SIMPLE_REPLY_MAGIC) {
        this.#simple = true;
        const target = this.#handler.simpleReply(this.#cookie, s.readUInt32BE(4));
        if (target === undefined || target.buffer.length === target.offset) this.#finishSimple();
        else this.#copyInto(target, target.buffer.length - target.offset);
      } else if (magic === STRUCTURED_REPLY_MAGIC) {
        this.#state = 'structured';
        this.#need = 20;
      } else {
        throw new NbdProtocolError(`the NBD server sent a reply with bad magic 0x${magic.toString(16)}; the stream is out of step`);
      }
    } else if (this.#state === 'structured') {
      this.#simple = false;
      this.#flags = s.readUInt16BE(4);
      this.#type = s.readUInt16BE(6);
      this.#length = s.readUInt32BE(16);
      if (this.#type === ReplyType.OffsetData && this.#length >= 8) {
        this.#state = 'offset';
        this.#need = 8;
        this.#fill = 0;
      } else if (this.#length > MAX_OTHER_CHUNK) {
        throw new NbdProtocolError(`the NBD server sent a ${this.#length}-byte reply chunk of type ${this.#type}`);
      } else if (this.#length === 0) {
        this.#handler.otherChunk(this.#cookie, this.#type, Buffer.alloc(0));
        this.#chunkDone();
      } else {
        this.#collected = Buffer.allocUnsafe(this.#length);
        this.#state = 'collect';
        this.#targetAt = 0;
        this.#left = this.#length;
      }
    } else {
      // 'offset': the 8-byte device offset of a data chunk
      const offset = s.readUInt32BE(0) * 2 ** 32 + s.readUInt32BE(4);
      const dataLength = this.#length - 8;
      const target = this.#handler.dataChunk(this.#cookie, offset, dataLength);
      if (dataLength === 0) this.#chunkDone();
      else this.#copyInto(target, dataLength);
    }
  }

  #copyInto(target: CopyTarget, length: number): void {
    this.#state = 'copy';
    this.#target = target.buffer;
    this.#targetAt = target.offset;
    this.#left = length;
  }

  #payloadDone(): void {
    if (this.#state === 'collect') {
      const payload = this.#collected as Buffer;
      this.#collected = undefined;
      this.#handler.otherChunk(this.#cookie, this.#type, payload);
      this.#chunkDone();
    } else if (this.#simple) this.#finishSimple();
    else this.#chunkDone();
  }

  #finishSimple(): void {
    this.#reset();
    this.#handler.simpleDone(this.#cookie);
  }

  #chunkDone(): void {
    this.#reset();
    this.#handler.chunkDone(this.#cookie, this.#flags);
  }

  #reset(): void {
    this.#state = 'header';
    this.#need = 16;
    this.#fill = 0;
    this.#target = undefined;
  }
}
