/**
 * The connections of one NBD client device: opens them, spreads requests over them (fewest in flight
 * first), enforces request deadlines, and reconnects when the last one drops. Requests in flight on a lost
 * connection are sent again once a connection is back, except a flush, which fails with
 * `BLOCKRIG_E_DISCONNECTED` (a restarted server may have lost acknowledged writes, so a retried flush would
 * promise durability it cannot give). `drivers/nbd.ts` turns this into a `BlockDevice`.
 */
import type { Clock } from '../clock.js';
import { DeviceIoError, DeviceUnavailableError, DisconnectedError, ReadOnlyError, TimeoutError, UnsupportedError, type BlockrigError } from '../errors.js';
import type { NbdAddress } from './address.js';
import { NbdClientConnection, type Extent, type NbdRequest } from './client-connection.js';
import { connectEndpoint, negotiate, type NegotiatedExport } from './client-handshake.js';
import { Command, commandName, type NbdErrnoName, TransmissionFlag } from './protocol.js';

/** What a request resolves with: read data or block status extents. */
export type Settled = { data?: Uint8Array | undefined; extents?: Extent[] | undefined };

/** Timing and connection options, after defaults. */
export interface PoolOptions {
  readonly connections: number;
  readonly timeoutMs: number;
  readonly connectTimeoutMs: number;
  readonly reconnectMs: number;
  readonly structuredReplies: boolean;
}

/** The connections of one device; see the module comment. */
export class NbdConnectionPool {
  /** What the first handshake established. */
  readonly negotiated: NegotiatedExport;
  readonly #address: NbdAddress;
  readonly #uri: string;
  readonly #options: PoolOptions;
  readonly #clock: Clock;
  readonly #setAvailable: (available: boolean, reason: string) => void;
  readonly #connections: NbdClientConnection[] = [];
  readonly #waiting: NbdRequest[] = [];
  readonly #deadlines = new Map<NbdRequest, { deadline: number; fail: (err: BlockrigError) => void }>();
  readonly #sweeper = new AbortController();
  #reconnecting = false;
  #closed = false;

  private constructor(address: NbdAddress, uri: string, options: PoolOptions, clock: Clock, setAvailable: (available: boolean, reason: string) => void, negotiated: NegotiatedExport) {
    this.#address = address;
    this.#uri = uri;
    this.#options = options;
    this.#clock = clock;
    this.#setAvailable = setAvailable;
    this.negotiated = negotiated;
  }

  /** Connects and negotiates once, then opens the extra connections multi-conn allows. */
  static async open(address: NbdAddress, uri: string, options: PoolOptions, clock: Clock, setAvailable: (available: boolean, reason: string) => void): Promise<NbdConnectionPool> {
    // The first connection exists before the pool does; its losses are routed once the pool is built.
    const route: { pool?: NbdConnectionPool } = {};
    const first = await connectOne(address, options, clock, (pending, err) => {
      if (route.pool !== undefined) route.pool.#lost(pending, err);
    });
    const pool = new NbdConnectionPool(address, uri, options, clock, setAvailable, first.negotiated);
    route.pool = pool;
    pool.#connections.push(first);
    if (pool.#multiConn && options.connections > 1) {
      await Promise.all(Array.from({ length: options.connections - 1 }, () => pool.addConnection().catch(() => undefined)));
    }
    pool.#sweep();
    return pool;
  }

  /** Open, usable connections. */
  get connectionCount(): number {
    return this.#connections.filter((c) => c.usable).length;
  }

