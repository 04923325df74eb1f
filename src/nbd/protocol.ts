/**
 * NBD wire constants, shared by the client driver and the server. Values and names follow the NBD protocol
 * specification (`doc/proto.md` of NetworkBlockDevice/nbd); sections are cited where a rule matters.
 * Every integer on the wire is big-endian. `docs/nbd.md` lists which of these blockrig implements.
 */

/** "NBDMAGIC": the first 8 bytes a newstyle server sends. */
export const NBD_MAGIC = 0x4e42444d41474943n;
/** "IHAVEOPT": the second 8 bytes a newstyle server sends, and the prefix of every client option. */
export const IHAVEOPT = 0x49484156454f5054n;
/** Prefix of every option reply ("Option haggling" section). */
export const OPTION_REPLY_MAGIC = 0x3e889045565a9n;
/** Prefix of every transmission request. */
export const REQUEST_MAGIC = 0x25609513;
/** Prefix of a simple reply. */
export const SIMPLE_REPLY_MAGIC = 0x67446698;
/** Prefix of a structured reply chunk. */
export const STRUCTURED_REPLY_MAGIC = 0x668e33ef;

/** Handshake flags the server sends (16 bits). */
export const HandshakeFlag = { FixedNewstyle: 1 << 0, NoZeroes: 1 << 1 } as const;
/** Client flags the client sends back (32 bits); any other bit makes the server close the connection. */
export const ClientFlag = { FixedNewstyle: 1 << 0, NoZeroes: 1 << 1 } as const;

/** Transmission flags of an export (16 bits). */
export const TransmissionFlag = {
  HasFlags: 1 << 0,
  ReadOnly: 1 << 1,
  SendFlush: 1 << 2,
  SendFua: 1 << 3,
  Rotational: 1 << 4,
  SendTrim: 1 << 5,
  SendWriteZeroes: 1 << 6,
  SendDf: 1 << 7,
  CanMultiConn: 1 << 8,
  SendResize: 1 << 9,
  SendCache: 1 << 10,
  SendFastZero: 1 << 11,
} as const;

/** Option numbers. */
export const Option = {
  ExportName: 1,
  Abort: 2,
  List: 3,
  PeekExport: 4,
  StartTls: 5,
  Info: 6,
  Go: 7,
  StructuredReply: 8,
  ListMetaContext: 9,
  SetMetaContext: 10,
  ExtendedHeaders: 11,
} as const;

/** Bit set in every option reply type that is an error. */
export const REP_FLAG_ERROR = 0x80000000;

/** Option reply types. */
export const OptionReply = {
  Ack: 1,
  Server: 2,
  Info: 3,
  MetaContext: 4,
  ErrUnsup: REP_FLAG_ERROR + 1,
  ErrPolicy: REP_FLAG_ERROR + 2,
  ErrInvalid: REP_FLAG_ERROR + 3,
  ErrPlatform: REP_FLAG_ERROR + 4,
  ErrTlsReqd: REP_FLAG_ERROR + 5,
  ErrUnknown: REP_FLAG_ERROR + 6,
  ErrShutdown: REP_FLAG_ERROR + 7,
  ErrBlockSizeReqd: REP_FLAG_ERROR + 8,
  ErrTooBig: REP_FLAG_ERROR + 9,
} as const;

/** Information types carried in NBD_REP_INFO and requested in NBD_OPT_INFO/GO. */
export const InfoType = { Export: 0, Name: 1, Description: 2, BlockSize: 3 } as const;

/** Transmission commands. */
export const Command = {
  Read: 0,
  Write: 1,
  Disconnect: 2,
  Flush: 3,
  Trim: 4,
  Cache: 5,
  WriteZeroes: 6,
  BlockStatus: 7,
  Resize: 8,
} as const;

/** Command flags (16 bits). */
export const CommandFlag = { Fua: 1 << 0, NoHole: 1 << 1, Df: 1 << 2, ReqOne: 1 << 3, FastZero: 1 << 4 } as const;

/** Structured reply chunk flags. */
export const ReplyFlag = { Done: 1 << 0 } as const;

/** Structured reply chunk types. */
export const ReplyType = {
  None: 0,
  OffsetData: 1,
  OffsetHole: 2,
  BlockStatus: 5,
  Error: (1 << 15) + 1,
  ErrorOffset: (1 << 15) + 2,
} as const;

/** The error numbers the protocol allows on the wire ("Error values" section). */
export const NbdErrno = {
  EPERM: 1,
  EIO: 5,
  ENOMEM: 12,
  EINVAL: 22,
  ENOSPC: 28,
  EOVERFLOW: 75,
  ENOTSUP: 95,
  ESHUTDOWN: 108,
} as const;

/** An errno name the protocol allows. */
export type NbdErrnoName = keyof typeof NbdErrno;

/** The name of a wire error number; unknown numbers are treated as EINVAL, as the spec asks. */
export function errnoName(value: number): NbdErrnoName {
  for (const [name, number] of Object.entries(NbdErrno)) if (number === value) return name as NbdErrnoName;
  return 'EINVAL';
}

/** Flags of one extent in the `base:allocation` context. */
export const AllocationFlag = { Hole: 1 << 0, Zero: 1 << 1 } as const;

/** The one metadata context blockrig knows. */
export const BASE_ALLOCATION = 'base:allocation';

/** Size of the fixed part of a request, in bytes. */
export const REQUEST_HEADER_SIZE = 28;
/** Size of a simple reply header. */
export const SIMPLE_REPLY_HEADER_SIZE = 16;
/** Size of a structured reply chunk header. */
export const STRUCTURED_REPLY_HEADER_SIZE = 20;
/** Size of an option reply header. */
export const OPTION_REPLY_HEADER_SIZE = 20;

/** Largest export name or string the spec requires to be accepted (4096 bytes). */
export const MAX_STRING = 4096;
/** Payload clients may send without knowing the server's limit ("Block size constraints": 32 MiB). */
export const DEFAULT_MAX_PAYLOAD = 32 * 1024 * 1024;

/** A name for an option number, for messages. */
export function optionName(option: number): string {
  for (const [name, value] of Object.entries(Option)) if (value === option) return `NBD_OPT_${name}`;
  return `option ${option}`;
}

/** A name for a command number, for messages. */
export function commandName(command: number): string {
  for (const [name, value] of Object.entries(Command)) if (value === command) return `NBD_CMD_${name}`;
  return `command ${command}`;
}
