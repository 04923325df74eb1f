/**
 * The iSCSI driver: a pure TypeScript initiator (`src/iscsi/`) presenting one LUN as a BlockDevice.
 *
 * URI: `iscsi://[user[%password]@]host[:port]/TARGET-IQN/LUN[?initiator=IQN&timeout=MS]` (libiscsi's form;
 * a user and password log in with CHAP).
 *
 * Opening logs in, takes the session's first UNIT ATTENTION with TEST UNIT READY, and reads INQUIRY, the
 * VPD pages and READ CAPACITY (16); unless `force` (or read-only), a LUN whose first blocks carry a foreign
 * signature (`signatures.ts`) opens read-only, as with the file driver. Reads and writes are READ (16)/WRITE (16) of at most `maxRequestBytes`
 * each, several in flight; FUA is native; flush is SYNCHRONIZE CACHE (16); trim is UNMAP when the unit has
 * logical block provisioning and its Block Limits page allows UNMAP. When the session ends (the target
 * restarted, a protocol error, a command timeout) outstanding I/O fails with `DeviceUnavailableError`, the
 * device turns unavailable, and it logs in again in the background and on the next request.
 */
import { systemClock, type Clock } from '../src/clock.js';
import { DeviceUnavailableError, ForeignDataError, ShortReadError, UnsupportedError } from '../src/errors.js';
import { isUnsupportedCommand, toDeviceError } from '../src/iscsi/device-errors.js';
import type { InitiatorOffer } from '../src/iscsi/negotiation.js';
import { openSession } from '../src/iscsi/open-session.js';
import { read16, readCapacity16, synchronizeCache16, testUnitReady, unmap, write16, writeSame16 } from '../src/iscsi/scsi/cdb.js';
import { executeScsi, type ExecuteStats } from '../src/iscsi/scsi/execute.js';
import { identifyLun, type LunIdentity } from '../src/iscsi/scsi/identify.js';
import { parseCapacity16 } from '../src/iscsi/scsi/parse.js';
import { SessionKeeper } from '../src/iscsi/session-keeper.js';
import type { IscsiSession } from '../src/iscsi/session.js';
import { parseIscsiUri, type IscsiTargetAddress } from '../src/iscsi/uri.js';
import { BlockDeviceBase, NO_CAPABILITIES } from './base.js';
import type { DriverDescriptor } from './registry.js';
import { detectSignature, type Signature } from './signatures.js';
import type { DeviceDescription, ReadOptions } from './types.js';
import { redactUri } from './uri.js';

/** Options of `createIscsiDevice`. */
export interface IscsiDeviceOptions {
  uri: string;
  address: IscsiTargetAddress;
  readOnly?: boolean;
  /** Write even when the LUN carries a foreign signature (a filesystem, a partition table). */
  force?: boolean;
  clock?: Clock;
  /** What to offer in operational negotiation (tests use it to force R2T-only or unsolicited writes). */
  offer?: InitiatorOffer;
  /** Pause between background login attempts after the session ended. */
  reconnectDelayMs?: number;
  /** Largest single READ/WRITE; larger requests are split and issued together. */
  maxRequestBytes?: number;
}

/** Most blocks one WRITE SAME covers, whatever the target allows: 256 MiB of 512-byte blocks keeps it well inside the timeout. */
const MAX_WRITE_SAME_BLOCKS = 512 * 1024;

/** Most UNMAP descriptors in one command, whatever the target allows. */
const MAX_UNMAP_DESCRIPTORS = 64;

/** A LUN reached over iSCSI. */
export class IscsiDevice extends BlockDeviceBase {
  readonly identity: LunIdentity;
  readonly stats: ExecuteStats = { unitAttentions: 0 };
  readonly #options: IscsiDeviceOptions;
  readonly #chunkBytes: number;
  readonly #keeper: SessionKeeper;
  readonly #foreign: Signature | undefined;
  #writeSame = true;

