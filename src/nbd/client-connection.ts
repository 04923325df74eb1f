/**
 * One NBD connection in the transmission phase, client side: sends requests with unique cookies and
 * matches replies to them, so any number of requests are in flight and replies may arrive in any order.
 * Structured replies are assembled from their chunks (data and hole chunks in any order and split any way,
 * error chunks, block status chunks); simple replies are read as the spec says (payload only for a
 * successful read). Bytes arrive through `ReplyParser`, which copies read data straight into the caller's
 * buffer (`readInto`) or the one the read resolves with.
 *
 * When the connection drops, requests still waiting are handed to `onLost` rather than rejected, so the
 * device can resend them on a new connection or fail them with a clear error: none is silently lost.
 */
import { DisconnectedError, NbdProtocolError } from '../errors.js';
import { ReplyParser, type ReplyHandler } from './client-reply-parser.js';
import type { NegotiatedExport, NbdSocket } from './client-handshake.js';
import {
  Command,
  errnoName,
  type NbdErrnoName,
  ReplyFlag,
  ReplyType,
  REQUEST_MAGIC,
} from './protocol.js';

/** One extent of a block status reply. */
export interface Extent {
  readonly length: number;
  readonly flags: number;
}

/** A request as the device issues it; it may be sent again on a new connection after a reconnect. */
export interface NbdRequest {
  readonly command: number;
  readonly flags: number;
  readonly offset: number;
  readonly length: number;
  readonly payload?: Uint8Array | undefined;
  /** Where a read's data goes (the caller's memory, `readInto`); without it the read gets a new buffer. */
  readonly target?: Uint8Array | undefined;
  /** Settles the caller's promise; `data` for reads (`target` when given), `extents` for block status. */
  readonly settle: (result: { error?: { errno: NbdErrnoName; message: string } | undefined; data?: Uint8Array | undefined; extents?: Extent[] | undefined }) => void;
}

interface InFlight {
  readonly request: NbdRequest;
  data: Uint8Array | undefined;
  received: number;
  extents: Extent[] | undefined;
  error: { errno: NbdErrnoName; message: string } | undefined;
}

/** Where a read's data is assembled: the caller's memory, or a new buffer. */
function dataBuffer(request: NbdRequest): Uint8Array {
  return request.target ?? Buffer.allocUnsafe(request.length);
}

/** Client side of one connection; see the module comment. */
export class NbdClientConnection {
  readonly negotiated: NegotiatedExport;
  readonly #conn: NbdSocket;
  readonly #inFlight = new Map<number, InFlight>();
  readonly #onLost: (pending: NbdRequest[], err: Error) => void;
  #nextCookie = 1;
  #lost = false;

