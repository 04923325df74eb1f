/**
 * The NBD client driver: a `BlockDevice` on an export of any NBD server, in pure TypeScript.
 *
 * URI (the NBD URI standard): `nbd://host[:port]/export` or `nbd+unix:///export?socket=PATH`, with options
 * `connections=N` (default 4 when the server sets CAN_MULTI_CONN, else 1), `timeout=30s` (per request),
 * `connectTimeout=10s`, `reconnect=30s` (how long to keep trying after the server went away), and
 * `structured=0` (simple replies only, for old servers).
 *
 * Requests larger than the server's maximum block size are split; offsets and lengths are aligned to the
 * server's minimum block size (at least 512, the contract's smallest logical block). When a connection
 * drops, the device goes unavailable and reconnects; requests that were in flight are sent again on the new
 * connection, except a flush, which fails with `BLOCKRIG_E_DISCONNECTED`: a restarted server may have lost
 * writes it acknowledged, so a retried flush would promise durability it cannot give. Requests not
 * answered within `timeout` fail with `BLOCKRIG_E_TIMEOUT` (a late reply is then ignored).
 */
import { BlockDeviceBase, NO_CAPABILITIES } from './base.js';
import type { DriverDescriptor } from './registry.js';
import type { BlockDevice, OpenOptions } from './types.js';
import type { DeviceUri } from './uri.js';
import { booleanParam, redactUri } from './uri.js';
import { systemClock, type Clock } from '../src/clock.js';
import { DeviceIoError, DeviceUnavailableError, DisconnectedError, InvalidUriError, ReadOnlyError, TimeoutError, UnsupportedError, type BlockrigError } from '../src/errors.js';
import { parseDurationParam, parseNbdUri, type NbdAddress } from '../src/nbd/address.js';
import type { AllocationExtent, AllocationMapper } from '../src/nbd/allocation.js';
import { connectEndpoint, negotiate, type NegotiatedExport } from '../src/nbd/client-handshake.js';
import { NbdClientConnection, type Extent, type NbdRequest } from '../src/nbd/client-connection.js';
import { Command, CommandFlag, commandName, type NbdErrnoName, TransmissionFlag } from '../src/nbd/protocol.js';

/** Options of `openNbdDevice`. */
export interface NbdDeviceOptions {
  readonly readOnly?: boolean;
  /** Connections to open when the server allows multi-conn. */
  readonly connections?: number;
  readonly timeoutMs?: number;
  readonly connectTimeoutMs?: number;
  readonly reconnectMs?: number;
  readonly structuredReplies?: boolean;
  readonly clock?: Clock;
}

/** Largest non-payload request (trim, write zeroes, block status) sent at once. */
const MAX_NON_PAYLOAD = 1024 * 1024 * 1024;

type Settled = { data?: Buffer | undefined; extents?: Extent[] | undefined };

/** The numeric options after defaults. */
type ResolvedOptions = Required<Omit<NbdDeviceOptions, 'clock' | 'readOnly'>>;

/** A device on an NBD export; see the module comment. */
export class NbdDevice extends BlockDeviceBase implements AllocationMapper {
  /** What the first handshake established. */
  readonly negotiated: NegotiatedExport;
  readonly #address: NbdAddress;
  readonly #options: ResolvedOptions;
  readonly #maxPayload: number;
  readonly #connections: NbdClientConnection[] = [];
  readonly #waiting: NbdRequest[] = [];
  readonly #deadlines = new Map<NbdRequest, { deadline: number; fail: (err: BlockrigError) => void }>();
  readonly #sweeper = new AbortController();
  #reconnecting = false;

