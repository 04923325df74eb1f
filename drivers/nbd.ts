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
 * writes it acknowledged, so a retried flush would promise durability it cannot give. A request not
 * answered within `timeout` fails with `BLOCKRIG_E_TIMEOUT` and its connection is dropped, which starts
 * the same reconnect (a hung server, or one cut off without a FIN, is treated as gone).
 */
import { BlockDeviceBase, NO_CAPABILITIES } from './base.js';
import type { DriverDescriptor } from './registry.js';
import type { BlockDevice, OpenOptions } from './types.js';
import type { DeviceUri } from './uri.js';
import { booleanParam, parseDeviceUri, redactUri } from './uri.js';
import { systemClock, type Clock } from '../src/clock.js';
import { InvalidUriError } from '../src/errors.js';
import { parseDurationParam, parseNbdUri, type NbdAddress } from '../src/nbd/address.js';
import type { AllocationExtent, AllocationMapper } from '../src/nbd/allocation.js';
import type { NegotiatedExport } from '../src/nbd/client-handshake.js';
import { NbdConnectionPool, type PoolOptions } from '../src/nbd/client-pool.js';
import { Command, CommandFlag, TransmissionFlag } from '../src/nbd/protocol.js';

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

/** A device on an NBD export; see the module comment. */
export class NbdDevice extends BlockDeviceBase implements AllocationMapper {
  /** What the first handshake established. */
  readonly negotiated: NegotiatedExport;
  readonly #pool: NbdConnectionPool;
  readonly #maxPayload: number;

  private constructor(uri: string, pool: NbdConnectionPool, options: NbdDeviceOptions) {
    const n = pool.negotiated;
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
    this.#pool = pool;
    this.#maxPayload = Math.max(logical, Math.floor(Math.min(n.maximumBlockSize, 32 * 1024 * 1024) / logical) * logical);
  }

  /** Connects, negotiates and opens the extra connections multi-conn allows. */
  static async open(address: NbdAddress, uri: string, options: NbdDeviceOptions = {}): Promise<NbdDevice> {
    const resolved: PoolOptions = {
      connections: options.connections ?? 4,
      timeoutMs: options.timeoutMs ?? 30_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
      reconnectMs: options.reconnectMs ?? 30_000,
      structuredReplies: options.structuredReplies ?? true,
    };
    // Availability events come from the pool, which exists before the device; route them once it does.
    const route: { device?: NbdDevice } = {};
    const pool = await NbdConnectionPool.open(address, uri, resolved, options.clock ?? systemClock, (available, reason) => route.device?.setAvailable(available, reason));
    const device = new NbdDevice(uri, pool, options);
    route.device = device;
    return device;
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.#pool.connectionCount;
  }

  /** The export's `base:allocation` map, when the server offers it; otherwise one data extent. */
  async mapAllocation(offset: number, length: number): Promise<AllocationExtent[]> {
    this.checkRequest(offset, length, false);
    const span = Math.min(length, MAX_NON_PAYLOAD);
    if (this.negotiated.allocationContextId === undefined || span === 0) return [{ length: span, flags: 0 }];
    const { extents = [] } = await this.#pool.request(Command.BlockStatus, 0, offset, span);
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
    await this.#split(offset, length, MAX_NON_PAYLOAD, (at, n) => this.#pool.request(Command.Cache, 0, at, n));
  }

  protected async doRead(offset: number, length: number): Promise<Buffer> {
    const data = Buffer.allocUnsafe(length);
    await this.doReadInto(offset, data);
    return data;
  }

  /** The reply parser copies each read's data straight into `target`, nothing is allocated per read. */
  protected override async doReadInto(offset: number, target: Uint8Array): Promise<void> {
    await this.#split(offset, target.length, this.#maxPayload, (at, n) => this.#pool.request(Command.Read, 0, at, n, undefined, target.subarray(at - offset, at - offset + n)));
  }

  protected async doWrite(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    const flags = fua ? CommandFlag.Fua : 0;
    await this.#split(offset, data.length, this.#maxPayload, (at, n) => this.#pool.request(Command.Write, flags, at, n, data.subarray(at - offset, at - offset + n)));
  }

  protected async doFlush(): Promise<void> {
    await this.#pool.request(Command.Flush, 0, 0, 0);
  }

  protected override async doTrim(offset: number, length: number): Promise<void> {
    await this.#split(offset, length, MAX_NON_PAYLOAD, (at, n) => this.#pool.request(Command.Trim, 0, at, n));
  }

  protected override async doWriteZeroes(offset: number, length: number, noUnmap: boolean, fua: boolean): Promise<void> {
    const flags = (noUnmap ? CommandFlag.NoHole : 0) | (fua ? CommandFlag.Fua : 0);
    await this.#split(offset, length, MAX_NON_PAYLOAD, (at, n) => this.#pool.request(Command.WriteZeroes, flags, at, n));
  }

  protected doClose(): Promise<void> {
    return this.#pool.close();
  }

  async #split(offset: number, length: number, max: number, issue: (at: number, n: number) => Promise<unknown>): Promise<void> {
    const pieces: Promise<unknown>[] = [];
    for (let at = offset; at < offset + length; at += max) pieces.push(issue(at, Math.min(max, offset + length - at)));
    await Promise.all(pieces);
  }
}

/** The query options an NBD URI may carry. */
const URI_OPTIONS = ['socket', 'connections', 'timeout', 'connectTimeout', 'reconnect', 'structured'];

/** Opens an NBD export by URI (see the module comment for the options). Bad URIs reject with `BLOCKRIG_E_INVALID_URI`. */
export async function openNbdDevice(uriText: string, options: NbdDeviceOptions = {}): Promise<NbdDevice> {
  const parsed = parseNbdUri(uriText);
  const p = parsed.params;
  for (const key of p.keys()) {
    if (!URI_OPTIONS.includes(key)) throw new InvalidUriError(uriText, `unknown option "${key}"; NBD URIs take ${URI_OPTIONS.join(', ')}`);
  }
  const connections = Number(p.get('connections') ?? options.connections ?? 4);
  if (!Number.isInteger(connections) || connections < 1 || connections > 16) throw new InvalidUriError(uriText, `connections=${p.get('connections')} must be a whole number from 1 to 16`);
  return NbdDevice.open(parsed, redactUri(uriText), {
    ...options,
    connections,
    timeoutMs: parseDurationParam(uriText, 'timeout', p.get('timeout'), options.timeoutMs ?? 30_000),
    connectTimeoutMs: parseDurationParam(uriText, 'connectTimeout', p.get('connectTimeout'), options.connectTimeoutMs ?? 10_000),
    reconnectMs: parseDurationParam(uriText, 'reconnect', p.get('reconnect'), options.reconnectMs ?? 30_000),
    structuredReplies: options.structuredReplies ?? booleanParam(parseDeviceUri(uriText), 'structured', true),
  });
}

function openFromRegistry(uri: DeviceUri, options: OpenOptions): Promise<BlockDevice> {
  return openNbdDevice(uri.text, { readOnly: options.readOnly ?? false });
}

/** Registry entry of the NBD client driver. */
export const nbdDriver: DriverDescriptor = {
  name: 'nbd',
  schemes: ['nbd', 'nbd+unix'],
  summary: 'NBD client: nbd://host[:port]/export, nbd+unix:///export?socket=PATH (GO, structured replies, multi-conn, reconnect)',
  open: openFromRegistry,
};
