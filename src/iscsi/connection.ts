/**
 * One TCP connection to an iSCSI target: sends encoded PDUs, frames received bytes into PDUs and hands them
 * to one handler. Until a handler is installed (during login), PDUs queue and `receive()` takes them one by
 * one with a timeout on the injected clock. The first failure (socket error, end of stream, a framing error)
 * is final: it is reported once through `onClose` and the socket is destroyed.
 */
import { connect, type Socket } from 'node:net';
import { BatchedSocketWrites } from '../batched-socket-writes.js';
import type { Clock } from '../clock.js';
import { DisconnectedError, IscsiProtocolError, TimeoutError } from '../errors.js';
import { PduReader } from './pdu-reader.js';
import type { Pdu } from './pdu.js';

/** Data segments accepted before login negotiated a limit: login text may be long (CHAP challenges). */
const LOGIN_DATA_LIMIT = 65536;

/** A connection to a target portal. */
export class IscsiConnection {
  readonly #socket: Socket;
  readonly #batch: BatchedSocketWrites;
  readonly #reader = new PduReader(LOGIN_DATA_LIMIT);
  readonly #queue: Pdu[] = [];
  #waiter: ((pdu: Pdu | Error) => void) | undefined;
  #handler: ((pdu: Pdu) => void) | undefined;
  #failure: Error | undefined;
  #closeListeners: ((err: Error) => void)[] = [];

  private constructor(
    socket: Socket,
    input: ReceiveSink,
    readonly portal: string,
    private readonly clock: Clock,
  ) {
    this.#socket = socket;
    this.#batch = new BatchedSocketWrites(socket);
    socket.setNoDelay(true);
    input.attach((chunk) => this.#onData(chunk));
    socket.on('error', (err) => this.#fail(new DisconnectedError(`iSCSI connection to ${portal} failed: ${err.message}`, { cause: err })));
    socket.on('close', () => {
      const partial = this.#reader.partialBytes;
      this.#fail(
        new DisconnectedError(
          partial > 0
            ? `the iSCSI target at ${portal} closed the connection in the middle of a PDU (${partial} bytes of it received)`
            : `the iSCSI target at ${portal} closed the connection`,
        ),
      );
    });
  }

  /** Opens a TCP connection, failing with `TimeoutError` after `timeoutMs` of the clock. */
  static async open(host: string, port: number, clock: Clock, timeoutMs: number): Promise<IscsiConnection> {
    const portal = `${host}:${port}`;
    const input = new ReceiveSink();
    // Reads land in one reused buffer; the PDU reader copies what it needs out of it at once.
    const readBuffer = Buffer.allocUnsafe(256 * 1024);
    const socket = connect({
      host,
      port,
      onread: {
        buffer: readBuffer,
        callback: (n: number): boolean => {
          input.push(readBuffer.subarray(0, n));
          return true;
        },
      },
    });
    const abort = new AbortController();
    try {
      await Promise.race([
        new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', (err) => reject(new DisconnectedError(`cannot connect to the iSCSI target at ${portal}: ${err.message}`, { cause: err })));
        }),
        clock.sleep(timeoutMs, abort.signal).then(() => {
          throw new TimeoutError(`connecting to the iSCSI target at ${portal} took longer than ${timeoutMs} ms`);
        }),
      ]);
    } catch (err) {
      socket.destroy();
      throw err;
    } finally {
      abort.abort();
    }
    return new IscsiConnection(socket, input, portal, clock);
  }

  /** The failure that ended the connection, once it has ended. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Sends one encoded PDU (the buffers `encodePdu` returned). Throws once the connection has failed. */
  send(buffers: readonly Buffer[]): void {
    if (this.#failure !== undefined) throw this.#failure;
    // PDUs issued together (commands issued as others complete) leave in one writev.
    for (const b of buffers) this.#batch.write(b);
  }

  /** Waits for the next PDU (login phase only), failing with `TimeoutError` after `timeoutMs`. */
  async receive(timeoutMs: number, what: string): Promise<Pdu> {
    const queued = this.#queue.shift();
    if (queued !== undefined) return queued;
    if (this.#failure !== undefined) throw this.#failure;
    const abort = new AbortController();
    try {
      const next = await Promise.race([
        new Promise<Pdu | Error>((resolve) => (this.#waiter = resolve)),
        this.clock.sleep(timeoutMs, abort.signal).then(() => new TimeoutError(`the iSCSI target at ${this.portal} sent no ${what} within ${timeoutMs} ms`)),
      ]);
      if (next instanceof Error) {
        if (next instanceof TimeoutError) this.destroy(next);
        throw next;
      }
      return next;
    } finally {
      this.#waiter = undefined;
      abort.abort();
    }
  }

  /** Routes every PDU, queued ones first, to `handler` (the full feature phase). */
  setHandler(handler: (pdu: Pdu) => void): void {
    this.#handler = handler;
    for (const pdu of this.#queue.splice(0)) handler(pdu);
  }

  /** Adjusts the largest data segment accepted from the target (our MaxRecvDataSegmentLength). */
  setMaxDataSegment(bytes: number): void {
    this.#reader.setMaxDataSegment(bytes);
  }

  /** Registers a listener for the end of the connection (called once, with the reason). */
  onClose(listener: (err: Error) => void): void {
    if (this.#failure !== undefined) listener(this.#failure);
    else this.#closeListeners.push(listener);
  }

  /** Ends the connection now, reporting `reason` to the listeners. */
  destroy(reason: Error = new DisconnectedError(`iSCSI connection to ${this.portal} closed by blockrig`)): void {
    this.#fail(reason);
  }

  #onData(chunk: Buffer): void {
    if (this.#failure !== undefined) return;
    let pdus: Pdu[];
    try {
      pdus = this.#reader.push(chunk);
    } catch (err) {
      this.#fail(err instanceof Error ? err : new IscsiProtocolError(String(err)));
      return;
    }
    for (const pdu of pdus) {
      if (this.#failure !== undefined) return;
      if (this.#handler !== undefined) this.#handler(pdu);
      else if (this.#waiter !== undefined) {
        const waiter = this.#waiter;
        this.#waiter = undefined;
        waiter(pdu);
      } else this.#queue.push(pdu);
    }
  }

  #fail(err: Error): void {
    if (this.#failure !== undefined) return;
    this.#failure = err;
    this.#socket.destroy();
    this.#waiter?.(err);
    for (const listener of this.#closeListeners.splice(0)) listener(err);
  }
}

/** Hands socket reads to the connection, keeping copies of any that come before it is attached. */
class ReceiveSink {
  #early: Buffer[] = [];
  #target: ((chunk: Buffer) => void) | undefined;

  push(chunk: Buffer): void {
    if (this.#target) this.#target(chunk);
    else this.#early.push(Buffer.from(chunk));
  }

  attach(target: (chunk: Buffer) => void): void {
    this.#target = target;
    for (const chunk of this.#early.splice(0)) target(chunk);
  }
}
