/** What a SCSI command asks of a session (`IscsiSession.command`) and what it gets back. */

/** One SCSI command to run. */
export interface ScsiRequest {
  lun: number;
  cdb: Buffer;
  /** Bytes expected from the target (a read); 0 or absent for none. */
  readLength?: number;
  /** Bytes sent to the target (a write). */
  writeData?: Uint8Array;
  /**
   * Stops waiting: the command rejects with `CancelledError` at once. One not yet sent is never sent; one
   * already sent keeps its ITT until the target answers (the answer is dropped), since at level 0 there is
   * no ABORT TASK; a write may have landed.
   */
  signal?: AbortSignal;
}

/** How a command ended at the SCSI level. */
export interface ScsiResult {
  /** SCSI status byte (0 GOOD, 2 CHECK CONDITION, 8 BUSY, 0x18 RESERVATION CONFLICT, 0x28 TASK SET FULL). */
  status: number;
  /** The bytes received; shorter than asked when the target reported an underflow. */
  data: Buffer;
  /** Sense data of a CHECK CONDITION, without the 2-byte length prefix. */
  sense: Buffer;
}
