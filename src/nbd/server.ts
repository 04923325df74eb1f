/**
 * The NBD server: exports any number of `BlockDevice`s (files, loop devices, memory, other NBD exports,
 * volumes) to any number of clients over TCP or a unix socket.
 *
 * Lifecycle: `addExport()` any time; `listen()` once; `close()` stops accepting, cuts clients still in
 * negotiation, lets every session answer the requests it has read, flushes every export's device, and
 * only then resolves. The devices stay open: whoever opened them closes them.
 *
 * A client that stays in negotiation longer than `handshakeTimeoutMs` is dropped, so half-open
 * connections cannot pile up. No input from a client can throw out of here: every failure closes that
 * client's connection only.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { lstatSync, rmSync } from 'node:fs';
import { systemClock, type Clock } from '../clock.js';
import { ConflictError, InvalidArgumentError } from '../errors.js';
import type { BlockDevice } from '../../drivers/types.js';
import type { NbdEndpoint } from './address.js';
import { ServedExport, type ExportOptions } from './server-export.js';
import { negotiateServer, type ExportLookup } from './server-negotiation.js';
import { PayloadFramePool } from './frame-pool.js';
import { ServerSession } from './server-session.js';
import { SocketReader } from './socket-reader.js';

/** Options of `NbdServer`. */
export interface NbdServerOptions {
  readonly clock?: Clock;
  /** Diagnostics (a client's bad magic, an internal error); default: none. */
  readonly log?: (message: string) => void;
  readonly handshakeTimeoutMs?: number;
  readonly maxConnections?: number;
}

/** An NBD server; see the module comment. */
export class NbdServer implements ExportLookup {
  readonly #exports = new Map<string, ServedExport>();
  readonly #clock: Clock;
  readonly #log: (message: string) => void;
  readonly #handshakeTimeoutMs: number;
  readonly #maxConnections: number;
  readonly #negotiating = new Set<Socket>();
  readonly #sessions = new Set<ServerSession>();
  readonly #sessionsDone = new Set<Promise<void>>();
  /** Read reply frames, shared by every connection (see `frame-pool.ts`). */
  readonly #frames = new PayloadFramePool();
  #server: Server | undefined;
  #endpoint: NbdEndpoint | undefined;
  #closing: Promise<void> | undefined;

  constructor(options: NbdServerOptions = {}) {
    this.#clock = options.clock ?? systemClock;
    this.#log = options.log ?? (() => undefined);
    this.#handshakeTimeoutMs = options.handshakeTimeoutMs ?? 30_000;
    this.#maxConnections = options.maxConnections ?? 256;
  }

  /** Exports `device` as `name`. The first export is also the default export (empty name). */
  addExport(name: string, device: BlockDevice, options: ExportOptions = {}): void {
    if (Buffer.byteLength(name) > 4096) throw new InvalidArgumentError(`export name "${name.slice(0, 40)}..." is longer than 4096 bytes`, { details: { field: 'name' } });
    if (this.#exports.has(name)) throw new ConflictError(`an export named "${name}" already exists on this server`);
    this.#exports.set(name, new ServedExport(name, device, options));
  }

  /** Removes an export from new negotiations; connected clients keep using it. */
  removeExport(name: string): boolean {
    return this.#exports.delete(name);
  }

  /** The export named `name`; the empty name is the first export added. */
  find(name: string): ServedExport | undefined {
    return this.#exports.get(name) ?? (name === '' ? this.#exports.values().next().value : undefined);
  }

  /** Every export, in the order added. */
  list(): readonly ServedExport[] {
    return [...this.#exports.values()];
  }

  /** Clients in the transmission phase. */
  get sessionCount(): number {
    return this.#sessions.size;
  }

  /** The endpoint actually listened on (the port chosen when 0 was asked). */
  get endpoint(): NbdEndpoint | undefined {
    return this.#endpoint;
  }

  /** Starts accepting connections. */
  async listen(endpoint: NbdEndpoint): Promise<NbdEndpoint> {
    if (this.#server) throw new ConflictError('this NBD server is already listening');
    const server = createServer({ noDelay: true, pauseOnConnect: false }, (socket) => this.#accept(socket));
    server.maxConnections = this.#maxConnections;
    this.#server = server;
    if (endpoint.kind === 'unix') removeStaleSocket(endpoint.path);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (endpoint.kind === 'unix') server.listen(endpoint.path, resolve);
      else server.listen(endpoint.port, endpoint.host, resolve);
    });
    server.on('error', (err) => this.#log(`nbd: listener error: ${err.message}`));
    const address = server.address();
    this.#endpoint = endpoint.kind === 'unix' ? endpoint : { kind: 'tcp', host: endpoint.host, port: (address as AddressInfo).port };
    return this.#endpoint;
  }

  /** Stops accepting, drains sessions, flushes devices; idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      const server = this.#server;
      const stopped = server ? new Promise<void>((resolve) => server.close(() => resolve())) : Promise.resolve();
      for (const socket of this.#negotiating) socket.destroy();
      for (const session of this.#sessions) session.stop();
      await Promise.allSettled([...this.#sessionsDone]);
      await Promise.allSettled(this.list().filter((e) => !e.readOnly).map((e) => e.device.flush()));
      await stopped;
    })();
    return this.#closing;
  }

  #accept(socket: Socket): void {
    socket.setNoDelay(true);
    socket.on('error', () => undefined); // a reset by the client is reported through the reader
    if (this.#closing) {
      socket.destroy();
      return;
    }
    const reader = new SocketReader(socket, 'NBD client');
    this.#negotiating.add(socket);
    const timer = new AbortController();
    this.#clock.sleep(this.#handshakeTimeoutMs, timer.signal).then(
      () => {
        if (this.#negotiating.has(socket)) socket.destroy();
      },
      () => undefined,
    );
    const done = (async () => {
      let terms;
      try {
        terms = await negotiateServer(socket, reader, this);
      } catch {
        terms = undefined; // the client left or sent garbage: only its connection ends
      } finally {
        this.#negotiating.delete(socket);
        timer.abort();
      }
      if (terms === undefined || this.#closing) {
        socket.end();
        setTimeout(() => socket.destroy(), 1000).unref();
        return;
      }
      const session = new ServerSession(socket, reader, terms, this.#log, this.#frames);
      this.#sessions.add(session);
      try {
        await session.run();
      } finally {
        this.#sessions.delete(session);
        socket.destroy();
      }
    })();
    this.#sessionsDone.add(done);
    void done.catch((err: unknown) => this.#log(`nbd: connection ended with an error: ${String(err)}`)).finally(() => this.#sessionsDone.delete(done));
  }
}

/** Removes a socket file left by a previous server; refuses to touch anything that is not a socket. */
function removeStaleSocket(path: string): void {
  let stats;
  try {
    stats = lstatSync(path);
  } catch {
    return; // nothing there
  }
  if (!stats.isSocket()) throw new ConflictError(`${path} exists and is not a socket: refusing to replace it; choose another --listen path`);
  rmSync(path, { force: true });
}
