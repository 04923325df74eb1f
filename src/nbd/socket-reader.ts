/**
 * Exact-length reads from a stream socket. NBD is a sequence of fixed headers followed by payloads whose
 * length the header states, so both sides read "exactly n bytes" and never parse partial messages.
 *
 * The reader buffers at most `highWaterMark` bytes before pausing the socket, so a peer that sends faster
 * than we process is slowed by TCP rather than by our memory. A payload the reader must skip (an oversized
 * option) is discarded as it arrives, never buffered whole.
 */
import type { Socket } from 'node:net';
import { DisconnectedError } from '../errors.js';

interface Waiter {
  readonly length: number;
  /** Where the bytes go (`readInto`); without it they are returned as received or joined. */
  readonly into: Buffer | undefined;
  readonly resolve: (data: Buffer) => void;
  readonly reject: (err: Error) => void;
}

/** Reads exact byte counts from a socket; see the module comment. */
export class SocketReader {
  readonly #socket: Socket;
  readonly #highWaterMark: number;
  #chunks: Buffer[] = [];
  #buffered = 0;
  #waiter: Waiter | undefined;
  #ended: Error | undefined;

  /**
   * Reads `socket`'s 'data' events, or, with `pushed`, only what `feed()` is given (a socket opened with
   * `onread`, whose bytes arrive through a callback instead).
   */
  constructor(socket: Socket, what: string, highWaterMark = 8 * 1024 * 1024, pushed = false) {
    this.#socket = socket;
    this.#highWaterMark = highWaterMark;
    if (!pushed) socket.on('data', (chunk: Buffer) => this.feed(chunk));
    const end = (err?: Error): void => {
      this.#ended ??= new DisconnectedError(`${what}: the peer closed the connection${err ? ` (${err.message})` : ''}`, err ? { cause: err } : undefined);
      this.#serve();
    };
    socket.on('end', () => end());
    socket.on('close', () => end());
    socket.on('error', (err) => end(err));
  }

  /** Adds received bytes (the reader keeps `chunk`; copy it first if its memory is reused). */
  feed(chunk: Buffer): void {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    // Never pause below what the pending read needs, or a payload larger than the mark would stall.
    if (this.#buffered >= Math.max(this.#highWaterMark, this.#waiter?.length ?? 0)) this.#socket.pause();
    this.#serve();
  }

  /** Removes and returns every buffered byte (handing the stream to another consumer). */
  takeAll(): Buffer {
    return this.#buffered === 0 ? Buffer.alloc(0) : this.#take(this.#buffered);
  }

  /** Bytes received and not yet read. */
  get buffered(): number {
    return this.#buffered;
  }

  /** True once the peer has closed and every buffered byte was read. */
  get ended(): boolean {
    return this.#ended !== undefined && this.#buffered === 0;
  }

  /** Resolves with exactly `length` bytes, or rejects with `DisconnectedError` if the peer closes first. */
  read(length: number): Promise<Buffer> {
    return this.#read(length, undefined);
  }

  /**
   * Fills `target` with the next `target.length` bytes (copied out of the received chunks), so that a
   * payload lands in memory the caller reuses instead of a new buffer; rejects like `read`.
   */
  async readInto(target: Buffer): Promise<void> {
    await this.#read(target.length, target);
  }

  #read(length: number, into: Buffer | undefined): Promise<Buffer> {
    if (this.#waiter) return Promise.reject(new Error('SocketReader: one read at a time'));
    if (length === 0) return Promise.resolve(into ?? Buffer.alloc(0));
    if (this.#buffered >= length) return Promise.resolve(this.#take(length, into));
    if (this.#ended) return Promise.reject(this.#ended);
    return new Promise<Buffer>((resolve, reject) => {
      this.#waiter = { length, into, resolve, reject };
      this.#socket.resume();
    });
  }

  /** Reads and drops `length` bytes, holding at most one chunk at a time. */
  async discard(length: number): Promise<void> {
    let left = length;
    while (left > 0) {
      if (this.#buffered === 0) await this.read(1).then(() => left--);
      const n = Math.min(left, this.#buffered);
      if (n > 0) this.#take(n);
      left -= n;
    }
  }

  #serve(): void {
    const waiter = this.#waiter;
    if (!waiter) return;
    if (this.#buffered >= waiter.length) {
      this.#waiter = undefined;
      waiter.resolve(this.#take(waiter.length, waiter.into));
    } else if (this.#ended) {
      this.#waiter = undefined;
      waiter.reject(this.#ended);
    }
  }

  #take(length: number, into?: Buffer): Buffer {
    this.#buffered -= length;
    if (this.#buffered < this.#highWaterMark && this.#socket.isPaused()) this.#socket.resume();
    const first = this.#chunks[0] as Buffer;
    if (into === undefined && first.length === length) {
      this.#chunks.shift();
      return first;
    }
    if (into === undefined && first.length > length) {
      this.#chunks[0] = first.subarray(length);
      return first.subarray(0, length);
    }
    const out = into ?? Buffer.allocUnsafe(length);
    let filled = 0;
    while (filled < length) {
      const chunk = this.#chunks[0] as Buffer;
      const n = Math.min(chunk.length, length - filled);
      chunk.copy(out, filled, 0, n);
      filled += n;
      if (n === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(n);
    }
    return out;
  }
}