  constructor(conn: NbdSocket, negotiated: NegotiatedExport, onLost: (pending: NbdRequest[], err: Error) => void) {
    this.#conn = conn;
    this.negotiated = negotiated;
    this.#onLost = onLost;
    const parser = new ReplyParser(this.#replyHandler());
    conn.socket.on('close', () => this.#lose(new DisconnectedError('the NBD server closed the connection')));
    conn.takeOver((data, length) => {
      if (this.#lost) return;
      try {
        parser.push(data, 0, length);
      } catch (err) {
        this.#lose(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }

  /** Requests sent and not yet answered. */
  get inFlight(): number {
    return this.#inFlight.size;
  }

  /** False once the connection dropped. */
  get usable(): boolean {
    return !this.#lost;
  }

  /** Sends a request; its `settle` is called with the reply, or it is handed to `onLost`. */
  send(request: NbdRequest): void {
    if (this.#lost) {
      this.#onLost([request], new NbdProtocolError('connection already lost'));
      return;
    }
    const cookie = this.#nextCookie++;
    this.#inFlight.set(cookie, { request, data: undefined, received: 0, extents: undefined, error: undefined });
    const header = Buffer.allocUnsafe(28);
    header.writeUInt32BE(REQUEST_MAGIC, 0);
    header.writeUInt16BE(request.flags, 4);
    header.writeUInt16BE(request.command, 6);
    header.writeUInt32BE(0, 8);
    header.writeUInt32BE(cookie, 12);
    header.writeUInt32BE(Math.floor(request.offset / 2 ** 32), 16);
    header.writeUInt32BE(request.offset % 2 ** 32, 20);
    header.writeUInt32BE(request.length, 24);
    const socket = this.#conn.socket;
    if (request.payload !== undefined && request.payload.length > 0) {
      socket.cork();
      socket.write(header);
      socket.write(request.payload);
      process.nextTick(() => socket.uncork());
    } else socket.write(header);
  }

  /** Sends NBD_CMD_DISC and closes once the server has answered everything in flight. */
  async disconnect(): Promise<void> {
    if (this.#lost) return;
    const header = Buffer.alloc(28);
    header.writeUInt32BE(REQUEST_MAGIC, 0);
    header.writeUInt16BE(Command.Disconnect, 6);
    this.#lost = true;
    const socket = this.#conn.socket;
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end(header);
      setTimeout(() => socket.destroy(), 5000).unref();
    });
  }

  /** True when `request` was sent on this connection and is not answered yet. */
  carries(request: NbdRequest): boolean {
    for (const entry of this.#inFlight.values()) if (entry.request === request) return true;
    return false;
  }

  /** Drops the connection at once (tests, timeouts); waiting requests go to `onLost`. */
  destroy(reason: Error): void {
    this.#conn.socket.destroy();
    this.#lose(reason);
  }

  /** How the reply parser reaches the requests in flight. */
  #replyHandler(): ReplyHandler {
    let simple: InFlight | undefined;
    const entryOf = (cookie: number): InFlight => {
      const entry = this.#inFlight.get(cookie);
      if (!entry) throw new NbdProtocolError(`the NBD server answered cookie ${cookie}, which no request in flight carries`);
      return entry;
    };
    return {
      simpleReply: (cookie, errno) => {
        const entry = entryOf(cookie);
        this.#inFlight.delete(cookie);
        simple = entry;
        if (errno !== 0) {
          entry.error = { errno: errnoName(errno), message: '' };
          return undefined;
        }
        if (entry.request.command !== Command.Read) return undefined;
        entry.data = dataBuffer(entry.request);
        entry.received = entry.request.length;
        return { buffer: entry.data, offset: 0 };
      },
      simpleDone: () => {
        if (simple !== undefined) this.#finish(simple);
        simple = undefined;
      },
      dataChunk: (cookie, offset, length) => {
        const entry = entryOf(cookie);
        const request = entry.request;
        const at = offset - request.offset;
        if (request.command !== Command.Read || at < 0 || at + length > request.length) {
          throw new NbdProtocolError('the NBD server sent a read chunk outside the requested range');
        }
        entry.data ??= dataBuffer(request); // every byte is covered exactly once, or the read fails
        entry.received += length;
        return { buffer: entry.data, offset: at };
      },
      otherChunk: (cookie, type, payload) => this.#chunk(entryOf(cookie), type, payload),
      chunkDone: (cookie, flags) => {
        if ((flags & ReplyFlag.Done) === 0) return;
        const entry = entryOf(cookie);
        this.#inFlight.delete(cookie);
        this.#finish(entry);
      },
    };
  }

  #chunk(entry: InFlight, type: number, payload: Buffer): void {
    const request = entry.request;
    if (type === ReplyType.OffsetData) {
      throw new NbdProtocolError('the NBD server sent a data chunk too short to hold its offset');
    } else if (type === ReplyType.OffsetHole) {
      if (request.command !== Command.Read || payload.length !== 12) throw new NbdProtocolError('the NBD server sent a hole chunk that does not fit the request');
      const at = payload.readUInt32BE(0) * 2 ** 32 + payload.readUInt32BE(4) - request.offset;
      const size = payload.readUInt32BE(8);
      if (at < 0 || at + size > request.length) throw new NbdProtocolError('the NBD server sent a hole chunk outside the requested range');
      entry.data ??= dataBuffer(request);
      entry.data.fill(0, at, at + size);
      entry.received += size;
    } else if (type === ReplyType.BlockStatus) {
      if (payload.length < 4 || (payload.length - 4) % 8 !== 0) throw new NbdProtocolError('the NBD server sent a malformed block status chunk');
      entry.extents ??= [];
      for (let i = 4; i < payload.length; i += 8) entry.extents.push({ length: payload.readUInt32BE(i), flags: payload.readUInt32BE(i + 4) });
    } else if (type === ReplyType.Error || type === ReplyType.ErrorOffset || (type & 0x8000) !== 0) {
      const errno = payload.length >= 4 ? payload.readUInt32BE(0) : 5;
      const messageLength = payload.length >= 6 ? payload.readUInt16BE(4) : 0;
      entry.error ??= { errno: errnoName(errno), message: payload.toString('utf8', 6, Math.min(payload.length, 6 + messageLength)) };
    } else if (type !== ReplyType.None) {
      throw new NbdProtocolError(`the NBD server sent an unknown structured reply chunk type ${type}`);
    }
  }

  #finish(entry: InFlight): void {
    const request = entry.request;
    if (entry.error === undefined && request.command === Command.Read && (entry.received !== request.length || entry.data === undefined)) {
      // A structured read must cover every requested byte exactly once ("Structured reply chunk types").
      entry.error = { errno: 'EIO', message: `the server's reply covered ${entry.received} of ${request.length} bytes` };
    }
    request.settle({ error: entry.error, data: entry.data, extents: entry.extents });
  }

  #lose(err: Error): void {
    const wasLost = this.#lost;
    this.#lost = true;
    this.#conn.socket.destroy();
    const pending = [...this.#inFlight.values()].map((e) => e.request);
    this.#inFlight.clear();
    if (!wasLost || pending.length > 0) this.#onLost(pending, err);
  }
}
