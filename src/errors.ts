/**
 * Every error blockrig raises, in one place, each with a stable `code`.
 *
 * A code never changes meaning once released: scripts match on it (`--json` output, HTTP error bodies),
 * and the boundaries (CLI exit status, HTTP status, NBD errno) map codes through {@link ERROR_TABLE}.
 * Messages say what went wrong and what to do about it; `cause` keeps the underlying error.
 */

/** All stable error codes. */
export const ErrorCode = {
  // Arguments and configuration
  InvalidArgument: 'BLOCKRIG_E_INVALID_ARGUMENT',
  InvalidUri: 'BLOCKRIG_E_INVALID_URI',
  UnknownDriver: 'BLOCKRIG_E_UNKNOWN_DRIVER',
  Config: 'BLOCKRIG_E_CONFIG',
  MissingDependency: 'BLOCKRIG_E_MISSING_DEPENDENCY',
  Permission: 'BLOCKRIG_E_PERMISSION',
  NotFound: 'BLOCKRIG_E_NOT_FOUND',
  Conflict: 'BLOCKRIG_E_CONFLICT',
  Unauthorized: 'BLOCKRIG_E_UNAUTHORIZED',
  Cancelled: 'BLOCKRIG_E_CANCELLED',
  Timeout: 'BLOCKRIG_E_TIMEOUT',
  Internal: 'BLOCKRIG_E_INTERNAL',
  // Block devices
  DeviceNotFound: 'BLOCKRIG_E_DEVICE_NOT_FOUND',
  DeviceClosed: 'BLOCKRIG_E_DEVICE_CLOSED',
  DeviceUnavailable: 'BLOCKRIG_E_DEVICE_UNAVAILABLE',
  OutOfRange: 'BLOCKRIG_E_OUT_OF_RANGE',
  Unaligned: 'BLOCKRIG_E_UNALIGNED',
  ReadOnly: 'BLOCKRIG_E_READ_ONLY',
  Unsupported: 'BLOCKRIG_E_UNSUPPORTED',
  Io: 'BLOCKRIG_E_IO',
  ShortRead: 'BLOCKRIG_E_SHORT_READ',
  ForeignData: 'BLOCKRIG_E_FOREIGN_DATA',
  // Protocols
  NbdHandshake: 'BLOCKRIG_E_NBD_HANDSHAKE',
  NbdProtocol: 'BLOCKRIG_E_NBD_PROTOCOL',
  NbdExportNotFound: 'BLOCKRIG_E_NBD_EXPORT_NOT_FOUND',
  Disconnected: 'BLOCKRIG_E_DISCONNECTED',
  IscsiLogin: 'BLOCKRIG_E_ISCSI_LOGIN',
  IscsiProtocol: 'BLOCKRIG_E_ISCSI_PROTOCOL',
  ScsiSense: 'BLOCKRIG_E_SCSI_SENSE',
  Serial: 'BLOCKRIG_E_SERIAL',
  // Metadata region and coordination
  MetaNoRegion: 'BLOCKRIG_E_META_NO_REGION',
  MetaCorrupt: 'BLOCKRIG_E_META_CORRUPT',
  MetaVersion: 'BLOCKRIG_E_META_VERSION',
  MetaFull: 'BLOCKRIG_E_META_FULL',
  LeaseLost: 'BLOCKRIG_E_LEASE_LOST',
  TaskFailed: 'BLOCKRIG_E_TASK_FAILED',
  // Volumes
  VolumeFailed: 'BLOCKRIG_E_VOLUME_FAILED',
  // Agents and servers
  AgentUnavailable: 'BLOCKRIG_E_AGENT_UNAVAILABLE',
} as const;

/** A stable error code string. */
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Options every blockrig error accepts. */
export interface BlockrigErrorOptions {
  cause?: unknown;
  /** Structured facts about the failure, safe to print and to send as JSON (never secrets). */
  details?: Record<string, unknown>;
}

/** Base class of every error blockrig raises on purpose. */
export class BlockrigError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options: BlockrigErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
    this.name = new.target.name;
  }

  /** The JSON shape used by `--json` output and HTTP error bodies. */
  toJSON(): { code: ErrorCode; message: string; details: Record<string, unknown> } {
    return { code: this.code, message: this.message, details: this.details };
  }
}

/** Returns true when `err` is a blockrig error, optionally of one code. */
export function isBlockrigError(err: unknown, code?: ErrorCode): err is BlockrigError {
  return err instanceof BlockrigError && (code === undefined || err.code === code);
}

// ---- Arguments and configuration -------------------------------------------------------------

/** A command-line argument, API field or option has a bad value. `details.field` names it. */
export class InvalidArgumentError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.InvalidArgument, message, options);
  }
}

