/**
 * The full feature phase of one single-connection session at ErrorRecoveryLevel 0 (RFC 7143 3.2, 4.2, 7).
 *
 * - Commands are numbered with CmdSN and sent only while CmdSN <= MaxCmdSN (the window the target opens in
 *   every response); the rest wait in order. Many commands are in flight at once, told apart by ITT.
 * - Reads: Data-In PDUs land at their Buffer Offset; DataSN must follow in order; the status comes in the
 *   last Data-In (S bit) or in a SCSI Response.
 * - Writes: immediate data rides in the command PDU and unsolicited Data-Out follows, both within
 *   FirstBurstLength and when negotiated; the rest goes as the target asks with R2Ts, in Data-Out PDUs no
 *   larger than the target's MaxRecvDataSegmentLength.
 * - NOP-In pings are answered; ExpStatSN acknowledges every status.
 * - Anything that breaks the protocol (an unknown ITT, data outside the buffer, a missing DataSN) and any
 *   command without an answer within its timeout ends the session: at level 0 there is no per-task recovery,
 *   and every outstanding command fails with that error. The driver logs in again.
 */
import type { Clock } from '../clock.js';
import { CancelledError, DisconnectedError, IscsiProtocolError } from '../errors.js';
import type { IscsiConnection } from './connection.js';
import type { LoginResult } from './login.js';
import type { SessionParameters } from './negotiation.js';
import { encodeLun, encodePdu, InitiatorOpcode, opcodeName, RESERVED_TAG, snLessThan, TargetOpcode, type Pdu } from './pdu.js';
import type { ScsiRequest, ScsiResult } from './scsi-request.js';
import { DataTransfer } from './transfer.js';
import { SessionWatchdog } from './watchdog.js';

interface Task {
  readonly itt: number;
  readonly request: ScsiRequest;
  readonly transfer: DataTransfer;
  readonly resolve: (result: ScsiResult) => void;
  readonly reject: (err: Error) => void;
  /** When the command was submitted, on the session's clock. */
  readonly submitted: number;
  /** Removes the abort listener. */
  forget?: () => void;
}

/** A logged-in session. */
export class IscsiSession {
  readonly params: SessionParameters;
  readonly #conn: IscsiConnection;
  readonly #tasks = new Map<number, Task>();
  readonly #waiting: Task[] = [];
  #nextItt = 1;
  #cmdSn: number;
  #expStatSn: number;
  #maxCmdSn: number;
  #failure: Error | undefined;
  readonly #watchdog: SessionWatchdog;
  /** When a PDU last arrived, for the keepalive. */
  #lastHeard: number;
  /** The NOP-Out ping waiting for its NOP-In, if any. */
  #ping: { itt: number; sent: number } | undefined;
  #logout: (() => void) | undefined;
  readonly #lostListeners: ((err: Error) => void)[] = [];