  private constructor(address: NbdAddress, uri: string, first: NbdClientConnection, options: NbdDeviceOptions, resolved: ResolvedOptions) {
    const n = first.negotiated;
    const flags = n.transmissionFlags;
    const logical = Math.max(512, n.minimumBlockSize);
    const preferred = Math.max(logical, n.preferredBlockSize);
    super({
      uri,
      driver: 'nbd',
      size: n.size,
      logicalBlockSize: logical,
      physicalBlockSize: preferred % logical === 0 && (preferred & (preferred - 1)) === 0 ? preferred : logical,
      clock: options.clock ?? systemClock,
      capabilities: {
        ...NO_CAPABILITIES,
        readOnly: options.readOnly === true || (flags & TransmissionFlag.ReadOnly) !== 0,
        flush: (flags & TransmissionFlag.SendFlush) !== 0,
        fua: (flags & TransmissionFlag.SendFua) !== 0,
        trim: (flags & TransmissionFlag.SendTrim) !== 0,
        writeZeroes: (flags & TransmissionFlag.SendWriteZeroes) !== 0,
        rotational: (flags & TransmissionFlag.Rotational) !== 0,
        multiConn: (flags & TransmissionFlag.CanMultiConn) !== 0,
      },
    });
    this.negotiated = n;
    this.#address = address;
    this.#options = resolved;
    this.#maxPayload = Math.max(logical, Math.floor(Math.min(n.maximumBlockSize, 32 * 1024 * 1024) / logical) * logical);
    this.#adopt(first);
  }