  private constructor(options: IscsiDeviceOptions, session: IscsiSession, identity: LunIdentity, stats: ExecuteStats, foreign: Signature | undefined) {
    const { capacity, blockLimits } = identity;
    const size = capacity.blocks * BigInt(capacity.blockLength);
    if (size > BigInt(Number.MAX_SAFE_INTEGER)) throw new UnsupportedError(`iSCSI LUN ${options.address.lun} holds ${size} bytes, more than blockrig addresses (2^53)`);
    const trim = capacity.lbpme && (blockLimits?.maxUnmapLbaCount ?? 0) > 0 && (blockLimits?.maxUnmapDescriptorCount ?? 0) > 0;
    super({
      uri: redactUri(options.uri),
      driver: 'iscsi',
      size: Number(size),
      logicalBlockSize: capacity.blockLength,
      physicalBlockSize: capacity.blockLength * 2 ** capacity.physicalExponent,
      capabilities: {
        ...NO_CAPABILITIES,
        readOnly: options.readOnly === true || foreign !== undefined || identity.mode?.writeProtected === true,
        // Without a write cache there is nothing to flush; a unit that did not answer MODE SENSE is assumed to cache.
        flush: identity.mode?.writeCache ?? true,
        fua: identity.mode?.dpoFua ?? true,
        trim,
        trimZeroes: trim && capacity.lbprz,
        // WRITE SAME (16); a target without it answers ILLEGAL REQUEST once and gets zero writes from then on.
        writeZeroes: options.readOnly !== true,
        multiConn: true,
      },
      clock: options.clock ?? systemClock,
    });
    this.#options = options;
    this.#foreign = foreign;
    this.identity = identity;
    this.stats.unitAttentions = stats.unitAttentions;
    const limit = blockLimits?.maxTransferLength ? blockLimits.maxTransferLength * capacity.blockLength : Infinity;
    const wanted = options.maxRequestBytes ?? 1024 * 1024;
    this.#chunkBytes = Math.max(capacity.blockLength, Math.floor(Math.min(wanted, limit) / capacity.blockLength) * capacity.blockLength);
    this.#keeper = new SessionKeeper(session, {
      address: options.address,
      clock: this.clock,
      ...(options.offer && { offer: options.offer }),
      reconnectDelayMs: options.reconnectDelayMs ?? 1000,
      verify: (fresh) => this.#verifySameLun(fresh),
      onLost: (reason) => {
        if (!this.closed) this.setAvailable(false, reason);
      },
      onRestored: () => this.setAvailable(true, 'iSCSI session logged in again'),
    });
  }

  /** Connects, logs in and identifies the LUN. */
  static async open(options: IscsiDeviceOptions): Promise<IscsiDevice> {
    const clock = options.clock ?? systemClock;
    const session = await openSession(options.address, clock, options.offer);
    try {
      const stats: ExecuteStats = { unitAttentions: 0 };
      const identity = await identifyLun(session, options.address.lun, clock, stats);
      // Like the file driver: a LUN carrying data blockrig did not write opens read-only and refuses writes
      // with ForeignDataError, unless forced.
      let foreign: Signature | undefined;
      if (options.readOnly !== true && options.force !== true) {
        const { blockLength, blocks } = identity.capacity;
        const read = (offset: number, length: number): Promise<Buffer> =>
          executeScsi(session, { lun: options.address.lun, cdb: read16(offset / blockLength, length / blockLength), readLength: length }, 'READ(16)', clock, stats);
        const found = await detectSignature(read, Number(blocks * BigInt(blockLength)), blockLength);
        if (found !== undefined && !found.ours) foreign = found;
      }
      const device = new IscsiDevice(options, session, identity, stats, foreign);
      return device;
    } catch (err) {
      await session.logout();
      throw err;
    }
  }

  /** The foreign signature that makes this device refuse writes, if any. */
  get foreignSignature(): Signature | undefined {
    return this.#foreign;
  }

  protected override checkRequest(offset: number, length: number, writes: boolean): void {
    if (writes && !this.closed && this.#foreign !== undefined) throw new ForeignDataError(this.uri, this.#foreign.description);
    super.checkRequest(offset, length, writes);
  }

  /** Sessions logged in over the device's life (1 plus each reconnect). */
  get sessionsOpened(): number {
    return this.#keeper.opened;
  }

  /** Inquiry data, identifiers, capacity and negotiated session parameters, for `device probe`. */
  describe(): DeviceDescription {
    const { inquiry, serialNumber, identifiers, capacity, blockLimits } = this.identity;
    const params = this.#keeper.current?.params;
    return {
      target: this.#options.address.targetName,
      portal: `${this.#options.address.host}:${this.#options.address.port}`,
      lun: this.#options.address.lun,
      'target LUNs': this.identity.targetLuns?.join(', ') ?? 'unknown',
      vendor: inquiry.vendor,
      product: inquiry.product,
      revision: inquiry.revision,
      serial: serialNumber ?? '',
      'device id': identifiers.join(', '),
      'capacity (blocks)': capacity.blocks.toString(),
      'block length': capacity.blockLength,
      'thin provisioning': capacity.lbpme,
      'write cache': this.identity.mode?.writeCache ?? 'unknown',
      'write protected': this.identity.mode?.writeProtected ?? 'unknown',
      'max transfer (blocks)': blockLimits?.maxTransferLength ?? 0,
      ...(params && {
        'MaxBurstLength': params.maxBurstLength,
        'FirstBurstLength': params.firstBurstLength,
        'target MaxRecvDataSegmentLength': params.targetMaxRecvDataSegmentLength,
        'InitialR2T': params.initialR2T,
        'ImmediateData': params.immediateData,
      }),
    };
  }

  protected async doRead(offset: number, length: number, options: ReadOptions): Promise<Buffer> {
    const parts = await Promise.all(
      this.#chunks(offset, length).map(async ([at, n]) => {
        const data = await this.#run('read', at, n, read16(at / this.logicalBlockSize, n / this.logicalBlockSize), n, undefined, options.signal);
        if (data.length !== n) throw new ShortReadError(this.uri, at, n, data.length);
        return data;
      }),
    );
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  protected async doWrite(offset: number, data: Uint8Array, fua: boolean): Promise<void> {
    await Promise.all(
      this.#chunks(offset, data.length).map(([at, n]) =>
        this.#run('write', at, n, write16(at / this.logicalBlockSize, n / this.logicalBlockSize, fua), 0, data.subarray(at - offset, at - offset + n)),
      ),
    );
  }

  protected async doFlush(): Promise<void> {
    await this.#run('flush', 0, 0, synchronizeCache16(), 0);
  }

  protected override async doTrim(offset: number, length: number): Promise<void> {
    const bs = this.logicalBlockSize;
    const perDescriptor = Math.min(this.identity.blockLimits?.maxUnmapLbaCount ?? 0, 0xffffffff) * bs;
    const perCommand = Math.min(this.identity.blockLimits?.maxUnmapDescriptorCount ?? 1, MAX_UNMAP_DESCRIPTORS);
    let ranges: { lba: number; blocks: number }[] = [];
    const flush = async (): Promise<void> => {
      if (ranges.length === 0) return;
      const { cdb, parameters } = unmap(ranges);
      ranges = [];
      await this.#run('trim', offset, length, cdb, 0, parameters);
    };
    for (let done = 0; done < length; done += perDescriptor) {
      const n = Math.min(perDescriptor, length - done);
      ranges.push({ lba: (offset + done) / bs, blocks: n / bs });
      if (ranges.length === perCommand) await flush();
    }
    await flush();
  }

  protected override async doWriteZeroes(offset: number, length: number, noUnmap: boolean, fua: boolean): Promise<void> {
    const bs = this.logicalBlockSize;
    const { capacity, blockLimits } = this.identity;
    // Deallocating is a way of zeroing only where unmapped blocks read back as zeroes (LBPRZ).
    const unmap = !noUnmap && capacity.lbpme && capacity.lbprz;
    const limit = Math.min(blockLimits?.maxWriteSameLength || Infinity, MAX_WRITE_SAME_BLOCKS) * bs;
    const zeroBlock = Buffer.alloc(bs);
    for (let done = 0; done < length; ) {
      const n = Math.min(limit, length - done);
      if (this.#writeSame) {
        try {
          await this.#run('write zeroes', offset + done, n, writeSame16((offset + done) / bs, n / bs, unmap), 0, zeroBlock);
          done += n;
          continue;
        } catch (err) {
          if (!isUnsupportedCommand(err)) throw err;
          this.#writeSame = false;
        }
      }
      const zeroes = Buffer.alloc(Math.min(n, this.#chunkBytes));
      for (let at = 0; at < n; at += zeroes.length) {
        const m = Math.min(zeroes.length, n - at);
        await this.doWrite(offset + done + at, m === zeroes.length ? zeroes : zeroes.subarray(0, m), false);
      }
      done += n;
    }
    // WRITE SAME has no FUA bit: make the zeroes durable the other way.
    if (fua) await this.doFlush();
  }

  protected async doClose(): Promise<void> {
    await this.#keeper.close();
  }

  /** Splits a range into request-sized [offset, length] pieces. */
  #chunks(offset: number, length: number): [number, number][] {
    const out: [number, number][] = [];
    for (let done = 0; done < length; done += this.#chunkBytes) out.push([offset + done, Math.min(this.#chunkBytes, length - done)]);
    return out;
  }

  async #run(operation: string, offset: number, length: number, cdb: Buffer, readLength: number, writeData?: Uint8Array, signal?: AbortSignal): Promise<Buffer> {
    let session: IscsiSession;
    try {
      session = await this.#keeper.get();
    } catch (err) {
      throw new DeviceUnavailableError(this.uri, `cannot log in to the iSCSI target: ${(err as Error).message}`, { cause: err });
    }
    try {
      return await executeScsi(session, { lun: this.#options.address.lun, cdb, readLength, ...(writeData && { writeData }), ...(signal && { signal }) }, operation, this.clock, this.stats);
    } catch (err) {
      throw toDeviceError(err, this.uri, operation, offset, length);
    }
  }

  /** Takes the new nexus's UNIT ATTENTION and checks the LUN kept its block size and at least its size. */
  async #verifySameLun(session: IscsiSession): Promise<void> {
    const lun = this.#options.address.lun;
    await executeScsi(session, { lun, cdb: testUnitReady() }, 'TEST UNIT READY', this.clock, this.stats);
    const capacity = parseCapacity16(await executeScsi(session, { lun, cdb: readCapacity16(32), readLength: 32 }, 'READ CAPACITY(16)', this.clock, this.stats));
    if (capacity.blockLength !== this.logicalBlockSize || capacity.blocks * BigInt(capacity.blockLength) < BigInt(this.size)) {
      throw new UnsupportedError(`iSCSI LUN ${lun} came back with ${capacity.blocks} blocks of ${capacity.blockLength} bytes; it had ${this.size} bytes in ${this.logicalBlockSize}-byte blocks`);
    }
  }
}

/** Opens an iSCSI LUN. */
export function createIscsiDevice(options: IscsiDeviceOptions): Promise<IscsiDevice> {
  return IscsiDevice.open(options);
}

/** Registry entry of the iSCSI driver. */
export const iscsiDriver: DriverDescriptor = {
  name: 'iscsi',
  schemes: ['iscsi'],
  summary: 'a LUN on an iSCSI target, by a built-in TypeScript initiator: iscsi://[user%password@]host[:port]/IQN/LUN',
  open: (uri, options) => createIscsiDevice({ uri: uri.text, address: parseIscsiUri(uri), readOnly: options.readOnly ?? false, force: options.force ?? false }),
};