/** A device URI could not be parsed. */
export class InvalidUriError extends BlockrigError {
  constructor(uri: string, problem: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.InvalidUri, `invalid device URI "${uri}": ${problem}`, options);
  }
}

/** No driver handles the URI's scheme. */
export class UnknownDriverError extends BlockrigError {
  constructor(scheme: string, known: readonly string[]) {
    super(ErrorCode.UnknownDriver, `no driver for scheme "${scheme}"; known schemes: ${known.join(', ')}`, {
      details: { scheme, known },
    });
  }
}

/** A configuration file or scenario is invalid. */
export class ConfigError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.Config, message, options);
  }
}

/** An outside program or package blockrig needs is not installed. */
export class MissingDependencyError extends BlockrigError {
  constructor(what: string, debianPackage: string, options?: BlockrigErrorOptions) {
    super(
      ErrorCode.MissingDependency,
      `${what} is not installed: install the Debian package "${debianPackage}" (as root: apt-get install -y ${debianPackage}; npm test and npm start do this when run as root)`,
      { ...options, details: { what, debianPackage, ...options?.details } },
    );
  }
}

/** The operation needs privileges the process does not have. */
export class PermissionError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.Permission, message, options);
  }
}

/** A named thing (task, volume, export, agent) does not exist. */
export class NotFoundError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.NotFound, message, options);
  }
}

/** The request conflicts with current state (already exists, already running, wrong state). */
export class ConflictError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.Conflict, message, options);
  }
}

/** Missing or wrong credentials. */
export class UnauthorizedError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.Unauthorized, message, options);
  }
}

/** The operation was cancelled by its caller (AbortSignal, task cancel, Ctrl-C). */
export class CancelledError extends BlockrigError {
  constructor(message = 'operation cancelled', options?: BlockrigErrorOptions) {
    super(ErrorCode.Cancelled, message, options);
  }
}

/** The operation did not finish in time. */
export class TimeoutError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.Timeout, message, options);
  }
}

/** A bug: an invariant blockrig relies on does not hold. */
export class InternalError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.Internal, message, options);
  }
}

// ---- Block devices ---------------------------------------------------------------------------

/** The device path or export does not exist. */
export class DeviceNotFoundError extends BlockrigError {
  constructor(target: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.DeviceNotFound, `device "${target}" does not exist: check the path or URI`, options);
  }
}

/** I/O was issued after `close()` was called. */
export class DeviceClosedError extends BlockrigError {
  constructor(uri: string) {
    super(ErrorCode.DeviceClosed, `device ${uri} is closed: open it again before issuing I/O`, { details: { uri } });
  }
}

/** The device is offline (pulled, failed, server gone); it may come back. */
export class DeviceUnavailableError extends BlockrigError {
  constructor(uri: string, reason: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.DeviceUnavailable, `device ${uri} is unavailable: ${reason}`, {
      ...options,
      details: { uri, reason, ...options?.details },
    });
  }
}

/** A request reaches past the end of the device (or has a negative or non-integer offset/length). */
export class OutOfRangeError extends BlockrigError {
  constructor(uri: string, offset: number, length: number, size: number) {
    super(
      ErrorCode.OutOfRange,
      `request at offset ${offset} length ${length} is outside device ${uri} of ${size} bytes`,
      { details: { uri, offset, length, size } },
    );
  }
}

/** A request's offset or length is not a multiple of the device's logical block size. */
export class UnalignedError extends BlockrigError {
  constructor(uri: string, offset: number, length: number, blockSize: number) {
    super(
      ErrorCode.Unaligned,
      `request at offset ${offset} length ${length} on ${uri} is not aligned to its ${blockSize}-byte logical block size`,
      { details: { uri, offset, length, blockSize } },
    );
  }
}

/** A write-class request was issued to a read-only device. */
export class ReadOnlyError extends BlockrigError {
  constructor(uri: string) {
    super(ErrorCode.ReadOnly, `device ${uri} is read-only`, { details: { uri } });
  }
}

/** The device or peer does not support the requested operation. */
export class UnsupportedError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.Unsupported, message, options);
  }
}

/** The device reported an I/O error (EIO, a SCSI medium error, an NBD error reply). */
export class DeviceIoError extends BlockrigError {
  /** The errno name when known (`EIO`, `ENOSPC`, ...). */
  readonly errno: string;
  constructor(uri: string, operation: string, offset: number, length: number, errno = 'EIO', options?: BlockrigErrorOptions) {
    super(ErrorCode.Io, `${operation} of ${length} bytes at offset ${offset} on ${uri} failed: ${errno}`, {
      ...options,
      details: { uri, operation, offset, length, errno, ...options?.details },
    });
    this.errno = errno;
  }
}