  /** Connects, negotiates and opens the extra connections multi-conn allows. */
  static async open(address: NbdAddress, uri: string, options: NbdDeviceOptions = {}): Promise<NbdDevice> {
    const resolved: ResolvedOptions = {
      connections: options.connections ?? 4,
      timeoutMs: options.timeoutMs ?? 30_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      reconnectMs: options.reconnectMs ?? 30_000,
      structuredReplies: options.structuredReplies ?? true,
    };
    const clock = options.clock ?? systemClock;
    // The first connection exists before the device does; its losses are routed once the device is built.
    const route: { device?: NbdDevice } = {};
    const first = await connectOne(address, resolved, clock, (pending, err) => {
      if (route.device !== undefined) route.device.#lost(pending, err);
    });
    const device = new NbdDevice(address, uri, first, options, resolved);
    route.device = device;
    if (device.capabilities.multiConn && resolved.connections > 1) {
      await Promise.all(Array.from({ length: resolved.connections - 1 }, () => device.#addConnection().catch(() => undefined)));
    }
    device.#sweep();
    return device;
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.#connections.filter((c) => c.usable).length;
  }

  /** The export's `base:allocation` map, when the server offers it; otherwise one data extent. */
  async mapAllocation(offset: number, length: number): Promise<AllocationExtent[]> {
    this.checkRequest(offset, length, false);
    const span = Math.min(length, MAX_NON_PAYLOAD);
    if (this.negotiated.allocationContextId === undefined || span === 0) return [{ length: span, flags: 0 }];
    const { extents = [] } = await this.#request(Command.BlockStatus, 0, offset, span);
    const out: AllocationExtent[] = [];
    let covered = 0;
    for (const e of extents) {
      if (covered >= span || e.length === 0) break;
      out.push({ length: Math.min(e.length, span - covered), flags: e.flags });
      covered += e.length;
    }
    return out.length > 0 ? out : [{ length: span, flags: 0 }];
  }

  /** Asks the server to prefetch a range (NBD_CMD_CACHE); a no-op when the server does not offer it. */
  async prefetch(offset: number, length: number): Promise<void> {
    this.checkRequest(offset, length, false);
    if ((this.negotiated.transmissionFlags & TransmissionFlag.SendCache) === 0) return;
    await this.#split(offset, length, MAX_NON_PAYLOAD, (at, n) => this.#request(Command.Cache, 0, at, n));
  }

  protected async doRead(offset: number, length: number): Promise<Buffer> {
    if (length <= this.#maxPayload) return (await this.#request(Command.Read, 0, offset, length)).data as Buffer;
    const parts: Buffer[] = [];
    await this.#split(offset, length, this.#maxPayload, async (at, n) => {
      parts[(at - offset) / this.#maxPayload] = (await this.#request(Command.Read, 0, at, n)).data as Buffer;
    });
    return Buffer.concat(parts, length);
  }

  protected async doWrite(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    const flags = fua ? CommandFlag.Fua : 0;
    await this.#split(offset, data.length, this.#maxPayload, (at, n) => this.#request(Command.Write, flags, at, n, data.subarray(at - offset, at - offset + n)));
  }

  protected async doFlush(): Promise<void> {
    await this.#request(Command.Flush, 0, 0, 0);
  }

  protected override async doTrim(offset: number, length: number): Promise<void> {
    await this.#split(offset, length, MAX_NON_PAYLOAD, (at, n) => this.#request(Command.Trim, 0, at, n));
  }

  protected override async doWriteZeroes(offset: number, length: number, noUnmap: boolean, fua: boolean): Promise<void> {
    const flags = (noUnmap ? CommandFlag.NoHole : 0) | (fua ? CommandFlag.Fua : 0);
    await this.#split(offset, length, MAX_NON_PAYLOAD, (at, n) => this.#request(Command.WriteZeroes, flags, at, n));
  }

  protected async doClose(): Promise<void> {
    this.#sweeper.abort();
    for (const request of this.#waiting.splice(0)) request.settle({ error: { errno: 'ESHUTDOWN', message: 'device closed' } });
    await Promise.all(this.#connections.splice(0).map((c) => c.disconnect()));
  }

  async #split(offset: number, length: number, max: number, issue: (at: number, n: number) => Promise<unknown>): Promise<void> {
    const pieces: Promise<unknown>[] = [];
    for (let at = offset; at < offset + length; at += max) pieces.push(issue(at, Math.min(max, offset + length - at)));
    await Promise.all(pieces);
  }

  #request(command: number, flags: number, offset: number, length: number, payload?: Uint8Array): Promise<Settled> {
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
        settle: ({ error, data, extents }) => {
          if (error !== undefined) fail(this.#replyError(command, offset, length, error.errno, error.message));
          else if (!done) {
            done = true;
            this.#deadlines.delete(request);
            resolve({ data, extents });
          }
        },
      };
      this.#deadlines.set(request, { deadline: this.clock.now() + this.#options.timeoutMs, fail });
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

  #adopt(connection: NbdClientConnection): void {
    this.#connections.push(connection);
  }

  async #addConnection(): Promise<void> {
    const connection = await connectOne(this.#address, this.#options, this.clock, (pending, err) => this.#lost(pending, err));
    this.#checkSameExport(connection);
    this.#adopt(connection);
  }

  #checkSameExport(connection: NbdClientConnection): void {
    if (connection.negotiated.size !== this.negotiated.size) {
      void connection.disconnect();
      throw new DeviceUnavailableError(this.uri, `the export changed size from ${this.negotiated.size} to ${connection.negotiated.size} bytes across a reconnect; open it again`);
    }
  }

  /** A connection dropped: requeue what was in flight (a flush fails), go unavailable, reconnect. */
  #lost(pending: NbdRequest[], err: Error): void {
    for (let i = this.#connections.length - 1; i >= 0; i--) if (!this.#connections[i]?.usable) this.#connections.splice(i, 1);
    for (const request of pending) {
      if (request.command === Command.Flush) {
        this.#deadlines.get(request)?.fail(new DisconnectedError(`the connection to ${this.uri} was lost while a flush was in flight; writes since the last completed flush may not be durable: write them again`, { cause: err }));
      } else if (this.#deadlines.has(request)) this.#waiting.push(request);
    }
    if (this.closed && this.#connections.length === 0) {
      for (const request of this.#waiting.splice(0)) this.#deadlines.get(request)?.fail(new DisconnectedError(`the connection to ${this.uri} was lost while closing`, { cause: err }));
      return;
    }
    if (this.#connections.length === 0) {
      this.setAvailable(false, `nbd server closed the connection (${err.message})`);
      this.#reconnect();
    } else this.#drainWaiting();
  }

  #drainWaiting(): void {
    for (const request of this.#waiting.splice(0)) this.#dispatch(request);
  }

  #reconnect(): void {
    if (this.#reconnecting || this.closed) return;
    this.#reconnecting = true;
    void (async () => {
      const deadline = this.clock.now() + this.#options.reconnectMs;
      let delay = 50;
      let lastError: unknown;
      while (this.clock.now() < deadline && !this.#sweeper.signal.aborted) {
        try {
          await this.#addConnection();
          this.#reconnecting = false;
          this.setAvailable(true, 'nbd connection re-established');
          this.#drainWaiting();
          if (this.capabilities.multiConn) for (let i = 1; i < this.#options.connections; i++) void this.#addConnection().catch(() => undefined);
          return;
        } catch (err) {
          lastError = err;
          if (err instanceof DeviceUnavailableError) break;
        }
        await this.clock.sleep(delay, this.#sweeper.signal).catch(() => undefined);
        delay = Math.min(delay * 2, 1000);
      }
      this.#reconnecting = false;
      this.setAvailable(false, 'nbd server unreachable');
      const reason = lastError instanceof Error ? lastError.message : 'the device was closed';
      for (const request of this.#waiting.splice(0)) {
        this.#deadlines.get(request)?.fail(new DeviceUnavailableError(this.uri, `could not reconnect to the NBD server within ${this.#options.reconnectMs} ms: ${reason}`, { cause: lastError }));
      }
    })();
  }

  /** Fails requests whose deadline passed; runs until the device closes. */
  #sweep(): void {
    const period = Math.max(10, Math.min(1000, this.#options.timeoutMs / 4));
    void (async () => {
      while (!this.#sweeper.signal.aborted) {
        await this.clock.sleep(period, this.#sweeper.signal).catch(() => undefined);
        const now = this.clock.now();
        for (const [request, entry] of [...this.#deadlines]) {
          if (entry.deadline <= now) {
            const waitingAt = this.#waiting.indexOf(request);
            if (waitingAt >= 0) this.#waiting.splice(waitingAt, 1);
            entry.fail(new TimeoutError(`${commandName(request.command)} at offset ${request.offset} length ${request.length} on ${this.uri} got no reply within ${this.#options.timeoutMs} ms`));
          }
        }
      }
    })();
  }

  #replyError(command: number, offset: number, length: number, errno: NbdErrnoName, message: string): BlockrigError {
    const details = message === '' ? undefined : { details: { serverMessage: message } };
    if (errno === 'ENOTSUP') return new UnsupportedError(`the NBD server does not support ${commandName(command)} on ${this.uri}${message ? `: ${message}` : ''}`, details);
    if (errno === 'EPERM' && command !== Command.Read) return new ReadOnlyError(this.uri);
    if (errno === 'ESHUTDOWN') return new DeviceUnavailableError(this.uri, `the NBD server is shutting down${message ? `: ${message}` : ''}`, details);
    return new DeviceIoError(this.uri, commandName(command), offset, length, errno, details);
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

/** Opens an NBD export by URI (see the module comment for the options). */
export function openNbdDevice(uriText: string, options: NbdDeviceOptions = {}): Promise<NbdDevice> {
  const parsed = parseNbdUri(uriText);
  const p = parsed.params;
  const connections = Number(p.get('connections') ?? options.connections ?? 4);
  if (!Number.isInteger(connections) || connections < 1 || connections > 16) throw new InvalidUriError(uriText, `connections=${p.get('connections')} must be a whole number from 1 to 16`);
  return NbdDevice.open(parsed, redactUri(uriText), {
    ...options,
    connections,
    timeoutMs: parseDurationParam(uriText, 'timeout', p.get('timeout'), options.timeoutMs ?? 30_000),
    connectTimeoutMs: parseDurationParam(uriText, 'connectTimeout', p.get('connectTimeout'), options.connectTimeoutMs ?? 10_000),
    reconnectMs: parseDurationParam(uriText, 'reconnect', p.get('reconnect'), options.reconnectMs ?? 30_000),
  });
}

function openFromRegistry(uri: DeviceUri, options: OpenOptions): Promise<BlockDevice> {
  return openNbdDevice(uri.text, { readOnly: options.readOnly ?? false, structuredReplies: booleanParam(uri, 'structured', true) });
}

/** Registry entry of the NBD client driver. */
export const nbdDriver: DriverDescriptor = {
  name: 'nbd',
  schemes: ['nbd', 'nbd+unix'],
  summary: 'NBD client: nbd://host[:port]/export, nbd+unix:///export?socket=PATH (GO, structured replies, multi-conn, reconnect)',
  open: openFromRegistry,
};