  constructor(
    conn: IscsiConnection,
    loginResult: LoginResult,
    private readonly clock: Clock,
    private readonly timeoutMs: number,
    /** Ping an idle target after this long without a PDU from it (0: never), so a silent death is noticed. */
    keepaliveMs = 0,
  ) {
    this.#lastHeard = clock.now();
    this.#conn = conn;
    this.params = loginResult.params;
    this.#cmdSn = loginResult.cmdSn;
    this.#expStatSn = loginResult.expStatSn;
    this.#maxCmdSn = loginResult.maxCmdSn;
    conn.setMaxDataSegment(this.params.initiatorMaxRecvDataSegmentLength);
    conn.onClose((err) => this.#fail(err));
    conn.setHandler((pdu) => {
      this.#lastHeard = this.clock.now();
      try {
        this.#dispatch(pdu);
      } catch (err) {
        this.#conn.destroy(err instanceof Error ? err : new IscsiProtocolError(String(err)));
      }
    });
    this.#watchdog = new SessionWatchdog(clock, timeoutMs, keepaliveMs, {
      portal: conn.portal,
      alive: () => this.#failure === undefined,
      oldestCommand: () => {
        const oldest = this.#tasks.values().next().value; // Map order: the first is the oldest
        return oldest && { submitted: oldest.submitted, opcode: oldest.request.cdb[0]! };
      },
      lastHeard: () => this.#lastHeard,
      pingSentAt: () => this.#ping?.sent,
      sendPing: (now) => this.#sendPing(now),
      fail: (err) => this.#conn.destroy(err),
    });
    if (keepaliveMs > 0) this.#watchdog.ensure();
  }

  /** The error that ended the session, once it has ended. */
  get failure(): Error | undefined {
    return this.#failure;
  }

  /** Commands sent and not yet answered, plus those waiting for the CmdSN window. */
  get outstanding(): number {
    return this.#tasks.size;
  }

  /** Registers a listener for the end of the session (called once). */
  onLost(listener: (err: Error) => void): void {
    if (this.#failure !== undefined) listener(this.#failure);
    else this.#lostListeners.push(listener);
  }

  /** Runs one SCSI command; resolves with its status (CHECK CONDITION included), rejects on session failure. */
  command(request: ScsiRequest): Promise<ScsiResult> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (request.signal?.aborted === true) return Promise.reject(new CancelledError('SCSI command cancelled before it was sent'));
    return new Promise<ScsiResult>((resolve, reject) => {
      const itt = this.#allocateItt();
      const transfer = new DataTransfer(request.readLength ?? 0, request.writeData, this.params);
      const task: Task = { itt, request, transfer, resolve, reject, submitted: this.clock.now() };
      this.#tasks.set(itt, task);
      const signal = request.signal;
      if (signal !== undefined) {
        const onAbort = (): void => {
          const waiting = this.#waiting.indexOf(task);
          if (waiting >= 0) {
            this.#waiting.splice(waiting, 1);
            this.#tasks.delete(itt);
          }
          reject(new CancelledError(`SCSI command 0x${request.cdb[0]!.toString(16)} cancelled${waiting >= 0 ? ' before it was sent' : ' while the target works on it'}`));
        };
        signal.addEventListener('abort', onAbort, { once: true });
        task.forget = () => signal.removeEventListener('abort', onAbort);
      }
      this.#watchdog.ensure();
      this.#waiting.push(task);
      this.#pump();
    });
  }

  /** Logs out (closing the session) and closes the connection; never throws. */
  async logout(): Promise<void> {
    if (this.#failure !== undefined) return;
    const itt = this.#allocateItt();
    const abort = new AbortController();
    try {
      const answered = new Promise<void>((resolve) => (this.#logout = () => resolve()));
      this.#conn.send(encodePdu({ opcode: InitiatorOpcode.LogoutRequest, immediate: true, flags: 0x80, itt, words: { 20: 0, 24: this.#cmdSn, 28: this.#expStatSn } }));
      await Promise.race([answered, this.clock.sleep(Math.min(this.timeoutMs, 5000), abort.signal).catch(() => undefined)]);
    } catch {
      // The connection is already gone: nothing to log out of.
    } finally {
      abort.abort();
      this.#conn.destroy(new DisconnectedError(`logged out of the iSCSI session at ${this.#conn.portal}`));
    }
  }

  /** An immediate NOP-Out asking for a NOP-In (ITT set, TTT reserved); it takes no CmdSN. */
  #sendPing(now: number): void {
    const itt = this.#allocateItt();
    this.#ping = { itt, sent: now };
    this.#conn.send(encodePdu({ opcode: InitiatorOpcode.NopOut, immediate: true, flags: 0x80, itt, words: { 20: RESERVED_TAG, 24: this.#cmdSn, 28: this.#expStatSn } }));
  }

  #allocateItt(): number {
    let itt = this.#nextItt;
    while (itt === RESERVED_TAG || this.#tasks.has(itt) || itt === this.#ping?.itt) itt = (itt + 1) >>> 0;
    this.#nextItt = (itt + 1) >>> 0;
    return itt;
  }

  /** Sends waiting commands while the CmdSN window is open. */
  #pump(): void {
    while (this.#waiting.length > 0 && this.#failure === undefined && !snLessThan(this.#maxCmdSn, this.#cmdSn)) {
      const task = this.#waiting.shift()!;
      const { request, transfer } = task;
      const cmdSn = this.#cmdSn;
      this.#cmdSn = (this.#cmdSn + 1) >>> 0;
      const immediate = transfer.immediateData();
      const unsolicited = transfer.unsolicitedPdus();
      // F is set unless unsolicited Data-Out follows; task attribute 1 is SIMPLE.
      const flags = (unsolicited.length === 0 ? 0x80 : 0) | (transfer.readLength > 0 ? 0x40 : 0) | (transfer.writeLength > 0 ? 0x20 : 0) | 1;
      const lun = encodeLun(request.lun);
      this.#conn.send(
        encodePdu({
          opcode: InitiatorOpcode.ScsiCommand,
          flags,
          lun,
          itt: task.itt,
          words: { 20: transfer.readLength + transfer.writeLength, 24: cmdSn, 28: this.#expStatSn },
          cdb: request.cdb,
          data: immediate,
        }),
      );
      for (const out of unsolicited) this.#sendDataOut(task, lun, RESERVED_TAG, out);
    }
  }

  #sendDataOut(task: Task, lun: Buffer, ttt: number, out: { offset: number; data: Buffer; dataSn: number; final: boolean }): void {
    this.#conn.send(
      encodePdu({
        opcode: InitiatorOpcode.DataOut,
        flags: out.final ? 0x80 : 0,
        lun,
        itt: task.itt,
        words: { 20: ttt, 28: this.#expStatSn, 36: out.dataSn, 40: out.offset },
        data: out.data,
      }),
    );
  }

  #dispatch(pdu: Pdu): void {
    switch (pdu.opcode) {
      case TargetOpcode.NopIn:
        return this.#onNopIn(pdu);
      case TargetOpcode.ScsiResponse: {
        const task = this.#task(pdu);
        this.#acknowledge(pdu, true);
        if (pdu.u8(2) !== 0) throw new IscsiProtocolError(`the target reported iSCSI response 0x${pdu.u8(2).toString(16)} (target failure) for ITT 0x${task.itt.toString(16)}`);
        // The data segment, when present, is SenseLength (2 bytes) then the sense (RFC 7143 11.4.7).
        const senseLength = pdu.data.length >= 2 ? pdu.data.readUInt16BE(0) : 0;
        if (pdu.data.length === 1 || (pdu.data.length > 0 && 2 + senseLength > pdu.data.length)) throw new IscsiProtocolError(`the target's SCSI response announces ${senseLength} bytes of sense but carries ${pdu.data.length - 2}`);
        return this.#complete(task, pdu.u8(3), pdu.data.subarray(2, 2 + senseLength), pdu);
      }
      case TargetOpcode.DataIn: {
        const task = this.#task(pdu);
        const withStatus = (pdu.flags & 0x01) !== 0;
        this.#acknowledge(pdu, withStatus);
        task.transfer.acceptDataIn(pdu.u32(36), pdu.u32(40), pdu.data, (pdu.flags & 0x80) !== 0);
        if (withStatus) this.#complete(task, pdu.u8(3), Buffer.alloc(0), pdu);
        return;
      }
      case TargetOpcode.R2T: {
        const task = this.#task(pdu);
        this.#acknowledge(pdu, false);
        const lun = encodeLun(task.request.lun);
        for (const out of task.transfer.answerR2T(pdu.u32(36), pdu.u32(40), pdu.u32(44))) this.#sendDataOut(task, lun, pdu.u32(20), out);
        return;
      }
      case TargetOpcode.LogoutResponse:
        this.#acknowledge(pdu, true);
        this.#logout?.();
        return;
      case TargetOpcode.AsyncMessage:
        this.#acknowledge(pdu, true);
        // Event 1: the target asks us to log out; 2 and 3: it will drop the connection. Either way this
        // session ends; the driver logs in again. Event 0 (a SCSI async event) and 4 need nothing from us.
        if (pdu.u8(36) >= 1 && pdu.u8(36) <= 3) this.#conn.destroy(new DisconnectedError(`the iSCSI target at ${this.#conn.portal} asked to end the session (async event ${pdu.u8(36)})`));
        return;
      case TargetOpcode.Reject: {
        this.#acknowledge(pdu, true);
        const rejectedItt = pdu.data.length >= 20 ? pdu.data.readUInt32BE(16) : RESERVED_TAG;
        throw new IscsiProtocolError(`the target rejected a PDU (reason 0x${pdu.u8(2).toString(16)}, ITT 0x${rejectedItt.toString(16)})`, { details: { reason: pdu.u8(2) } });
      }
      default:
        throw new IscsiProtocolError(`the target sent an unexpected ${opcodeName(pdu.opcode)} PDU in the full feature phase`);
    }
  }

  #onNopIn(pdu: Pdu): void {
    const ttt = pdu.u32(20);
    this.#acknowledge(pdu, pdu.itt !== RESERVED_TAG);
    if (this.#ping !== undefined && pdu.itt === this.#ping.itt) this.#ping = undefined;
    if (ttt !== RESERVED_TAG) {
      // A ping from the target: echo it (RFC 7143 11.18), as an immediate NOP-Out that takes no CmdSN.
      this.#conn.send(encodePdu({ opcode: InitiatorOpcode.NopOut, immediate: true, flags: 0x80, lun: pdu.bhs.subarray(8, 16), itt: RESERVED_TAG, words: { 20: ttt, 24: this.#cmdSn, 28: this.#expStatSn }, data: pdu.data }));
    }
  }

  #task(pdu: Pdu): Task {
    const task = this.#tasks.get(pdu.itt);
    if (task === undefined) {
      throw new IscsiProtocolError(`the target sent ${opcodeName(pdu.opcode)} for ITT 0x${pdu.itt.toString(16)}, which names no outstanding command`, { details: { itt: pdu.itt } });
    }
    return task;
  }

  /** Takes StatSN (when the PDU carries status) and the CmdSN window from a response. */
  #acknowledge(pdu: Pdu, carriesStatus: boolean): void {
    if (carriesStatus) {
      const statSn = pdu.u32(24);
      if (!snLessThan(statSn, this.#expStatSn)) this.#expStatSn = (statSn + 1) >>> 0;
    }
    const expCmdSn = pdu.u32(28);
    const maxCmdSn = pdu.u32(32);
    // RFC 7143 4.2.2.1: a MaxCmdSN below ExpCmdSN - 1 is invalid and ignored; stale windows are ignored too.
    if (!snLessThan(maxCmdSn, (expCmdSn - 1) >>> 0) && snLessThan(this.#maxCmdSn, maxCmdSn)) {
      this.#maxCmdSn = maxCmdSn;
      this.#pump();
    }
  }

  #complete(task: Task, status: number, sense: Buffer, pdu: Pdu): void {
    const residual = pdu.u32(44);
    const underflow = (pdu.flags & 0x02) !== 0;
    const overflow = (pdu.flags & 0x04) !== 0;
    const data = task.transfer.finish(status, underflow ? residual : 0, overflow);
    this.#tasks.delete(task.itt);
    task.forget?.();
    task.resolve({ status, data, sense: Buffer.from(sense) });
  }

  #fail(err: Error): void {
    if (this.#failure !== undefined) return;
    this.#failure = err;
    this.#waiting.length = 0;
    this.#watchdog.stop();
    for (const task of this.#tasks.values()) {
      task.forget?.();
      task.reject(err);
    }
    this.#tasks.clear();
    this.#logout?.();
    for (const listener of this.#lostListeners.splice(0)) listener(err);
  }
}
