/**
 * How the iSCSI driver reports failures in the BlockDevice contract's terms (`drivers/types.ts`): SCSI sense
 * becomes read-only, unavailable or I/O errors with the `ScsiSenseError` as `cause`; a session that ended
 * (disconnect, protocol error, timeout) makes the device unavailable, saying why; a cancelled request stays
 * cancelled.
 */
import { DeviceIoError, DeviceUnavailableError, ErrorCode, isBlockrigError, ReadOnlyError, ScsiSenseError } from '../errors.js';
import { SenseKey } from './scsi/sense.js';

/** The contract's error for a failed SCSI command of `operation` over `offset`/`length`. */
export function toDeviceError(err: unknown, uri: string, operation: string, offset: number, length: number): unknown {
  if (err instanceof ScsiSenseError) {
    const key = err.details.senseKey;
    if (key === SenseKey.DataProtect) return new ReadOnlyError(uri);
    if (key === SenseKey.NotReady) return new DeviceUnavailableError(uri, err.message, { cause: err });
    return new DeviceIoError(uri, operation, offset, length, key === SenseKey.IllegalRequest ? 'EINVAL' : 'EIO', { cause: err, details: { scsi: err.message } });
  }
  if (isBlockrigError(err, ErrorCode.Cancelled)) return err;
  if (isBlockrigError(err)) return new DeviceUnavailableError(uri, err.message, { cause: err });
  return err;
}

/** True for an error `toDeviceError` made of ILLEGAL REQUEST "invalid command operation code" or "invalid field in CDB". */
export function isUnsupportedCommand(err: unknown): boolean {
  const cause = err instanceof DeviceIoError ? err.cause : undefined;
  if (!(cause instanceof ScsiSenseError)) return false;
  const { senseKey, asc } = cause.details;
  return senseKey === SenseKey.IllegalRequest && (asc === 0x20 || asc === 0x24);
}