  /** Stops reconnecting and deadlines, fails waiting requests, disconnects every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#sweeper.abort();
    for (const request of this.#waiting.splice(0)) request.settle({ error: { errno: 'ESHUTDOWN', message: 'device closed' } });
    await Promise.all(this.#connections.splice(0).map((c) => c.disconnect()));
  }

  get #multiConn(): boolean {
    return (this.negotiated.transmissionFlags & TransmissionFlag.CanMultiConn) !== 0;
  }

  /**
   * Sends a request on the least busy connection; resolves with its reply, rejects with a `BlockrigError`.
   * A read's data goes into `target` when given (it must hold `length` bytes).
   */
  request(command: number, flags: number, offset: number, length: number, payload?: Uint8Array, target?: Uint8Array): Promise<Settled> {
    return new Promise<Settled>((resolve, reject) => {
      let done = false;
      const fail = (err: BlockrigError): void => {
        if (done) return;
        done = true;
        this.#deadlines.delete(request);
        reject(err);
      };
      const request: NbdRequest = {
        command,
        flags,
        offset,
        length,
        payload,
        target,
        settle: ({ error, data, extents }) => {
          if (error !== undefined) fail(this.#replyError(command, offset, length, error.errno, error.message));
          else if (!done) {
            done = true;
            this.#deadlines.delete(request);
            resolve({ data, extents });
          }
        },
      };
      this.#deadlines.set(request, { deadline: this.#clock.now() + this.#options.timeoutMs, fail });
      this.#dispatch(request);
    });
  }

  #dispatch(request: NbdRequest): void {
    let best: NbdClientConnection | undefined;
    for (const c of this.#connections) if (c.usable && (best === undefined || c.inFlight < best.inFlight)) best = c;
    if (best !== undefined) best.send(request);
    else {
      this.#waiting.push(request);
      this.#reconnect();
    }
  }

  /** Opens one more connection to the same export. */
  async addConnection(): Promise<void> {
    const connection = await connectOne(this.#address, this.#options, this.#clock, (pending, err) => this.#lost(pending, err));
    this.#checkSameExport(connection);
    this.#connections.push(connection);
  }

  #checkSameExport(connection: NbdClientConnection): void {
    if (connection.negotiated.size !== this.negotiated.size) {
      void connection.disconnect();
      throw new DeviceUnavailableError(this.#uri, `the export changed size from ${this.negotiated.size} to ${connection.negotiated.size} bytes across a reconnect; open it again`);
    }
  }

  /** A connection dropped: requeue what was in flight (a flush fails), go unavailable, reconnect. */
  #lost(pending: NbdRequest[], err: Error): void {
    for (let i = this.#connections.length - 1; i >= 0; i--) if (!this.#connections[i]?.usable) this.#connections.splice(i, 1);
    for (const request of pending) {
      if (request.command === Command.Flush) {
        this.#deadlines.get(request)?.fail(new DisconnectedError(`the connection to ${this.#uri} was lost while a flush was in flight; writes since the last completed flush may not be durable: write them again`, { cause: err }));
      } else if (this.#deadlines.has(request)) this.#waiting.push(request);
    }
    if (this.#closed && this.#connections.length === 0) {
      for (const request of this.#waiting.splice(0)) this.#deadlines.get(request)?.fail(new DisconnectedError(`the connection to ${this.#uri} was lost while closing`, { cause: err }));
      return;
    }
    if (this.#connections.length === 0) {
      this.#setAvailable(false, `nbd server closed the connection (${err.message})`);
      this.#reconnect();
    } else this.#drainWaiting();
  }

  #drainWaiting(): void {
    for (const request of this.#waiting.splice(0)) this.#dispatch(request);
  }

  #reconnect(): void {
    if (this.#reconnecting || this.#closed) return;
    this.#reconnecting = true;
    void (async () => {
      const deadline = this.#clock.now() + this.#options.reconnectMs;
      let delay = 50;
      let lastError: unknown;
      while (this.#clock.now() < deadline && !this.#sweeper.signal.aborted) {
        try {
          await this.addConnection();
          this.#reconnecting = false;
          this.#setAvailable(true, 'nbd connection re-established');
          this.#drainWaiting();
          if (this.#multiConn) for (let i = 1; i < this.#options.connections; i++) void this.addConnection().catch(() => undefined);
          return;
        } catch (err) {
          lastError = err;
          if (err instanceof DeviceUnavailableError) break;
        }
        await this.#clock.sleep(delay, this.#sweeper.signal).catch(() => undefined);
        delay = Math.min(delay * 2, 1000);
      }
      this.#reconnecting = false;
      this.#setAvailable(false, 'nbd server unreachable');
      const reason = lastError instanceof Error ? lastError.message : 'the device was closed';
      for (const request of this.#waiting.splice(0)) {
        this.#deadlines.get(request)?.fail(new DeviceUnavailableError(this.#uri, `could not reconnect to the NBD server within ${this.#options.reconnectMs} ms: ${reason}`, { cause: lastError }));
      }
    })();
  }

  /** Fails requests whose deadline passed; runs until `close()`. */
  #sweep(): void {
    const period = Math.max(10, Math.min(1000, this.#options.timeoutMs / 4));
    void (async () => {
      while (!this.#sweeper.signal.aborted) {
        await this.#clock.sleep(period, this.#sweeper.signal).catch(() => undefined);
        const now = this.#clock.now();
        for (const [request, entry] of [...this.#deadlines]) {
          if (entry.deadline <= now) {
            const waitingAt = this.#waiting.indexOf(request);
            if (waitingAt >= 0) this.#waiting.splice(waitingAt, 1);
            const error = new TimeoutError(`${commandName(request.command)} at offset ${request.offset} length ${request.length} on ${this.#uri} got no reply within ${this.#options.timeoutMs} ms`);
            entry.fail(error);
            // A server that stops answering (hung, or cut off without a FIN) is treated as gone: its
            // connection is dropped, so the device turns unavailable, reconnects, and resends the rest.
            this.#connections.find((c) => c.carries(request))?.destroy(error);
          }
        }
      }
    })();
  }

  #replyError(command: number, offset: number, length: number, errno: NbdErrnoName, message: string): BlockrigError {
    const details = message === '' ? undefined : { details: { serverMessage: message } };
    if (errno === 'ENOTSUP') return new UnsupportedError(`the NBD server does not support ${commandName(command)} on ${this.#uri}${message ? `: ${message}` : ''}`, details);
    if (errno === 'EPERM' && command !== Command.Read) return new ReadOnlyError(this.#uri);
    if (errno === 'ESHUTDOWN') return new DeviceUnavailableError(this.#uri, `the NBD server is shutting down${message ? `: ${message}` : ''}`, details);
    return new DeviceIoError(this.#uri, commandName(command), offset, length, errno, details);
  }
}

async function connectOne(
  address: NbdAddress,
  options: { connectTimeoutMs: number; structuredReplies: boolean },
  clock: Clock,
  onLost: (pending: NbdRequest[], err: Error) => void,
): Promise<NbdClientConnection> {
  const conn = await connectEndpoint(address.endpoint, options.connectTimeoutMs, clock);
  // A server that accepts but never greets (a full backlog, a wedged process) must not hang the open.
  const timer = new AbortController();
  const timeout = clock.sleep(options.connectTimeoutMs, timer.signal).then(() => {
    throw new TimeoutError(`the NBD server accepted the connection but did not finish the handshake within ${options.connectTimeoutMs} ms`);
  });
  try {
    const negotiated = await Promise.race([negotiate(conn, address.exportName, { structuredReplies: options.structuredReplies, blockStatus: options.structuredReplies }), timeout]);
    return new NbdClientConnection(conn, negotiated, onLost);
  } catch (err) {
    conn.socket.destroy();
    throw err;
  } finally {
    timer.abort();
    timeout.catch(() => undefined);
  }
}
