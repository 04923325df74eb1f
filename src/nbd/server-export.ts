/**
 * One export of the NBD server: a `BlockDevice` under a name, and what the server advertises for it.
 *
 * Flags: flush and FUA are always advertised (the base class emulates FUA with write + flush), write zeroes
 * always (emulated by writing zero buffers when the device cannot do it natively), trim when the device
 * trims, DF when structured replies are on (reads are never fragmented), and CAN_MULTI_CONN always: every
 * connection to an export goes through the same `BlockDevice` object, so a flush on any connection covers
 * the writes completed on all of them, which is exactly what multi-conn promises.
 *
 * Block sizes: minimum = the device's logical block size, preferred = its physical block size (at least
 * 4 KiB), maximum payload = 32 MiB.
 */
import type { BlockDevice } from '../../drivers/types.js';
import { InfoType, TransmissionFlag } from './protocol.js';

/** Largest read or write payload the server accepts. */
export const SERVER_MAX_PAYLOAD = 32 * 1024 * 1024;

/** Options of one export. */
export interface ExportOptions {
  /** Refuse writes even when the device is writable. */
  readonly readOnly?: boolean;
  /** Free text shown by `nbdinfo` and `blockrig nbd list`. */
  readonly description?: string;
}

/** An exported device; see the module comment. */
export class ServedExport {
  readonly name: string;
  readonly device: BlockDevice;
  readonly description: string;
  readonly readOnly: boolean;
  /** Serialises read-modify-write cycles of unaligned writes from clients that did not agree to block sizes. */
  rmwTail: Promise<void> = Promise.resolve();

  constructor(name: string, device: BlockDevice, options: ExportOptions = {}) {
    this.name = name;
    this.device = device;
    this.description = options.description ?? '';
    this.readOnly = options.readOnly === true || device.capabilities.readOnly;
  }

  /** Export size in bytes. */
  get size(): number {
    return this.device.size;
  }

  /** Smallest request unit clients must honour: the device's logical block size. */
  get minimumBlockSize(): number {
    return this.device.logicalBlockSize;
  }

  /** The unit clients should use to avoid read-modify-write: the physical block size, at least 4 KiB. */
  get preferredBlockSize(): number {
    return Math.max(4096, this.device.physicalBlockSize);
  }

  /** The 16-bit transmission flags. */
  transmissionFlags(structuredReplies: boolean): number {
    const caps = this.device.capabilities;
    let flags = TransmissionFlag.HasFlags | TransmissionFlag.SendFlush | TransmissionFlag.SendFua | TransmissionFlag.CanMultiConn;
    if (this.readOnly) flags |= TransmissionFlag.ReadOnly;
    else {
      flags |= TransmissionFlag.SendWriteZeroes;
      if (caps.trim) flags |= TransmissionFlag.SendTrim;
    }
    if (caps.rotational) flags |= TransmissionFlag.Rotational;
    if (structuredReplies) flags |= TransmissionFlag.SendDf;
    return flags;
  }

  /** The NBD_INFO_EXPORT payload. */
  exportInfo(structuredReplies: boolean): Buffer {
    const info = Buffer.alloc(12);
    info.writeUInt16BE(InfoType.Export, 0);
    info.writeBigUInt64BE(BigInt(this.size), 2);
    info.writeUInt16BE(this.transmissionFlags(structuredReplies), 10);
    return info;
  }

  /** The NBD_INFO_BLOCK_SIZE payload. */
  blockSizeInfo(): Buffer {
    const info = Buffer.alloc(14);
    info.writeUInt16BE(InfoType.BlockSize, 0);
    info.writeUInt32BE(this.minimumBlockSize, 2);
    info.writeUInt32BE(this.preferredBlockSize, 6);
    info.writeUInt32BE(SERVER_MAX_PAYLOAD, 10);
    return info;
  }
}
