/**
 * The transmission phase of one server connection. Requests are read one after another and run
 * concurrently (up to `MAX_IN_FLIGHT` requests and `MAX_IN_FLIGHT_BYTES` of payload, and only while the
 * socket's send buffer is below `MAX_UNSENT`), so neither many large writes nor a client that does not
 * read its replies can make the server buffer without bound.
 *
 * Every request gets exactly one answer: a simple reply, or with structured replies a single chunk with
 * NBD_REPLY_FLAG_DONE (reads are never fragmented, so DF is always honoured). Invalid requests are refused
 * with the errno the spec names (EINVAL, ENOSPC past the end of a write, EPERM on a read-only export,
 * EOVERFLOW above the maximum payload) and the session goes on; only a bad request magic, a write payload
 * too large to skip, or the client leaving ends it. A flush waits for every write received before it, then
 * flushes the device, and only then is acknowledged.
 */
import type { Socket } from 'node:net';
import { readInto } from '../../drivers/base.js';
import { mappingFor } from '../errors.js';
import { PayloadFramePool } from './frame-pool.js';
import { mapAllocation } from './allocation.js';
import { Command, CommandFlag, NbdErrno, REQUEST_MAGIC } from './protocol.js';
import { ReplyWriter, type Answer, type ServerRequest } from './server-replies.js';
import { SERVER_MAX_PAYLOAD, type ServedExport } from './server-export.js';
import type { SessionTerms } from './server-negotiation.js';
import { runUnalignedRead, runUnalignedWrite, runUnalignedZeroes } from './server-unaligned.js';
import type { SocketReader } from './socket-reader.js';

/** Requests run at once per connection. */
const MAX_IN_FLIGHT = 64;
/** Read and write payload bytes held by requests running at once per connection. */
const MAX_IN_FLIGHT_BYTES = 128 * 1024 * 1024;
/** Reply bytes queued on the socket before we stop reading requests. */
const MAX_UNSENT = 64 * 1024 * 1024;
/** Largest write payload skipped (read and dropped) to keep the stream in step; above it we disconnect. */
const MAX_SKIPPABLE = 256 * 1024 * 1024;

/** The answer to a request whose device I/O failed: the errno of the error table, and the message. */
function errorAnswer(err: unknown): Answer {
  return { errno: NbdErrno[mappingFor(err).nbd], message: err instanceof Error ? err.message : String(err) };
}

/** One connection after negotiation; see the module comment. */
export class ServerSession {
  readonly #socket: Socket;
  readonly #reader: SocketReader;
  readonly #terms: SessionTerms;
  readonly #replies: ReplyWriter;
  readonly #frames: PayloadFramePool;
  readonly #export: ServedExport;
  readonly #log: (message: string) => void;
  readonly #running = new Set<Promise<void>>();
  readonly #writes = new Set<Promise<void>>();
  #runningBytes = 0;
  #stopping = false;
  #wake: (() => void) | undefined;

