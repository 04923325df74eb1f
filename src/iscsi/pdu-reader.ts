/**
 * Frames the byte stream from a target into PDUs. Bytes arrive in arbitrary chunks; a PDU is complete once
 * its BHS, its AHS and its padded data segment are in. A header that announces more data than the limit we
 * declared (MaxRecvDataSegmentLength, plus slack for login text) or a non-target opcode is a protocol error
 * at once, so a hostile target cannot make us buffer without bound.
 */
import { IscsiProtocolError } from '../errors.js';
import { announcedLengths, BHS_LENGTH, checkTargetOpcode, padding, Pdu } from './pdu.js';

/** Accumulates chunks and yields whole PDUs. */
export class PduReader {
  #chunks: Buffer[] = [];
  #buffered = 0;
  #header: Buffer | undefined;
  #need = BHS_LENGTH;

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
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const out: Pdu[] = [];
    while (this.#buffered >= this.#need) {
      if (this.#header === undefined) {
        const bhs = this.#take(BHS_LENGTH);
        if (this.sender === 'target') checkTargetOpcode(bhs);
        const lengths = announcedLengths(bhs);
        if (lengths.data > this.maxDataSegment) {
          throw new IscsiProtocolError(
            `the target announced a data segment of ${lengths.data} bytes, above the ${this.maxDataSegment} bytes blockrig declared (MaxRecvDataSegmentLength)`,
            { details: { announced: lengths.data, limit: this.maxDataSegment } },
          );
        }
        this.#header = bhs;
        this.#need = lengths.ahs + lengths.data + padding(lengths.data);
        if (this.#need > 0) continue;
      }
      const bhs = this.#header;
      const lengths = announcedLengths(bhs);
      const rest = this.#need > 0 ? this.#take(this.#need) : Buffer.alloc(0);
      out.push(new Pdu(bhs, rest.subarray(0, lengths.ahs), rest.subarray(lengths.ahs, lengths.ahs + lengths.data)));
      this.#header = undefined;
      this.#need = BHS_LENGTH;
    }
    return out;
  }

  /** Bytes of a PDU received only in part (for the "truncated PDU" error when the socket closes). */
  get partialBytes(): number {
    return this.#buffered + (this.#header === undefined ? 0 : BHS_LENGTH);
  }

  #take(n: number): Buffer {
    const first = this.#chunks[0]!;
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const chunk = this.#chunks[0]!;
        const m = Math.min(chunk.length, n - filled);
        chunk.copy(out, filled, 0, m);
        filled += m;
        if (m === chunk.length) this.#chunks.shift();
        else this.#chunks[0] = chunk.subarray(m);
      }
    }
    this.#buffered -= n;
    return out;
  }
}