/** The device returned fewer bytes than asked for (a file shrank under us, a truncated reply). */
export class ShortReadError extends BlockrigError {
  constructor(uri: string, offset: number, wanted: number, got: number) {
    super(ErrorCode.ShortRead, `read at offset ${offset} on ${uri} returned ${got} of ${wanted} bytes`, {
      details: { uri, offset, wanted, got },
    });
  }
}

/** The device carries data blockrig did not write; writing needs `--force`. */
export class ForeignDataError extends BlockrigError {
  constructor(uri: string, signature: string) {
    super(
      ErrorCode.ForeignData,
      `refusing to write to ${uri}: it carries ${signature} that blockrig did not write; pass --force to overwrite it`,
      { details: { uri, signature } },
    );
  }
}

// ---- Protocols -------------------------------------------------------------------------------

/** The NBD handshake failed or the peer spoke something that is not NBD. */
export class NbdHandshakeError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.NbdHandshake, message, options);
  }
}

/** The NBD peer broke the transmission-phase protocol. */
export class NbdProtocolError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.NbdProtocol, message, options);
  }
}

/** The NBD server has no export of that name. */
export class NbdExportNotFoundError extends BlockrigError {
  constructor(name: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.NbdExportNotFound, `the NBD server has no export named "${name}": list them with blockrig nbd list`, options);
  }
}

/** The connection to a peer was lost. */
export class DisconnectedError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.Disconnected, message, options);
  }
}

/** iSCSI login was refused or negotiation failed. */
export class IscsiLoginError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.IscsiLogin, message, options);
  }
}

/** The iSCSI target broke the protocol. */
export class IscsiProtocolError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.IscsiProtocol, message, options);
  }
}

/** A SCSI command ended with CHECK CONDITION; `details` holds the decoded sense. */
export class ScsiSenseError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.ScsiSense, message, options);
  }
}

/** A serial port could not be opened or the device on it did not answer. */
export class SerialError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.Serial, message, options);
  }
}

// ---- Metadata region and coordination --------------------------------------------------------

/** The device holds no blockrig metadata region. */
export class MetaNoRegionError extends BlockrigError {
  constructor(uri: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.MetaNoRegion, `${uri} holds no blockrig metadata region: format it with blockrig meta format`, options);
  }
}

/** A metadata record failed its magic, CRC or invariant checks; it is never trusted. */
export class MetaCorruptError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.MetaCorrupt, message, options);
  }
}

/** The region was written by a format version this build does not read. */
export class MetaVersionError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.MetaVersion, message, options);
  }
}

/** No free slot (host, task, volume) is left in the region. */
export class MetaFullError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.MetaFull, message, options);
  }
}

/** This controller could not renew its lease in time and fenced itself. */
export class LeaseLostError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.LeaseLost, message, options);
  }
}

/** A task ended in failure; `details` holds its status. */
export class TaskFailedError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.TaskFailed, message, options);
  }
}

/** A volume lost more members than its level tolerates. */
export class VolumeFailedError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.VolumeFailed, message, options);
  }
}

// ---- Agents and servers ----------------------------------------------------------------------

/** No live agent can take the request (none registered for the cluster, or its server is unreachable). */
export class AgentUnavailableError extends BlockrigError {
  constructor(message: string, options?: BlockrigErrorOptions) {
    super(ErrorCode.AgentUnavailable, message, options);
  }
}

// ---- Boundary mapping ------------------------------------------------------------------------

/** How one code surfaces at each boundary. */
export interface ErrorMapping {
  /** CLI exit status. 1 is reserved for unexpected errors, 2 for usage errors. */
  exit: number;
  /** HTTP status for API error bodies. */
  http: number;
  /** NBD error name sent to NBD clients (EIO, EINVAL, ENOSPC, EPERM, ENOTSUP, ESHUTDOWN, EOVERFLOW). */
  nbd: 'EIO' | 'EINVAL' | 'ENOSPC' | 'EPERM' | 'ENOTSUP' | 'ESHUTDOWN' | 'EOVERFLOW' | 'ENOMEM';
}

