/**
 * The data of one SCSI command (RFC 7143 7.7, 11.7, 11.8): reassembles Data-In into the read buffer and cuts
 * write data into immediate data, unsolicited Data-Out and the Data-Out sequences R2Ts ask for, within the
 * negotiated FirstBurstLength, MaxBurstLength and the target's MaxRecvDataSegmentLength.
 *
 * blockrig negotiates DataPDUInOrder=Yes and DataSequenceInOrder=Yes (their results are an OR, so the target
 * cannot turn them off), so Data-In must arrive contiguously, in DataSN order; anything else is refused as a
 * protocol error rather than patched around.
 */
import { IscsiProtocolError } from '../errors.js';
import type { SessionParameters } from './negotiation.js';

/** One Data-Out PDU to send. */
export interface DataOutPdu {
  offset: number;
  data: Buffer;
  dataSn: number;
  final: boolean;
}

/** Data bookkeeping of one command. */
export class DataTransfer {
  readonly writeLength: number;
  #read: Buffer | undefined;
  readonly #write: Buffer | undefined;
  #received = 0;
  #nextDataSn = 0;
  #nextR2tSn = 0;
  #immediateLength = 0;

  constructor(
    readonly readLength: number,
    writeData: Uint8Array | undefined,
    private readonly params: SessionParameters,
  ) {
    this.#write = writeData === undefined || writeData.length === 0 ? undefined : Buffer.from(writeData.buffer, writeData.byteOffset, writeData.length);
    this.writeLength = this.#write?.length ?? 0;
  }

  /** Data to carry in the command PDU itself, when ImmediateData=Yes. */
  immediateData(): Buffer | undefined {
    if (this.#write === undefined || !this.params.immediateData) return undefined;
    this.#immediateLength = Math.min(this.writeLength, this.params.firstBurstLength, this.params.targetMaxRecvDataSegmentLength);
    return this.#write.subarray(0, this.#immediateLength);
  }

  /** Unsolicited Data-Out after the command, when InitialR2T=No, up to FirstBurstLength in all. */
  unsolicitedPdus(): DataOutPdu[] {
    if (this.#write === undefined || this.params.initialR2T) return [];
    const end = Math.min(this.writeLength, this.params.firstBurstLength);
    return this.#cut(this.#immediateLength, end - this.#immediateLength);
  }

  /** The Data-Out sequence answering one R2T. */
  answerR2T(r2tSn: number, offset: number, length: number): DataOutPdu[] {
    if (this.#write === undefined) throw new IscsiProtocolError('the target sent an R2T for a command that writes nothing');
    if (r2tSn !== this.#nextR2tSn) throw new IscsiProtocolError(`the target sent R2TSN ${r2tSn}; expected ${this.#nextR2tSn}`);
    if (length === 0 || offset + length > this.writeLength || length > this.params.maxBurstLength) {
      throw new IscsiProtocolError(
        `the target asked for ${length} bytes at offset ${offset} of a ${this.writeLength}-byte write (MaxBurstLength ${this.params.maxBurstLength})`,
        { details: { offset, length } },
      );
    }
    this.#nextR2tSn++;
    return this.#cut(offset, length);
  }

  /** Places one Data-In PDU's data; `final` marks the end of a sequence (nothing to do at level 0). */
  acceptDataIn(dataSn: number, offset: number, data: Buffer, _final: boolean): void {
    if (this.readLength === 0) throw new IscsiProtocolError('the target sent Data-In for a command that reads nothing');
    if (dataSn !== this.#nextDataSn) throw new IscsiProtocolError(`the target sent Data-In with DataSN ${dataSn}; expected ${this.#nextDataSn}`);
    if (offset !== this.#received || offset + data.length > this.readLength) {
      throw new IscsiProtocolError(
        `the target sent ${data.length} bytes of Data-In at offset ${offset}; expected offset ${this.#received} within ${this.readLength} bytes`,
        { details: { offset, length: data.length } },
      );
    }
    if (offset === 0 && data.length === this.readLength) this.#read = data; // the whole answer in one PDU: keep it, no copy
    else {
      this.#read ??= Buffer.allocUnsafe(this.readLength);
      data.copy(this.#read, offset);
    }
    this.#received += data.length;
    this.#nextDataSn++;
  }

  /**
   * Ends the transfer and returns the data read. With GOOD status the bytes received must be what was asked
   * less the reported underflow residual; a target claiming more than it sent is a protocol error.
   */
  finish(status: number, underflowResidual: number, _overflow: boolean): Buffer {
    if (status === 0 && this.readLength > 0) {
      const expected = this.readLength - Math.min(underflowResidual, this.readLength);
      if (this.#received < expected) {
        throw new IscsiProtocolError(`the target reported success after sending ${this.#received} of ${expected} bytes`, {
          details: { received: this.#received, expected },
        });
      }
    }
    return this.#read === undefined ? Buffer.alloc(0) : this.#read.subarray(0, this.#received);
  }

  #cut(offset: number, length: number): DataOutPdu[] {
    const out: DataOutPdu[] = [];
    const step = this.params.targetMaxRecvDataSegmentLength;
    for (let done = 0, dataSn = 0; done < length; done += step, dataSn++) {
      const n = Math.min(step, length - done);
      out.push({ offset: offset + done, data: this.#write!.subarray(offset + done, offset + done + n), dataSn, final: done + n >= length });
    }
    return out;
  }
}
