/**
 * Frames the byte stream from a target into PDUs. Bytes arrive in arbitrary chunks; a PDU is complete once
 * its BHS, its AHS and its padded data segment are in. A header that announces more data than the limit we
 * declared (MaxRecvDataSegmentLength, plus slack for login text) or a non-target opcode is a protocol error
 * at once, so a hostile target cannot make us buffer without bound.
 */
import { IscsiProtocolError } from '../errors.js';
import { announcedLengths, BHS_LENGTH, checkTargetOpcode, padding, Pdu } from './pdu.js';

/**
 * Copies received bytes into each PDU's own buffers as they arrive and yields whole PDUs. It never keeps a
 * reference to a chunk it was given, so the connection can read into one reused buffer (`onread`), which
 * spares the garbage collector a fresh 64 KiB buffer per socket read.
 */
export class PduReader {
  #header = Buffer.allocUnsafe(BHS_LENGTH);
  #headerFilled = 0;
  /** AHS + data + padding of the PDU being received, once its header is in. */
  #rest: Buffer | undefined;
  #restFilled = 0;

  /**
   * @param maxDataSegment the largest data segment accepted
   * @param sender who sends the stream: PDUs from a target must carry target opcodes; a target-side reader
   *   (the test target) reads initiator PDUs
   */
  constructor(
    private maxDataSegment: number,
    private readonly sender: 'target' | 'initiator' = 'target',
  ) {}

  /** Changes the largest data segment accepted (after login negotiated it). */
  setMaxDataSegment(bytes: number): void {
    this.maxDataSegment = bytes;
  }

  /** Adds received bytes; returns the PDUs they complete. Throws `IscsiProtocolError` on a bad header. */
  push(chunk: Buffer): Pdu[] {
    const out: Pdu[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#rest === undefined) {
        const n = Math.min(BHS_LENGTH - this.#headerFilled, chunk.length - at);
        chunk.copy(this.#header, this.#headerFilled, at, at + n);
        this.#headerFilled += n;
        at += n;
        if (this.#headerFilled < BHS_LENGTH) break;
        this.#startBody();
      } else {
        const n = Math.min(this.#rest.length - this.#restFilled, chunk.length - at);
        chunk.copy(this.#rest, this.#restFilled, at, at + n);
        this.#restFilled += n;
        at += n;
      }
      if (this.#rest !== undefined && this.#restFilled === this.#rest.length) out.push(this.#finish());
    }
    return out;
  }

  /** Bytes of a PDU received only in part (for the "truncated PDU" error when the socket closes). */
  get partialBytes(): number {
    return this.#headerFilled + this.#restFilled;
  }

  #startBody(): void {
    const bhs = this.#header;
    if (this.sender === 'target') checkTargetOpcode(bhs);
    const lengths = announcedLengths(bhs);
    if (lengths.data > this.maxDataSegment) {
      throw new IscsiProtocolError(
        `the target announced a data segment of ${lengths.data} bytes, above the ${this.maxDataSegment} bytes blockrig declared (MaxRecvDataSegmentLength)`,
        { details: { announced: lengths.data, limit: this.maxDataSegment } },
      );
    }
    this.#rest = Buffer.allocUnsafe(lengths.ahs + lengths.data + padding(lengths.data));
    this.#restFilled = 0;
  }

  #finish(): Pdu {
    const bhs = this.#header;
    const rest = this.#rest!;
    const lengths = announcedLengths(bhs);
    this.#header = Buffer.allocUnsafe(BHS_LENGTH);
    this.#headerFilled = 0;
    this.#rest = undefined;
    this.#restFilled = 0;
    return new Pdu(bhs, rest.subarray(0, lengths.ahs), rest.subarray(lengths.ahs, lengths.ahs + lengths.data));
  }
}