/** The one table from error code to exit status, HTTP status and NBD errno. */
export const ERROR_TABLE: Readonly<Record<ErrorCode, ErrorMapping>> = {
  BLOCKRIG_E_INVALID_ARGUMENT: { exit: 2, http: 400, nbd: 'EINVAL' },
  BLOCKRIG_E_INVALID_URI: { exit: 2, http: 400, nbd: 'EINVAL' },
  BLOCKRIG_E_UNKNOWN_DRIVER: { exit: 2, http: 400, nbd: 'EINVAL' },
  BLOCKRIG_E_CONFIG: { exit: 2, http: 400, nbd: 'EINVAL' },
  BLOCKRIG_E_MISSING_DEPENDENCY: { exit: 9, http: 500, nbd: 'EIO' },
  BLOCKRIG_E_PERMISSION: { exit: 10, http: 403, nbd: 'EPERM' },
  BLOCKRIG_E_NOT_FOUND: { exit: 3, http: 404, nbd: 'EINVAL' },
  BLOCKRIG_E_CONFLICT: { exit: 11, http: 409, nbd: 'EINVAL' },
  BLOCKRIG_E_UNAUTHORIZED: { exit: 12, http: 401, nbd: 'EPERM' },
  BLOCKRIG_E_CANCELLED: { exit: 130, http: 409, nbd: 'ESHUTDOWN' },
  BLOCKRIG_E_TIMEOUT: { exit: 8, http: 504, nbd: 'EIO' },
  BLOCKRIG_E_INTERNAL: { exit: 1, http: 500, nbd: 'EIO' },
  BLOCKRIG_E_DEVICE_NOT_FOUND: { exit: 3, http: 404, nbd: 'EINVAL' },
  BLOCKRIG_E_DEVICE_CLOSED: { exit: 6, http: 503, nbd: 'ESHUTDOWN' },
  BLOCKRIG_E_DEVICE_UNAVAILABLE: { exit: 6, http: 503, nbd: 'EIO' },
  BLOCKRIG_E_OUT_OF_RANGE: { exit: 2, http: 400, nbd: 'EINVAL' },
  BLOCKRIG_E_UNALIGNED: { exit: 2, http: 400, nbd: 'EINVAL' },
  BLOCKRIG_E_READ_ONLY: { exit: 10, http: 403, nbd: 'EPERM' },
  BLOCKRIG_E_UNSUPPORTED: { exit: 2, http: 501, nbd: 'ENOTSUP' },
  BLOCKRIG_E_IO: { exit: 5, http: 502, nbd: 'EIO' },
  BLOCKRIG_E_SHORT_READ: { exit: 5, http: 502, nbd: 'EIO' },
  BLOCKRIG_E_FOREIGN_DATA: { exit: 4, http: 409, nbd: 'EPERM' },
  BLOCKRIG_E_NBD_HANDSHAKE: { exit: 5, http: 502, nbd: 'EIO' },
  BLOCKRIG_E_NBD_PROTOCOL: { exit: 5, http: 502, nbd: 'EIO' },
  BLOCKRIG_E_NBD_EXPORT_NOT_FOUND: { exit: 3, http: 404, nbd: 'EINVAL' },
  BLOCKRIG_E_DISCONNECTED: { exit: 6, http: 503, nbd: 'EIO' },
  BLOCKRIG_E_ISCSI_LOGIN: { exit: 5, http: 502, nbd: 'EIO' },
  BLOCKRIG_E_ISCSI_PROTOCOL: { exit: 5, http: 502, nbd: 'EIO' },
  BLOCKRIG_E_SCSI_SENSE: { exit: 5, http: 502, nbd: 'EIO' },
  BLOCKRIG_E_SERIAL: { exit: 5, http: 502, nbd: 'EIO' },
  BLOCKRIG_E_META_NO_REGION: { exit: 7, http: 409, nbd: 'EIO' },
  BLOCKRIG_E_META_CORRUPT: { exit: 7, http: 500, nbd: 'EIO' },
  BLOCKRIG_E_META_VERSION: { exit: 7, http: 500, nbd: 'EIO' },
  BLOCKRIG_E_META_FULL: { exit: 11, http: 507, nbd: 'ENOSPC' },
  BLOCKRIG_E_LEASE_LOST: { exit: 13, http: 503, nbd: 'EIO' },
  BLOCKRIG_E_TASK_FAILED: { exit: 14, http: 500, nbd: 'EIO' },
  BLOCKRIG_E_VOLUME_FAILED: { exit: 15, http: 503, nbd: 'EIO' },
  BLOCKRIG_E_AGENT_UNAVAILABLE: { exit: 6, http: 503, nbd: 'EIO' },
};

/** Maps any thrown value to its boundary mapping; unknown errors are internal. */
export function mappingFor(err: unknown): ErrorMapping {
  return err instanceof BlockrigError ? ERROR_TABLE[err.code] : ERROR_TABLE.BLOCKRIG_E_INTERNAL;
}

/** Converts a Node system error (ENOENT, EACCES, EIO...) on a device path into a blockrig error. */
export function fromSystemError(err: unknown, uri: string, operation: string, offset = 0, length = 0): BlockrigError {
  if (err instanceof BlockrigError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
    case 'ENXIO':
    case 'ENODEV':
      return new DeviceNotFoundError(uri, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new PermissionError(`${operation} on ${uri} was denied (${code}): run as root or fix the permissions`, { cause: err });
    case 'EROFS':
      return new ReadOnlyError(uri);
    case undefined:
      return new InternalError(`${operation} on ${uri} failed: ${String(err)}`, { cause: err });
    default:
      return new DeviceIoError(uri, operation, offset, length, code, { cause: err });
  }
}