  constructor(socket: Socket, reader: SocketReader, terms: SessionTerms, log: (message: string) => void, frames = new PayloadFramePool()) {
    this.#socket = socket;
    this.#reader = reader;
    this.#terms = terms;
    this.#frames = frames;
    this.#replies = new ReplyWriter(socket, terms.structuredReplies, frames);
    this.#export = terms.export;
    this.#log = log;
    socket.on('drain', () => this.#wakeUp());
    // A client that leaves while we wait for it to read must not leave the loop waiting for a drain.
    socket.on('close', () => this.#wakeUp());
  }

  /** Serves requests until the client disconnects or `stop()`; resolves when every answer is sent. */
  async run(): Promise<void> {
    try {
      while (!this.#stopping) {
        while (!this.#stopping && !this.#socket.destroyed && this.#busy()) {
          await new Promise<void>((resolve) => (this.#wake = resolve));
        }
        const request = await this.#readRequest();
        if (request === undefined) break;
        if (request.type === Command.Disconnect) break;
        const bytes = request.type === Command.Read || request.type === Command.Write ? request.length : 0;
        this.#runningBytes += bytes;
        const task = this.#execute(request).catch((err: unknown) => this.#log(`nbd: internal error answering a request: ${String(err)}`));
        this.#running.add(task);
        void task.finally(() => {
          this.#running.delete(task);
          this.#runningBytes -= bytes;
          this.#wakeUp();
        });
      }
    } catch (err) {
      this.#log(`nbd: ${err instanceof Error ? err.message : String(err)}`);
    }
    await Promise.allSettled([...this.#running]);
    const socket = this.#socket;
    if (!socket.destroyed) {
      await new Promise<void>((resolve) => {
        socket.once('close', () => resolve());
        socket.end(() => resolve());
        // A client that sent NBD_CMD_DISC but never reads the last replies is cut off, not waited for.
        setTimeout(() => socket.destroy(), 10_000).unref();
      });
    }
  }

  /**
   * Stops reading requests; `run()` resolves once those in flight are answered. The connection is then
   * closed: the loop may be waiting for a request that will never come, so only closing can end it.
   */
  stop(): void {
    if (this.#stopping) return;
    this.#stopping = true;
    this.#wakeUp();
    void Promise.allSettled([...this.#running]).then(() => {
      const socket = this.#socket;
      socket.end();
      setTimeout(() => socket.destroy(), 2000).unref();
    });
  }

  /** True while this connection holds as much work as it may. */
  #busy(): boolean {
    return this.#running.size >= MAX_IN_FLIGHT || this.#runningBytes >= MAX_IN_FLIGHT_BYTES || this.#socket.writableLength > MAX_UNSENT;
  }

  #wakeUp(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #readRequest(): Promise<ServerRequest | undefined> {
    let header: Buffer;
    try {
      header = await this.#reader.read(28);
    } catch {
      return undefined; // the client left
    }
    if (header.readUInt32BE(0) !== REQUEST_MAGIC) {
      this.#log(`nbd: bad request magic 0x${header.readUInt32BE(0).toString(16)} from a client; closing its connection`);
      return undefined;
    }
    const high = header.readUInt32BE(16);
    // Offsets of 2^53 and above cannot be held exactly; they are past any export's end anyway.
    const offset = high >= 2 ** 21 ? Number.MAX_SAFE_INTEGER : high * 2 ** 32 + header.readUInt32BE(20);
    const length = header.readUInt32BE(24);
    const type = header.readUInt16BE(6);
    let payload: Buffer | undefined;
    let releasePayload: (() => void) | undefined;
    if (type === Command.Write) {
      if (length > MAX_SKIPPABLE) {
        this.#log(`nbd: a client sent a ${length}-byte write, too large to skip; closing its connection`);
        return undefined;
      }
      try {
        if (length <= SERVER_MAX_PAYLOAD) {
          // Pooled and page-aligned: no allocation per write, and no bounce buffer for an O_DIRECT device.
          const frame = this.#frames.take(0, length);
          await this.#reader.readInto(frame.payload);
          payload = frame.payload;
          releasePayload = frame.release;
        } else await this.#reader.discard(length);
      } catch {
        return undefined; // the client left mid-request: nothing of that write is applied
      }
    }
    return { flags: header.readUInt16BE(4), type, cookie: Buffer.from(header.subarray(8, 16)), offset, length, payload, releasePayload };
  }

  async #execute(request: ServerRequest): Promise<void> {
    const problem = this.#stopping ? { errno: NbdErrno.ESHUTDOWN, message: 'the server is shutting down' } : this.#validate(request);
    if (problem === undefined && this.#readsInPlace(request)) return this.#serveRead(request);
    let answer: Answer = problem ?? { errno: 0 };
    if (problem === undefined) {
      const isWrite = request.type === Command.Write || request.type === Command.WriteZeroes || request.type === Command.Trim;
      const work = this.#perform(request);
      if (isWrite) {
        const done = work.then(() => undefined, () => undefined);
        this.#writes.add(done);
        void done.then(() => this.#writes.delete(done));
      }
      try {
        answer = (await work) ?? { errno: 0 };
      } catch (err) {
        answer = errorAnswer(err);
      }
    }
    // A failed device write may still be in progress below (a cancelled transfer): its payload is left to
    // the garbage collector rather than lent again.
    if (problem !== undefined || answer.errno === 0) request.releasePayload?.();
    this.#replies.send(request, answer);
  }

  /** True for a non-empty read of whole blocks, which the device reads straight into a reply frame. */
  #readsInPlace(request: ServerRequest): boolean {
    const bs = this.#export.device.logicalBlockSize;
    return request.type === Command.Read && request.length > 0 && request.offset % bs === 0 && request.length % bs === 0;
  }

  async #serveRead(request: ServerRequest): Promise<void> {
    const frame = this.#replies.takeReadFrame(request);
    try {
      await readInto(this.#export.device, request.offset, frame.payload);
    } catch (err) {
      frame.release();
      this.#replies.send(request, errorAnswer(err));
      return;
    }
    this.#replies.sendReadFrame(request, frame);
  }

  #validate(request: ServerRequest): Answer | undefined {
    const device = this.#export.device;
    const { type, flags, offset, length } = request;
    const known = CommandFlag.Fua | CommandFlag.NoHole | CommandFlag.Df | CommandFlag.ReqOne;
    if ((flags & ~known) !== 0) return { errno: NbdErrno.EINVAL, message: `unknown command flags 0x${flags.toString(16)}` };
    if ((flags & CommandFlag.Df) !== 0 && !this.#terms.structuredReplies) return { errno: NbdErrno.EINVAL, message: 'NBD_CMD_FLAG_DF needs structured replies' };
    if (type === Command.Flush) return undefined;
    const writes = type === Command.Write || type === Command.WriteZeroes || type === Command.Trim;
    if (![Command.Read, Command.Write, Command.WriteZeroes, Command.Trim, Command.BlockStatus].includes(type as 0)) return { errno: NbdErrno.EINVAL, message: `unsupported command ${type}` };
    if (type === Command.Trim && !device.capabilities.trim) return { errno: NbdErrno.EINVAL, message: 'trim is not advertised for this export' };
    if (type === Command.BlockStatus && !this.#terms.allocationContext) return { errno: NbdErrno.EINVAL, message: 'no metadata context was negotiated' };
    if (writes && this.#export.readOnly) return { errno: NbdErrno.EPERM, message: 'the export is read-only' };
    if ((type === Command.Read || type === Command.Write) && length > SERVER_MAX_PAYLOAD) return { errno: NbdErrno.EOVERFLOW, message: `length ${length} exceeds the ${SERVER_MAX_PAYLOAD}-byte maximum` };
    if (offset + length > this.#export.size) return { errno: writes ? NbdErrno.ENOSPC : NbdErrno.EINVAL, message: `offset ${offset} length ${length} is past the end (${this.#export.size} bytes)` };
    if (type === Command.BlockStatus && length === 0) return { errno: NbdErrno.EINVAL, message: 'block status of zero length' };
    const bs = device.logicalBlockSize;
    if (this.#terms.blockSizesAgreed && type !== Command.BlockStatus && (offset % bs !== 0 || length % bs !== 0)) {
      return { errno: NbdErrno.EINVAL, message: `offset ${offset} length ${length} not aligned to the ${bs}-byte minimum block size` };
    }
    return undefined;
  }

  async #perform(request: ServerRequest): Promise<Answer | undefined> {
    const exp = this.#export;
    const device = exp.device;
    const { type, flags, offset, length } = request;
    const fua = (flags & CommandFlag.Fua) !== 0;
    const aligned = offset % device.logicalBlockSize === 0 && length % device.logicalBlockSize === 0;
    switch (type) {
      case Command.Read:
        return { errno: 0, data: aligned ? await device.read(offset, length) : await runUnalignedRead(device, offset, length) };
      case Command.Write:
        if (aligned) await device.write(offset, request.payload as Buffer, { fua });
        else await runUnalignedWrite(exp, offset, request.payload as Buffer, fua);
        return undefined;
      case Command.WriteZeroes:
        if (aligned) await device.writeZeroes(offset, length, { fua, noUnmap: (flags & CommandFlag.NoHole) !== 0 });
        else await runUnalignedZeroes(exp, offset, length, fua);
        return undefined;
      case Command.Trim: {
        // Trim is advisory: an unaligned range trims the whole blocks inside it.
        const bs = device.logicalBlockSize;
        const start = Math.ceil(offset / bs) * bs;
        const end = Math.floor((offset + length) / bs) * bs;
        if (end > start) await device.trim(start, end - start);
        if (fua) await device.flush();
        return undefined;
      }
      case Command.Flush:
        await Promise.all([...this.#writes]);
        await device.flush();
        return undefined;
      case Command.BlockStatus:
        return { errno: 0, extents: await this.#blockStatus(offset, length, (flags & CommandFlag.ReqOne) !== 0) };
      default:
        return { errno: NbdErrno.EINVAL };
    }
  }

  async #blockStatus(offset: number, length: number, one: boolean): Promise<{ length: number; flags: number }[]> {
    const device = this.#export.device;
    const bs = device.logicalBlockSize;
    const start = Math.floor(offset / bs) * bs;
    const end = Math.min(device.size, Math.ceil((offset + length) / bs) * bs);
    const map = await mapAllocation(device, start, end - start);
    const out: { length: number; flags: number }[] = [];
    let at = start;
    for (const extent of map) {
      const from = Math.max(at, offset);
      const to = Math.min(at + extent.length, offset + length);
      if (to > from) out.push({ length: to - from, flags: extent.flags });
      at += extent.length;
      if (at >= offset + length || (one && out.length > 0)) break;
    }
    return out;
  }
}
